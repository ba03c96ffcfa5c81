//! Reusing a stored insight for a new problem instead of consulting again — only when the
//! problems match closely, the insight's record of outcomes makes success likely, and (unless
//! the caller turns it off) a model confirms that the advice applies. Similarity alone is never
//! enough: answer caches that reuse on similarity are wrong several percent of the time.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::insight::Insight;
use crate::store::{Calibration, Store, StoreError};

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

/// How closely two problems match: 1 for the same text (ignoring case and spacing); else the
/// overlap of their search terms (Jaccard), scaled down by how far their exact anchors
/// (identifiers such as `load_profile()` or `user_id`, quoted messages) differ when both name
/// some — by up to half — or by a fifth when only one does. Anchors only ever lower a match:
/// two reports of the same error about different names are different problems.
pub fn match_score(new: &str, stored: &str) -> f64 {
    let words = term_match(new, stored);
    if words >= 1.0 {
        return words;
    }
    let anchors = |t: &str| -> HashSet<String> {
        aimos_context::anchor::identifiers(t)
            .into_iter()
            .chain(aimos_context::anchor::quotes(t))
            .map(|a| a.to_lowercase())
            .collect()
    };
    let (a, b) = (anchors(new), anchors(stored));
    match (a.is_empty(), b.is_empty()) {
        (true, true) => words,
        (false, false) => {
            let overlap = a.intersection(&b).count() as f64 / a.union(&b).count() as f64;
            words * (0.5 + 0.5 * overlap)
        }
        _ => words * 0.8,
    }
}

fn term_match(new: &str, stored: &str) -> f64 {
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

/// The chance the insight's advice succeeds: its stated confidence, calibrated for its smart
/// model when a calibration is known, as a prior worth two outcomes, updated by the outcomes
/// recorded since (the mean of a Beta posterior).
pub fn success_estimate(insight: &Insight, calibration: Option<&Calibration>) -> f64 {
    let prior = crate::calibration::apply(calibration, insight.draft.confidence);
    let (s, f) = (insight.succeeded as f64, insight.failed as f64);
    (s + 2.0 * prior) / (s + f + 2.0)
}

/// The calibration of the model that wrote `insight`, among `calibrations`.
pub fn calibration_for<'a>(
    insight: &Insight,
    calibrations: &'a [Calibration],
) -> Option<&'a Calibration> {
    calibrations.iter().find(|c| c.smart_model == insight.smart_model)
}

/// Below this success estimate, with at least [`AGE_MIN_FAILURES`] failures, an insight is
/// taken out of recall.
pub const AGE_BELOW: f64 = 0.3;
pub const AGE_MIN_FAILURES: u64 = 2;

/// Ages insights after an outcome on `insight` (as the store returned it, with its new
/// counts): one that keeps failing is invalidated; one that just worked supersedes older
/// insights for the same problem whose record is worse. Returns what was invalidated, why.
pub fn age(
    store: &dyn Store,
    insight: &Insight,
    passed: bool,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut done = Vec::new();
    if insight.invalidated.is_some() {
        return Ok(done);
    }
    if !passed && insight.failed >= AGE_MIN_FAILURES && success_estimate(insight, None) < AGE_BELOW
    {
        let reason = format!(
            "keeps failing: {} of {} outcomes failed",
            insight.failed,
            insight.failed + insight.succeeded
        );
        if store.invalidate_insight(&insight.id, &reason)? {
            done.push((insight.id.clone(), reason));
        }
    }
    if passed {
        for older in store.insights_by_fingerprint(&insight.fingerprint)? {
            // An insight supersedes only those of its own namespace.
            if older.id < insight.id
                && older.namespace == insight.namespace
                && older.invalidated.is_none()
                && older.failed > older.succeeded
            {
                let reason = format!("superseded by insight {}, which worked", insight.id);
                if store.invalidate_insight(&older.id, &reason)? {
                    done.push((older.id, reason));
                }
            }
        }
    }
    Ok(done)
}

/// A stored insight that may be reused, with why.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub insight: Insight,
    pub matched: f64,
    pub success: f64,
}

