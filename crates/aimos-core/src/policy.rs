//! `auto`: which strategy a task gets, decided before any model is called, from features of the
//! task and what past outcomes say about each strategy on similar tasks.
//!
//! The model of P(success | strategy, task) is a Beta–Bernoulli estimate per strategy, shrunk
//! towards a prior (what consulting usually buys), and per kind of task (context size, whether
//! the problem names exact anchors such as stack frames or quoted errors), shrunk towards the
//! strategy's overall estimate. It is updated online: every verified run, every cascade stage
//! and every piece of feedback is an observation. A stored insight that matches the problem
//! lifts `consult` (its success estimate) and makes it cheaper (no smart-model call).

use std::collections::HashMap;

use serde::Serialize;

use crate::run::{RunRecord, RunStatus, StepKind, Strategy};
use crate::store::OutcomePoint;

/// Success expected of each strategy before any outcome is seen, and its weight in outcomes.
const PRIORS: [(Strategy, f64); 5] = [
    (Strategy::Cheap, 0.5),
    (Strategy::Brief, 0.6),
    (Strategy::Consult, 0.7),
    (Strategy::Cascade, 0.8),
    (Strategy::Smart, 0.85),
];
const PRIOR_WEIGHT: f64 = 2.0;
/// How many outcomes of the strategy overall one kind of task's estimate starts from.
const KIND_WEIGHT: f64 = 4.0;

/// The quality target when the caller gives none.
pub const DEFAULT_TARGET: f64 = 0.9;

/// What kind of task this is, as far as learning goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Kind {
    /// 0: under 4k tokens of context, 1: under 32k, 2: more.
    pub size: u8,
    /// The problem names exact anchors: stack frames, `path:line`, quoted messages.
    pub anchored: bool,
}

impl Kind {
    pub fn of(problem: &str, context_tokens: u64) -> Kind {
        let size = match context_tokens {
            0..4_000 => 0,
            4_000..32_000 => 1,
            _ => 2,
        };
        let anchored = !aimos_context::anchor::frames(problem).is_empty()
            || !aimos_context::anchor::quotes(problem).is_empty();
        Kind { size, anchored }
    }

    fn describe(self) -> String {
        let size = ["small", "medium", "large"][usize::from(self.size.min(2))];
        format!("{size} context, {}", if self.anchored { "anchored" } else { "no anchors" })
    }
}

/// One labelled outcome of a strategy on a kind of task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub strategy: Strategy,
    pub kind: Kind,
    pub passed: bool,
}

/// The observations in a stretch of the ledger: each run whose result a verifier judged, that
/// got feedback, or that a shadow check judged, counts for its strategy; a cascade's stages
/// count for `cheap` (the first attempt), `consult` (the second) and `smart` (the third). Runs
/// that failed with an error say nothing about quality and are left out.
pub fn observations(runs: &[RunRecord], feedback: &[OutcomePoint]) -> Vec<Observation> {
    let mut by_run: HashMap<&str, bool> = HashMap::new();
    // Newest first: the first seen for a run is the latest word on it.
    for point in feedback {
        if let Some(run) = &point.run_id {
            by_run.entry(run.as_str()).or_insert(point.passed);
        }
    }
    let live: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = Vec::new();
    for run in runs.iter().filter(|r| r.status == RunStatus::Succeeded) {
        if let Some(of) = &run.shadow_of {
            // A shadow check judges the live run; a verifier's word on it comes first.
            if let (Some(live), Some(held)) = (live.get(of.as_str()), run.verified)
                && live.verified.is_none()
            {
                let kind = Kind::of(&live.problem, live.context_tokens);
                out.push(Observation { strategy: live.strategy, kind, passed: held });
            }
            continue;
        }
        // Advice for a caller that executed itself says nothing about how the cheap model does.
        if run.reason == crate::pipeline::ADVICE_REASON {
            continue;
        }
        let kind = Kind::of(&run.problem, run.context_tokens);
        if run.strategy == Strategy::Cascade {
            let mut stage = None;
            for step in &run.steps {
                let note = step.note.as_deref().unwrap_or_default();
                match step.kind {
                    StepKind::Execute => {
                        stage = [
                            ("cascade 1/3", Strategy::Cheap),
                            ("cascade 2/3", Strategy::Consult),
                            ("cascade 3/3", Strategy::Smart),
                        ]
                        .into_iter()
                        .find(|(prefix, _)| note.starts_with(prefix))
                        .map(|(_, s)| s);
                    }
                    StepKind::Verify => {
                        if let Some(strategy) = stage.take() {
                            let passed = note.starts_with("passed");
                            out.push(Observation { strategy, kind, passed });
                        }
                    }
                    _ => {}
                }
            }
            if let Some(passed) = run.verified {
                out.push(Observation { strategy: Strategy::Cascade, kind, passed });
            }
            continue;
        }
        if let Some(passed) = run.verified.or_else(|| by_run.get(run.id.as_str()).copied()) {
            out.push(Observation { strategy: run.strategy, kind, passed });
        }
    }
    out
}

