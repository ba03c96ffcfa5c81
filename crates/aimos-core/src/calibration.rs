//! From the confidence a smart model states to the chance its advice works, learned from
//! outcomes; and how good those chances are (Brier score, expected calibration error, a
//! reliability table).
//!
//! The mapping is Platt scaling on the log-odds of the stated confidence,
//! `p = σ(slope · logit(confidence) + intercept)`, fitted by maximum a posteriori with a
//! Gaussian prior centred on the identity (slope 1, intercept 0): with few outcomes the stated
//! confidence stands nearly as it is; as outcomes accumulate they take over.

use serde::Serialize;

use crate::store::{Calibration, OutcomePoint};

/// Strength of the prior towards "the model's confidence means what it says", in outcomes.
const PRIOR_PRECISION: f64 = 4.0;

/// Confidences are clamped to this distance from 0 and 1 before taking log-odds.
const EDGE: f64 = 0.01;

fn logit(p: f64) -> f64 {
    let p = p.clamp(EDGE, 1.0 - EDGE);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The calibrated probability for a stated `confidence` (the confidence itself without a
/// calibration).
pub fn apply(calibration: Option<&Calibration>, confidence: f64) -> f64 {
    match calibration {
        Some(c) => sigmoid(c.slope * logit(confidence) + c.intercept),
        None => confidence.clamp(0.0, 1.0),
    }
}

/// Fits `(slope, intercept)` to `(stated confidence, passed)` pairs by Newton's method on the
/// penalised log-likelihood (convex, so it converges from the identity).
pub fn fit(points: &[(f64, bool)]) -> (f64, f64) {
    let (mut a, mut b) = (1.0_f64, 0.0_f64);
    for _ in 0..100 {
        let (mut ga, mut gb) = (PRIOR_PRECISION * (a - 1.0), PRIOR_PRECISION * b);
        let (mut haa, mut hab, mut hbb) = (PRIOR_PRECISION, 0.0, PRIOR_PRECISION);
        for &(confidence, passed) in points {
            let x = logit(confidence);
            let p = sigmoid(a * x + b);
            let r = p - f64::from(u8::from(passed));
            let w = p * (1.0 - p);
            ga += r * x;
            gb += r;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-9 && db.abs() < 1e-9 {
            break;
        }
    }
    (a, b)
}

/// Fits a calibration per smart model from `points`.
pub fn fit_all(points: &[OutcomePoint], fitted_at: &str) -> Vec<Calibration> {
    let mut models: Vec<&str> = points.iter().map(|p| p.smart_model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    models
        .into_iter()
        .map(|model| {
            let pairs: Vec<(f64, bool)> = points
                .iter()
                .filter(|p| p.smart_model == model)
                .map(|p| (p.confidence, p.passed))
                .collect();
            let (slope, intercept) = fit(&pairs);
            Calibration {
                smart_model: model.to_owned(),
                slope,
                intercept,
                points: pairs.len() as u64,
                fitted_at: fitted_at.to_owned(),
            }
        })
        .collect()
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// The bin holds predictions in `[low, high)` (the last one includes 1).
    pub low: f64,
    pub high: f64,
    pub count: u64,
    pub mean_predicted: f64,
    /// Fraction that passed.
    pub observed: f64,
}

/// How well predicted probabilities matched what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reliability {
    pub points: u64,
    /// Mean squared error of the predictions (0 is perfect; always saying 0.5 scores 0.25).
    pub brier: f64,
    /// Expected calibration error: the count-weighted gap between predicted and observed, over
    /// ten equal-width bins.
    pub ece: f64,
    /// Non-empty bins, lowest first.
    pub bins: Vec<Bin>,
}

/// Scores `(predicted probability, passed)` pairs; `None` when there are none.
pub fn reliability(pairs: &[(f64, bool)]) -> Option<Reliability> {
    const BINS: usize = 10;
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let brier =
        pairs.iter().map(|&(p, passed)| (p - f64::from(u8::from(passed))).powi(2)).sum::<f64>() / n;
    let mut sums = [(0u64, 0.0f64, 0u64); BINS];
    for &(p, passed) in pairs {
        let bin = ((p.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        sums[bin].0 += 1;
        sums[bin].1 += p;
        sums[bin].2 += u64::from(passed);
    }
    let mut ece = 0.0;
    let mut bins = Vec::new();
    for (i, &(count, predicted, passed)) in sums.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let (mean_predicted, observed) = (predicted / count as f64, passed as f64 / count as f64);
        ece += count as f64 / n * (mean_predicted - observed).abs();
        bins.push(Bin {
            low: i as f64 / BINS as f64,
            high: (i + 1) as f64 / BINS as f64,
            count,
            mean_predicted,
            observed,
        });
    }
    Some(Reliability { points: pairs.len() as u64, brier, ece, bins })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(slope: f64, intercept: f64) -> Calibration {
        Calibration {
            smart_model: "m".into(),
            slope,
            intercept,
            points: 0,
            fitted_at: String::new(),
        }
    }

    #[test]
    fn without_outcomes_the_stated_confidence_stands() {
        let (a, b) = fit(&[]);
        assert!((a - 1.0).abs() < 1e-9 && b.abs() < 1e-9);
        assert!((apply(Some(&calibration(a, b)), 0.8) - 0.8).abs() < 1e-9);
        assert_eq!(apply(None, 0.7), 0.7);
    }

    #[test]
    fn an_overconfident_model_is_pulled_down_and_scores_better_after() {
        // The model says 0.9 every time; its advice works 60% of the time.
        let pairs: Vec<(f64, bool)> = (0..50).map(|i| (0.9, i % 5 < 3)).collect();
        let (a, b) = fit(&pairs);
        let calibrated = apply(Some(&calibration(a, b)), 0.9);
        assert!((calibrated - 0.6).abs() < 0.05, "{calibrated}");
        let raw = reliability(&pairs).expect("points");
        let fitted: Vec<(f64, bool)> = pairs.iter().map(|&(_, y)| (calibrated, y)).collect();
        let after = reliability(&fitted).expect("points");
        assert!(after.brier < raw.brier && after.ece < raw.ece, "{raw:?} {after:?}");
        assert!((raw.ece - 0.3).abs() < 1e-9, "{}", raw.ece);
        assert_eq!(raw.bins.len(), 1);
        assert_eq!(raw.bins[0].count, 50);
    }

    #[test]
    fn a_few_outcomes_move_the_mapping_only_a_little() {
        let (a, b) = fit(&[(0.9, false), (0.9, false)]);
        let p = apply(Some(&calibration(a, b)), 0.9);
        assert!(p < 0.9 && p > 0.5, "{p}");
    }

    #[test]
    fn confidence_that_separates_outcomes_keeps_its_order() {
        let mut pairs = Vec::new();
        for _ in 0..20 {
            pairs.push((0.9, true));
            pairs.push((0.3, false));
            pairs.push((0.6, true));
            pairs.push((0.6, false));
        }
        let c = {
            let (a, b) = fit(&pairs);
            calibration(a, b)
        };
        assert!(apply(Some(&c), 0.9) > apply(Some(&c), 0.6));
        assert!(apply(Some(&c), 0.6) > apply(Some(&c), 0.3));
    }
}