/// The insights among `stored` that clear the policy's thresholds, best first; invalidated
/// insights never are.
pub fn candidates(
    problem: &str,
    stored: Vec<Insight>,
    policy: &ReusePolicy,
    calibrations: &[Calibration],
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = stored
        .into_iter()
        .filter(|insight| insight.invalidated.is_none())
        .map(|insight| Candidate {
            matched: match_score(problem, &insight.problem),
            success: success_estimate(&insight, calibration_for(&insight, calibrations)),
            insight,
        })
        .filter(|c| c.matched >= policy.min_match && c.success >= policy.min_success)
        .collect();
    out.sort_by(|a, b| (b.matched * b.success).total_cmp(&(a.matched * a.success)));
    out
}

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
            invalidated: None,
            namespace: None,
        }
    }

    #[test]
    fn outcomes_move_the_estimate_and_a_failure_drops_a_fresh_insight_below_the_bar() {
        assert!((success_estimate(&insight("x", 0.8, 0, 0), None) - 0.8).abs() < 1e-9);
        assert!(
            success_estimate(&insight("x", 0.8, 0, 1), None) < ReusePolicy::default().min_success
        );
        assert!(success_estimate(&insight("x", 0.5, 4, 0), None) > 0.8);
        // A calibration that says this model's 0.9 means 0.5 lowers the prior.
        let calibration = Calibration {
            smart_model: "smart".into(),
            slope: 0.0,
            intercept: 0.0,
            points: 40,
            fitted_at: String::new(),
        };
        let calibrated = success_estimate(&insight("x", 0.9, 0, 0), Some(&calibration));
        assert!((calibrated - 0.5).abs() < 1e-9, "{calibrated}");
    }

    #[test]
    fn only_close_matches_with_good_records_are_candidates_best_first() {
        let stored = vec![
            insight("peek panics on an empty stack", 0.9, 0, 0),
            insight("Peek   panics on an EMPTY stack", 0.7, 0, 0),
            insight("peek panics on an empty stack", 0.9, 0, 3),
            insight("the parser rejects trailing commas", 0.9, 5, 0),
        ];
        let mut stored = stored;
        let mut invalid = insight("peek panics on an empty stack", 0.99, 9, 0);
        invalid.invalidated =
            Some(crate::insight::Invalidation { at: String::new(), reason: "test".into() });
        stored.push(invalid);
        let found =
            candidates("peek panics on an empty stack", stored, &ReusePolicy::default(), &[]);
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
        // The same words about different names: the anchors tell them apart.
        let (a, b) = (
            "KeyError raised in load_profile() when the user_id is missing from the request",
            "KeyError raised in load_profile() when the account_id is missing from the request",
        );
        assert!(term_match(a, b) >= 0.6, "{}", term_match(a, b));
        assert!(match_score(a, b) < 0.6, "{}", match_score(a, b));
        assert_eq!(match_score(a, a), 1.0);
    }
}

/// Why an outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("no insight or run has the id `{0}`; use the insight's or the run's id")]
    NotFound(String),
    #[error(
        "run {run} followed no insight (its strategy was {strategy}), so there is no advice to credit"
    )]
    NoInsight { run: String, strategy: crate::run::Strategy },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`record_feedback`] recorded: the insight with its new counts, the run it was given
/// through (if a run's id was given), and the reasons of insights it retired.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub insight: Insight,
    pub run_id: Option<String>,
    pub retired: Vec<(String, String)>,
}

/// Records whether following an insight worked, given the insight's id or the id of a run
/// that followed it, and ages insights after it ([`age`]). `source` says who reported it.
pub fn record_feedback(
    store: &dyn Store,
    id: &str,
    passed: bool,
    note: Option<String>,
    source: &str,
) -> Result<Feedback, FeedbackError> {
    let (insight_id, run_id) = match store.insight(id)? {
        Some(insight) => (insight.id, None),
        None => match store.run(id)? {
            Some(run) => match run.insight_id {
                Some(insight) => (insight, Some(run.id)),
                None => {
                    return Err(FeedbackError::NoInsight { run: run.id, strategy: run.strategy });
                }
            },
            None => return Err(FeedbackError::NotFound(id.to_owned())),
        },
    };
    let outcome = crate::store::Outcome {
        insight_id: insight_id.clone(),
        run_id: run_id.clone(),
        passed,
        source: source.to_owned(),
        note,
        created_at: crate::ids::now_rfc3339(),
    };
    let insight = store.record_outcome(&outcome)?.ok_or(FeedbackError::NotFound(insight_id))?;
    let retired = age(store, &insight, passed)?;
    Ok(Feedback { insight, run_id, retired })
}