/// A stored insight that matches the task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecallMatch {
    pub matched: f64,
    pub success: f64,
}

/// What each strategy would cost on this task, in dollars, estimated before running it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Costs {
    /// The cheap model doing the task with the full context.
    pub cheap_execute: f64,
    /// The smart model doing the task with the full context.
    pub smart_execute: f64,
    /// The smart model answering the brief with an insight.
    pub consult: f64,
    /// A model confirming that a stored insight applies (0 without a check).
    pub reuse_check: f64,
    /// The smart model doing the task from the brief (a cascade's last stage).
    pub smart_from_brief: f64,
}

/// The caller's goal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Goal {
    /// Least predicted success wanted (the cheapest strategy reaching it wins).
    pub target_quality: Option<f64>,
    /// Most dollars a task may cost (the best strategy within it wins).
    pub max_cost: Option<f64>,
}

/// One strategy's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub strategy: Strategy,
    pub success: f64,
    /// Outcomes of this strategy on this kind of task behind the estimate.
    pub observed: u64,
    pub cost_usd: f64,
}

/// What `auto` chose, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub strategy: Strategy,
    pub reason: String,
    /// Every strategy considered, cheapest first.
    pub estimates: Vec<Estimate>,
}

impl Decision {
    /// The whole account, for the ledger: the reason, then every estimate.
    pub fn note(&self) -> String {
        let each: Vec<String> = self
            .estimates
            .iter()
            .map(|e| {
                format!(
                    "{} {:.2} ({} outcome{}, ~${:.6})",
                    e.strategy,
                    e.success,
                    e.observed,
                    if e.observed == 1 { "" } else { "s" },
                    e.cost_usd
                )
            })
            .collect();
        format!("{}; predicted: {}", self.reason, each.join(", "))
    }
}

fn prior(strategy: Strategy) -> f64 {
    PRIORS.iter().find(|(s, _)| *s == strategy).map_or(0.5, |(_, p)| *p)
}

/// P(success) of `strategy` on `kind`, and the outcomes of this kind behind it.
fn estimate(strategy: Strategy, kind: Kind, seen: &[Observation]) -> (f64, u64) {
    let (mut n, mut s, mut n_kind, mut s_kind) = (0.0, 0.0, 0u64, 0.0);
    for o in seen.iter().filter(|o| o.strategy == strategy) {
        n += 1.0;
        s += f64::from(u8::from(o.passed));
        if o.kind == kind {
            n_kind += 1;
            s_kind += f64::from(u8::from(o.passed));
        }
    }
    let overall = (s + PRIOR_WEIGHT * prior(strategy)) / (n + PRIOR_WEIGHT);
    ((s_kind + KIND_WEIGHT * overall) / (n_kind as f64 + KIND_WEIGHT), n_kind)
}

