//! The ledger's records: one run per task, one step per model call or pipeline stage.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chat::Usage;
use crate::price::Cost;

/// How a task is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// The cheap model alone, with the full context (a baseline).
    Cheap,
    /// The smart model alone, with the full context (the other baseline).
    Smart,
    /// The smart model sees a brief and answers with an insight; the cheap model does the work.
    Consult,
    /// The cheap model alone, checked by a verifier; on a failure, consult and let the cheap
    /// model try again; on a second failure, the smart model does the work from the brief.
    Cascade,
    /// The smart model does the work itself from the brief alone, with no executor: the
    /// baseline that tells what the distiller saves from what the consultation adds.
    Brief,
    /// Chosen per task by the policy (`policy.rs`) before any model is called; the run is
    /// recorded under the strategy it chose, with a `decide` step that says why.
    Auto,
    /// A model by name through the gateway, no pipeline: recorded so that its spend is in
    /// the ledger. Never chosen: not in [`Strategy::ALL`], and no strategy parses to it.
    Direct,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::Cheap,
        Strategy::Smart,
        Strategy::Consult,
        Strategy::Cascade,
        Strategy::Brief,
        Strategy::Auto,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Cheap => "cheap",
            Strategy::Smart => "smart",
            Strategy::Consult => "consult",
            Strategy::Cascade => "cascade",
            Strategy::Brief => "brief",
            Strategy::Auto => "auto",
            Strategy::Direct => "direct",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Strategy, String> {
        Strategy::ALL.into_iter().find(|strategy| strategy.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown strategy `{s}`; use one of: {}", known.join(", "))
        })
    }
}

/// What a step of a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Distill,
    Recall,
    Decide,
    Consult,
    Execute,
    Verify,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Distill => "distill",
            StepKind::Recall => "recall",
            StepKind::Decide => "decide",
            StepKind::Consult => "consult",
            StepKind::Execute => "execute",
            StepKind::Verify => "verify",
        }
    }
}

impl FromStr for StepKind {
    type Err = String;

    fn from_str(s: &str) -> Result<StepKind, String> {
        use StepKind::*;
        [Distill, Recall, Decide, Consult, Execute, Verify]
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown step kind `{s}`"))
    }
}

/// One stage of a run, with what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    /// The model called, or `None` for stages that call none (distill).
    pub model: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Cost,
    pub latency_ms: f64,
    /// SHA-256 of the exact prompt sent, so that runs can be compared without storing prompts.
    pub prompt_digest: Option<String>,
    /// A short human note (what was left out of the context, why a retry happened, …).
    pub note: Option<String>,
    /// Tokens of the user's context the prompt carried (the brief's map and excerpts, or the
    /// executor's packed context); 0 for steps that call no model.
    #[serde(default)]
    pub context_tokens: u64,
    /// Whether the model runs outside this machine (a remote provider).
    #[serde(default)]
    pub external: bool,
    /// Secrets replaced by placeholders before the prompt was sent.
    #[serde(default)]
    pub redactions: u64,
}

impl Step {
    /// A stage that calls no model (distill, verify, a recall without a check): free, with
    /// its latency, the digest of what it worked on and a note.
    pub fn stage(kind: StepKind, latency_ms: f64, digest: String, note: String) -> Step {
        Step {
            kind,
            model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: Cost::default(),
            latency_ms,
            prompt_digest: Some(digest),
            note: Some(note),
            context_tokens: 0,
            external: false,
            redactions: 0,
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            ..Usage::default()
        }
    }
}

/// What the smart model alone would have cost on this task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counterfactual {
    pub model: String,
    pub cost: Cost,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: f64,
    /// Whether `latency_ms` was measured (the smart model really ran) or estimated.
    pub latency_measured: bool,
}

/// Whether a run finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
}

