//! Reusing a stored insight for a new problem instead of consulting again — only when the
//! problems match closely, the insight's record of outcomes makes success likely, and (unless
//! the caller turns it off) a model confirms that the advice applies. Similarity alone is never
//! enough: answer caches that reuse on similarity are wrong several percent of the time.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::insight::Insight;

/// Who confirms that a matching insight applies before it is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReuseCheck {
    /// The cheap model reads the new brief and the stored advice and says whether it applies.
    Cheap,
    /// The smart model does (dearer, for when a wrong reuse costs much).
    Judge,
    /// No confirmation: the match and the success estimate decide.
    Off,
    /// Never reuse: always consult.
    Never,
}

impl FromStr for ReuseCheck {
    type Err = String;

    fn from_str(s: &str) -> Result<ReuseCheck, String> {
        match s {
            "cheap" => Ok(ReuseCheck::Cheap),
            "judge" => Ok(ReuseCheck::Judge),
            "off" => Ok(ReuseCheck::Off),
            "never" => Ok(ReuseCheck::Never),
            _ => Err(format!("unknown reuse check `{s}`; use one of: cheap, judge, off, never")),
        }
    }
}

/// When a stored insight may stand in for a consultation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReusePolicy {
    pub check: ReuseCheck,
    /// Least match between the problems (1 for the same problem, word overlap otherwise).
    pub min_match: f64,
    /// Least estimated chance that the insight's advice succeeds.
    pub min_success: f64,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy { check: ReuseCheck::Cheap, min_match: 0.6, min_success: 0.6 }
    }
}

/// How closely two problems match: 1 for the same text (ignoring case and spacing), else the
/// overlap of their search terms (Jaccard).
pub fn match_score(new: &str, stored: &str) -> f64 {
    let normal = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    if normal(new) == normal(stored) {
        return 1.0;
    }
    let words = |t: &str| {
        let mut set = HashSet::new();
        aimos_context::index::terms(t, &mut |w| {
            set.insert(w.to_owned());
        });
        set
    };
    let (a, b) = (words(new), words(stored));
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// The chance the insight's advice succeeds: its stated confidence as a prior worth two
/// outcomes, updated by the outcomes recorded since (the mean of a Beta posterior).
pub fn success_estimate(insight: &Insight) -> f64 {
    let prior = insight.draft.confidence.clamp(0.0, 1.0);
    let (s, f) = (insight.succeeded as f64, insight.failed as f64);
    (s + 2.0 * prior) / (s + f + 2.0)
}

/// A stored insight that may be reused, with why.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub insight: Insight,
    pub matched: f64,
    pub success: f64,
}

/// The insights among `stored` that clear the policy's thresholds, best first.
pub fn candidates(problem: &str, stored: Vec<Insight>, policy: &ReusePolicy) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = stored
        .into_iter()
        .map(|insight| Candidate {
            matched: match_score(problem, &insight.problem),
            success: success_estimate(&insight),
            insight,
        })
        .filter(|c| c.matched >= policy.min_match && c.success >= policy.min_success)
        .collect();
    out.sort_by(|a, b| (b.matched * b.success).total_cmp(&(a.matched * a.success)));
    out
}

/// The JSON the confirming model fills in.
pub(crate) fn check_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "applies": {"type": "boolean"},
            "reason": {"type": "string", "maxLength": 300}
        },
        "required": ["applies", "reason"],
        "additionalProperties": false
    })
}

pub(crate) const CHECK_SYSTEM: &str = "You decide whether advice written for an earlier problem \
applies to a new problem. Say it applies only if following it would solve the new problem; \
when the problems differ in what matters, it does not apply. Answer with a JSON object.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insight::InsightDraft;
    use crate::price::Cost;

    fn insight(problem: &str, confidence: f64, succeeded: u64, failed: u64) -> Insight {
        Insight {
            id: problem.into(),
            fingerprint: String::new(),
            problem: problem.into(),
            brief: String::new(),
            draft: InsightDraft {
                diagnosis: "d".into(),
                plan: vec!["p".into()],
                key_facts: vec![],
                pitfalls: vec![],
                confidence,
                reasoning: "r".into(),
            },
            smart_model: "smart".into(),
            cost: Cost::default(),
            created_at: String::new(),
            applied: 0,
            succeeded,
            failed,
        }
    }

    #[test]
    fn outcomes_move_the_estimate_and_a_failure_drops_a_fresh_insight_below_the_bar() {
        assert!((success_estimate(&insight("x", 0.8, 0, 0)) - 0.8).abs() < 1e-9);
        assert!(success_estimate(&insight("x", 0.8, 0, 1)) < ReusePolicy::default().min_success);
        assert!(success_estimate(&insight("x", 0.5, 4, 0)) > 0.8);
    }

    #[test]
    fn only_close_matches_with_good_records_are_candidates_best_first() {
        let stored = vec![
            insight("peek panics on an empty stack", 0.9, 0, 0),
            insight("Peek   panics on an EMPTY stack", 0.7, 0, 0),
            insight("peek panics on an empty stack", 0.9, 0, 3),
            insight("the parser rejects trailing commas", 0.9, 5, 0),
        ];
        let found = candidates("peek panics on an empty stack", stored, &ReusePolicy::default());
        let matched: Vec<(f64, f64)> = found.iter().map(|c| (c.matched, c.success)).collect();
        assert_eq!(matched.len(), 2, "{matched:?}");
        assert!((found[0].success - 0.9).abs() < 1e-9 && found[1].matched == 1.0);
        // Word order and stop words do not matter; different words do.
        assert_eq!(
            match_score("the stack's peek panics when empty", "peek panics on an empty stack"),
            1.0
        );
        assert!(
            match_score(
                "peek returns the wrong element after a push",
                "peek panics on an empty stack"
            ) < 0.2
        );
    }
}