/// Picks a strategy. `cascade` is considered only with a verifier (it needs one to escalate).
pub fn decide(
    kind: Kind,
    recall: Option<RecallMatch>,
    seen: &[Observation],
    costs: &Costs,
    goal: &Goal,
    has_verifier: bool,
) -> Decision {
    let (cheap, n_cheap) = estimate(Strategy::Cheap, kind, seen);
    let (mut consult, n_consult) = estimate(Strategy::Consult, kind, seen);
    let (smart, n_smart) = estimate(Strategy::Smart, kind, seen);
    let (brief, n_brief) = estimate(Strategy::Brief, kind, seen);
    let mut consult_cost = costs.consult + costs.cheap_execute;
    if let Some(recall) = recall {
        // A reusable insight replaces the consultation; its own record speaks for it.
        consult = consult.max(recall.success);
        consult_cost = costs.reuse_check + costs.cheap_execute;
    }
    let mut estimates = vec![
        Estimate {
            strategy: Strategy::Cheap,
            success: cheap,
            observed: n_cheap,
            cost_usd: costs.cheap_execute,
        },
        Estimate {
            strategy: Strategy::Consult,
            success: consult,
            observed: n_consult,
            cost_usd: consult_cost,
        },
        Estimate {
            strategy: Strategy::Smart,
            success: smart,
            observed: n_smart,
            cost_usd: costs.smart_execute,
        },
        Estimate {
            strategy: Strategy::Brief,
            success: brief,
            observed: n_brief,
            cost_usd: costs.smart_from_brief,
        },
    ];
    if has_verifier {
        // Without outcomes of its own, a cascade succeeds unless all three stages fail.
        let chained = 1.0 - (1.0 - cheap) * (1.0 - consult) * (1.0 - smart);
        let (learned, n) = estimate(Strategy::Cascade, kind, seen);
        let success = if n == 0 { chained } else { learned };
        let cost = costs.cheap_execute
            + (1.0 - cheap) * (costs.consult + costs.cheap_execute)
            + (1.0 - cheap) * (1.0 - consult) * costs.smart_from_brief;
        estimates.push(Estimate {
            strategy: Strategy::Cascade,
            success,
            observed: n,
            cost_usd: cost,
        });
    }
    estimates.sort_by(|a, b| a.cost_usd.total_cmp(&b.cost_usd));

    let target = goal.target_quality.unwrap_or(DEFAULT_TARGET);
    let affordable: Vec<&Estimate> =
        estimates.iter().filter(|e| goal.max_cost.is_none_or(|max| e.cost_usd <= max)).collect();
    let best = |among: &[&Estimate]| -> Option<Estimate> {
        among.iter().copied().copied().reduce(|a, b| if b.success > a.success { b } else { a })
    };
    let recall_note = recall.map_or(String::new(), |r| {
        format!("; a stored insight matches ({:.2}, success {:.2})", r.matched, r.success)
    });
    let (chosen, why) = if let Some(e) = affordable.iter().find(|e| e.success >= target) {
        let within = goal.max_cost.map_or(String::new(), |m| format!(" within ${m}"));
        (
            **e,
            format!(
                "predicted success {:.2} reaches the target {target:.2}, the cheapest that does{within} (~${:.6})",
                e.success, e.cost_usd
            ),
        )
    } else if let Some(e) = best(&affordable) {
        let limit = match goal.max_cost {
            Some(max) if goal.target_quality.is_none() => format!("the best within ${max}"),
            Some(max) => format!("none reaches the target {target:.2} within ${max}: the best"),
            None => format!("none reaches the target {target:.2}: the best"),
        };
        (e, format!("{limit}, predicted success {:.2} (~${:.6})", e.success, e.cost_usd))
    } else {
        let e = estimates[0];
        (
            e,
            format!(
                "none fits within ${}: the cheapest, ~${:.6}",
                goal.max_cost.unwrap_or_default(),
                e.cost_usd
            ),
        )
    };
    Decision {
        strategy: chosen.strategy,
        reason: format!(
            "auto chose {} for a task with {}: {why}{recall_note}",
            chosen.strategy,
            kind.describe()
        ),
        estimates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Kind = Kind { size: 0, anchored: false };

    fn costs() -> Costs {
        Costs {
            cheap_execute: 0.001,
            smart_execute: 0.010,
            consult: 0.002,
            reuse_check: 0.0002,
            smart_from_brief: 0.003,
        }
    }

    fn seen(strategy: Strategy, passed: usize, failed: usize) -> Vec<Observation> {
        let mut out = Vec::new();
        out.extend((0..passed).map(|_| Observation { strategy, kind: SMALL, passed: true }));
        out.extend((0..failed).map(|_| Observation { strategy, kind: SMALL, passed: false }));
        out
    }

    #[test]
    fn with_no_history_the_priors_pick_the_smart_model_for_a_high_target() {
        let goal = Goal { target_quality: Some(0.8), max_cost: None };
        let d = decide(SMALL, None, &[], &costs(), &goal, false);
        assert_eq!(d.strategy, Strategy::Smart, "{}", d.note());
        assert!(d.reason.contains("reaches the target 0.80"), "{}", d.reason);
        let goal = Goal { target_quality: Some(0.6), max_cost: None };
        assert_eq!(decide(SMALL, None, &[], &costs(), &goal, false).strategy, Strategy::Consult);
    }

    #[test]
    fn choices_shift_to_cheaper_strategies_as_they_prove_themselves() {
        let goal = Goal { target_quality: Some(0.85), max_cost: None };
        let mut history = seen(Strategy::Consult, 8, 0);
        assert_eq!(
            decide(SMALL, None, &history, &costs(), &goal, false).strategy,
            Strategy::Consult
        );
        history.extend(seen(Strategy::Cheap, 12, 0));
        let d = decide(SMALL, None, &history, &costs(), &goal, false);
        assert_eq!(d.strategy, Strategy::Cheap, "{}", d.note());
        // …and back when the cheap model starts failing on this kind of task.
        history.extend(seen(Strategy::Cheap, 0, 12));
        assert_eq!(
            decide(SMALL, None, &history, &costs(), &goal, false).strategy,
            Strategy::Consult
        );
    }

    #[test]
    fn outcomes_on_another_kind_of_task_count_for_less() {
        let large = Kind { size: 2, anchored: true };
        let goal = Goal { target_quality: Some(0.8), max_cost: None };
        let history = seen(Strategy::Cheap, 30, 0);
        assert_eq!(decide(SMALL, None, &history, &costs(), &goal, false).strategy, Strategy::Cheap);
        let (on_large, n) = estimate(Strategy::Cheap, large, &history);
        assert_eq!(n, 0);
        assert!(on_large > 0.9 && on_large < estimate(Strategy::Cheap, SMALL, &history).0);
    }

    #[test]
    fn a_matching_insight_makes_consulting_cheap_and_likely() {
        let goal = Goal { target_quality: Some(0.9), max_cost: None };
        let recall = RecallMatch { matched: 1.0, success: 0.95 };
        let d = decide(SMALL, Some(recall), &[], &costs(), &goal, false);
        assert_eq!(d.strategy, Strategy::Consult, "{}", d.note());
        let consult = d.estimates.iter().find(|e| e.strategy == Strategy::Consult).expect("there");
        assert!((consult.cost_usd - 0.0012).abs() < 1e-9);
        assert!(d.reason.contains("a stored insight matches"), "{}", d.reason);
    }

    #[test]
    fn a_cost_cap_takes_the_best_strategy_that_fits() {
        let goal = Goal { target_quality: None, max_cost: Some(0.005) };
        let d = decide(SMALL, None, &[], &costs(), &goal, true);
        // smart ($0.01) is out; of the rest, the cascade's chained success is highest.
        assert_eq!(d.strategy, Strategy::Cascade, "{}", d.note());
        let goal = Goal { target_quality: None, max_cost: Some(0.0001) };
        let d = decide(SMALL, None, &[], &costs(), &goal, true);
        assert_eq!(d.strategy, Strategy::Cheap);
        assert!(d.reason.contains("none fits within $0.0001"), "{}", d.reason);
    }

    #[test]
    fn cascades_teach_each_of_their_stages() {
        use crate::run::{Counterfactual, Step};
        let stage =
            |kind: StepKind, note: &str| Step::stage(kind, 0.0, String::new(), note.to_owned());
        let run = RunRecord {
            id: "r".into(),
            created_at: String::new(),
            strategy: Strategy::Cascade,
            reason: String::new(),
            task_digest: String::new(),
            problem: "p".into(),
            status: RunStatus::Succeeded,
            result: String::new(),
            error: None,
            insight_id: None,
            cost: Default::default(),
            counterfactual: Counterfactual {
                model: String::new(),
                cost: Default::default(),
                prompt_tokens: 0,
                completion_tokens: 0,
                latency_ms: 0.0,
                latency_measured: false,
            },
            savings: 0.0,
            latency_ms: 0.0,
            steps: vec![
                stage(StepKind::Execute, "cascade 1/3: the cheap model alone"),
                stage(StepKind::Verify, "failed command: false"),
                stage(StepKind::Distill, "brief"),
                stage(StepKind::Execute, "cascade 2/3: the cheap model with the insight"),
                stage(StepKind::Verify, "passed command: true"),
            ],
            verified: Some(true),
            context_tokens: 10,
            shadow_of: None,
            patch: None,
            files_changed: Vec::new(),
            attribution: crate::run::Attribution::default(),
        };
        let mut plain = run.clone();
        plain.strategy = Strategy::Cheap;
        plain.id = "p".into();
        plain.steps.clear();
        plain.verified = None;
        let feedback = OutcomePoint {
            insight_id: "i".into(),
            run_id: Some("p".into()),
            smart_model: "m".into(),
            confidence: 0.8,
            passed: false,
            source: "api".into(),
            created_at: String::new(),
        };
        let got: Vec<(Strategy, bool)> = observations(&[run, plain], &[feedback])
            .iter()
            .map(|o| (o.strategy, o.passed))
            .collect();
        assert_eq!(
            got,
            [
                (Strategy::Cheap, false),
                (Strategy::Consult, true),
                (Strategy::Cascade, true),
                (Strategy::Cheap, false)
            ]
        );
    }
}