/// The ledger's record of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// UUIDv7.
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub strategy: Strategy,
    /// Why this strategy was used.
    pub reason: String,
    /// SHA-256 of the problem and context, to find repeated tasks.
    pub task_digest: String,
    pub problem: String,
    pub status: RunStatus,
    pub result: String,
    pub error: Option<String>,
    pub insight_id: Option<String>,
    pub cost: Cost,
    pub counterfactual: Counterfactual,
    /// Fraction of the counterfactual cost saved (negative when the run cost more).
    pub savings: f64,
    pub latency_ms: f64,
    pub steps: Vec<Step>,
    /// The verifier's verdict on the result, when the run had a verifier.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Tokens of the whole context of the task (counted with the smart model's tokenizer), the
    /// measure of how much of it each step exposed.
    #[serde(default)]
    pub context_tokens: u64,
    /// For a shadow run (the smart model alone, run beside a live task to measure it): the
    /// live run it measured. Its `verified` then says whether the live result held up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_of: Option<String>,
    /// Edit mode: the change the run made, as a unified diff with `a/` and `b/` prefixes and
    /// paths relative to the context's root (`git apply` accepts it there); `None` when the run
    /// changed nothing or was not in edit mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Edit mode: the files the patch changes, relative to the context's root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_changed: Vec<String>,
    /// Whose spend the run is: the gateway key, the request's user and tags.
    #[serde(default, skip_serializing_if = "Attribution::is_empty")]
    pub attribution: Attribution,
}

/// Who a run's spend belongs to: the name of the gateway key that made it, the `user` the
/// request named, and the tags of its `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Attribution {
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.user.is_none() && self.tags.is_empty()
    }
}

impl RunRecord {
    /// A model called by name through the gateway, with no pipeline: one execute step, so that
    /// its spend is in the ledger under whoever made it. Its counterfactual is itself (nothing
    /// was saved or lost against another model).
    pub fn direct(
        problem: &str,
        model: &str,
        usage: &Usage,
        cost: Cost,
        latency_ms: f64,
        external: bool,
        attribution: Attribution,
    ) -> RunRecord {
        let digest = crate::hex(&<sha2::Sha256 as sha2::Digest>::digest(problem.as_bytes()));
        RunRecord {
            id: crate::ids::new_id(),
            created_at: crate::ids::now_rfc3339(),
            strategy: Strategy::Direct,
            reason: "a model by name".into(),
            task_digest: digest,
            problem: problem.to_owned(),
            status: RunStatus::Succeeded,
            result: String::new(),
            error: None,
            insight_id: None,
            cost,
            counterfactual: Counterfactual {
                model: model.to_owned(),
                cost,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                latency_ms,
                latency_measured: true,
            },
            savings: 0.0,
            latency_ms,
            steps: vec![Step {
                kind: StepKind::Execute,
                model: Some(model.to_owned()),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cost,
                latency_ms,
                prompt_digest: None,
                note: None,
                context_tokens: 0,
                external,
                redactions: 0,
            }],
            verified: None,
            context_tokens: 0,
            shadow_of: None,
            patch: None,
            files_changed: Vec::new(),
            attribution,
        }
    }

    /// What the run cost beside what the smart model alone would have, as aimos's tools and
    /// REST API report it: dollars, tokens of every step, and the run's own time.
    pub fn spend_json(&self) -> serde_json::Value {
        let tokens = |pick: fn(&Step) -> u64| self.steps.iter().map(pick).sum::<u64>();
        serde_json::json!({
            "usd": self.cost.usd,
            "prompt_tokens": tokens(|s| s.prompt_tokens),
            "completion_tokens": tokens(|s| s.completion_tokens),
            "smart_alone_usd": self.counterfactual.cost.usd,
            "latency_ms": (self.latency_ms * 1000.0).round() / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_round_trip_through_their_names() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.as_str().parse::<Strategy>(), Ok(strategy));
        }
        let err = "fast".parse::<Strategy>().expect_err("unknown");
        assert!(err.contains("cheap, smart, consult"), "{err}");
    }
}
