//! What the ledger says about quality: pass rates per strategy, how often stored insights were
//! reused and how often wrongly, what shadow checks measured on live traffic, and how well each
//! smart model's stated confidence predicts outcomes before and after calibration.

use serde::Serialize;

use crate::calibration::{self, Reliability};
use crate::policy;
use crate::run::{RunRecord, StepKind, Strategy};
use crate::store::{Calibration, OutcomePoint};

/// One strategy's record on judged runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyQuality {
    pub strategy: Strategy,
    /// Outcomes (verifier verdicts, feedback, shadow checks, cascade stages).
    pub judged: u64,
    pub passed: u64,
}

/// Reuse of stored insights.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reuse {
    /// Runs that needed advice (every run that consulted or reused).
    pub advised: u64,
    /// Of those, runs that reused a stored insight instead of consulting.
    pub reused: u64,
    /// Reused runs whose result was judged (verifier, feedback, shadow).
    pub reused_judged: u64,
    /// Reused runs whose result failed: the insight did not apply after all.
    pub wrong: u64,
}

/// Shadow checks: the smart model alone beside live tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shadow {
    pub checks: u64,
    /// Live results that held up against the smart model's own.
    pub held_up: u64,
    /// What the checks cost.
    pub cost_usd: f64,
}

/// How well one smart model's stated confidence predicts outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCalibration {
    pub smart_model: String,
    /// The confidence as stated.
    pub stated: Reliability,
    /// Through the stored calibration, when there is one (scored on the same outcomes it was
    /// fitted on, so optimistic when it was fitted on few).
    pub calibrated: Option<Reliability>,
    pub calibration: Option<Calibration>,
}

/// The quality side of the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    pub by_strategy: Vec<StrategyQuality>,
    pub reuse: Reuse,
    pub shadow: Shadow,
    pub calibration: Vec<ModelCalibration>,
}

/// How many of the newest runs and outcomes `aimos stats`, `aimos calibrate` and the dashboard
/// read for the quality side.
pub const HISTORY: usize = 10_000;

/// Whether `run` reused a stored insight rather than consulting.
pub fn reused(run: &RunRecord) -> bool {
    run.insight_id.is_some()
        && run.steps.iter().any(|s| s.kind == StepKind::Recall)
        && !run.steps.iter().any(|s| s.kind == StepKind::Consult)
}

/// Sums up `runs` (newest first), `points` (outcomes with stated confidence, newest first)
/// and the stored `calibrations`.
pub fn summarize(
    runs: &[RunRecord],
    points: &[OutcomePoint],
    calibrations: &[Calibration],
) -> Quality {
    let mut by_strategy: Vec<StrategyQuality> = Vec::new();
    for o in policy::observations(runs, points) {
        let entry = match by_strategy.iter_mut().position(|q| q.strategy == o.strategy) {
            Some(i) => &mut by_strategy[i],
            None => {
                by_strategy.push(StrategyQuality { strategy: o.strategy, judged: 0, passed: 0 });
                by_strategy.last_mut().expect("just pushed")
            }
        };
        entry.judged += 1;
        entry.passed += u64::from(o.passed);
    }
    by_strategy.sort_by_key(|q| Strategy::ALL.iter().position(|s| *s == q.strategy));

    let mut reuse = Reuse::default();
    let mut shadow = Shadow::default();
    for run in runs {
        if run.shadow_of.is_some() {
            shadow.checks += u64::from(run.verified.is_some());
            shadow.held_up += u64::from(run.verified == Some(true));
            shadow.cost_usd += run.cost.usd;
            continue;
        }
        if run.insight_id.is_none() {
            continue;
        }
        reuse.advised += 1;
        if !reused(run) {
            continue;
        }
        reuse.reused += 1;
        let verdict = run.verified.or_else(|| {
            let shadowed = runs.iter().find(|r| r.shadow_of.as_deref() == Some(&run.id));
            let feedback = points.iter().find(|p| p.run_id.as_deref() == Some(&run.id));
            shadowed.and_then(|r| r.verified).or(feedback.map(|p| p.passed))
        });
        if let Some(passed) = verdict {
            reuse.reused_judged += 1;
            reuse.wrong += u64::from(!passed);
        }
    }

    let mut models: Vec<&str> = points.iter().map(|p| p.smart_model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    let calibration = models
        .into_iter()
        .filter_map(|model| {
            let stated: Vec<(f64, bool)> = points
                .iter()
                .filter(|p| p.smart_model == model)
                .map(|p| (p.confidence, p.passed))
                .collect();
            let fitted = calibrations.iter().find(|c| c.smart_model == model);
            let calibrated = fitted.and_then(|c| {
                let mapped: Vec<(f64, bool)> =
                    stated.iter().map(|&(p, y)| (calibration::apply(Some(c), p), y)).collect();
                calibration::reliability(&mapped)
            });
            Some(ModelCalibration {
                smart_model: model.to_owned(),
                stated: calibration::reliability(&stated)?,
                calibrated,
                calibration: fitted.cloned(),
            })
        })
        .collect();
    Quality { by_strategy, reuse, shadow, calibration }
}
