//! What each page shows, read from the store: the JSON of `/ui/api/…`, and what the page's
//! template renders. Every function here blocks (store calls).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aimos_core::quality::{self, Quality};
use aimos_core::{
    Calibration, Insight, KeyRecord, OutcomePoint, RunFilter, RunRecord, RunVerdict, SpendBy,
    Stats, Store, StoreError, Strategy,
};
use serde::Serialize;

/// Who is looking: a key sees the shared insights and its own namespace's; a viewer on this
/// machine with no keys in the store sees everything.
#[derive(Debug, Clone)]
pub enum Viewer {
    Everything,
    Namespace(Option<String>),
}

impl Viewer {
    pub fn sees(&self, insight: &Insight) -> bool {
        match self {
            Viewer::Everything => true,
            Viewer::Namespace(namespace) => insight.visible_to(namespace.as_deref()),
        }
    }
}

/// Rows on one page of a table.
pub const PAGE: usize = 50;

/// `/ui`: the ledger's totals (exactly what `aimos stats --json` prints) and what the newest
/// runs say about strategies, hours and quality.
#[derive(Debug, Serialize)]
pub struct Overview {
    #[serde(flatten)]
    pub stats: Stats,
    /// The quality side of `aimos stats --json`, over the newest `sample_runs` runs.
    pub quality: Quality,
    /// How many of the newest runs the strategy, hour and quality figures read.
    pub sample_runs: usize,
    pub by_strategy: Vec<StrategyRuns>,
    /// The last 48 hours with runs, newest first (UTC, `2026-11-28T09`).
    pub by_hour: Vec<Period>,
    /// External models' exposure summed per provider (the part of a model's name before `:`).
    pub exposure_by_provider: Vec<ProviderExposure>,
    /// Shadow checks that held up, as a fraction; `None` before the first.
    pub quality_retained: Option<f64>,
    /// Advised runs that reused a stored insight, as a fraction.
    pub reuse_rate: Option<f64>,
    /// Judged reuses that were wrong, as a fraction.
    pub wrong_reuse_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategyRuns {
    pub strategy: &'static str,
    pub runs: u64,
    pub cost_usd: f64,
    pub counterfactual_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub period: String,
    pub runs: u64,
    pub cost_usd: f64,
    pub counterfactual_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderExposure {
    pub provider: String,
    pub steps: u64,
    pub context_tokens_sent: u64,
    pub redactions: u64,
}

fn fraction(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The newest `count` runs, read in two halves at once: a store with a pool of connections
/// (PostgreSQL) reads and decodes both together; one with a single connection, one after the
/// other. A run written between the two reads can push a run of the newer half into the
/// older one: it is kept once.
fn newest_runs(store: &dyn Store, count: usize) -> Result<Vec<RunRecord>, StoreError> {
    let half = count / 2;
    let (newer, older) = std::thread::scope(|scope| {
        let older = scope.spawn(|| store.runs(count - half, half));
        (store.runs(half, 0), older.join())
    });
    let mut runs = newer?;
    let older = older.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    if runs.len() == half {
        let boundary = runs.last().map(|r| r.id.clone()).unwrap_or_default();
        runs.extend(older.into_iter().filter(|r| half == 0 || r.id < boundary));
    }
    Ok(runs)
}

pub fn overview(store: &dyn Store) -> Result<Overview, StoreError> {
    let stats = store.stats()?;
    let runs = newest_runs(store, quality::HISTORY)?;
    let quality =
        quality::summarize(&runs, &store.outcome_points(quality::HISTORY)?, &store.calibrations()?);
    let mut by_strategy: Vec<StrategyRuns> = Vec::new();
    let mut by_hour: BTreeMap<String, Period> = BTreeMap::new();
    for run in &runs {
        let name = run.strategy.as_str();
        let entry = match by_strategy.iter_mut().position(|s| s.strategy == name) {
            Some(i) => &mut by_strategy[i],
            None => {
                by_strategy.push(StrategyRuns {
                    strategy: name,
                    runs: 0,
                    cost_usd: 0.0,
                    counterfactual_usd: 0.0,
                });
                by_strategy.last_mut().expect("just pushed")
            }
        };
        entry.runs += 1;
        entry.cost_usd += run.cost.usd;
        entry.counterfactual_usd += run.counterfactual.cost.usd;
        let hour: String = run.created_at.chars().take(13).collect();
        let period = by_hour.entry(hour.clone()).or_insert_with(|| Period {
            period: hour,
            runs: 0,
            cost_usd: 0.0,
            counterfactual_usd: 0.0,
        });
        period.runs += 1;
        period.cost_usd += run.cost.usd;
        period.counterfactual_usd += run.counterfactual.cost.usd;
    }
    by_strategy.sort_by_key(|s| Strategy::ALL.iter().position(|x| x.as_str() == s.strategy));
    let by_hour: Vec<Period> = by_hour.into_values().rev().take(48).collect();
    let mut exposure_by_provider: Vec<ProviderExposure> = Vec::new();
    for e in &stats.exposure {
        let provider = e.model.split_once(':').map_or(e.model.as_str(), |(p, _)| p).to_owned();
        match exposure_by_provider.iter_mut().find(|p| p.provider == provider) {
            Some(p) => {
                p.steps += e.steps;
                p.context_tokens_sent += e.context_tokens_sent;
                p.redactions += e.redactions;
            }
            None => exposure_by_provider.push(ProviderExposure {
                provider,
                steps: e.steps,
                context_tokens_sent: e.context_tokens_sent,
                redactions: e.redactions,
            }),
        }
    }
    Ok(Overview {
        quality_retained: fraction(quality.shadow.held_up, quality.shadow.checks),
        reuse_rate: fraction(quality.reuse.reused, quality.reuse.advised),
        wrong_reuse_rate: fraction(quality.reuse.wrong, quality.reuse.reused_judged),
        sample_runs: runs.len(),
        stats,
        quality,
        by_strategy,
        by_hour,
        exposure_by_provider,
    })
}

/// `/ui/runs`: one page of the runs a filter keeps, newest first.
#[derive(Debug, Serialize)]
pub struct RunsPage {
    pub filter: RunFilter,
    pub page: usize,
    pub has_next: bool,
    pub runs: Vec<RunRow>,
    /// What the filter's fields can be set to.
    pub choices: Choices,
}

#[derive(Debug, Serialize)]
pub struct Choices {
    pub strategies: Vec<&'static str>,
    pub models: Vec<String>,
    pub keys: Vec<String>,
    pub verdicts: [&'static str; 3],
}

#[derive(Debug, Serialize)]
pub struct RunRow {
    pub id: String,
    pub created_at: String,
    pub strategy: &'static str,
    pub status: String,
    pub verdict: &'static str,
    pub key: Option<String>,
    /// The models the run's steps called, in order, each once.
    pub models: Vec<String>,
    pub cost_usd: f64,
    pub counterfactual_usd: f64,
    pub latency_ms: f64,
    pub problem: String,
    /// For a shadow check: the live run it measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_of: Option<String>,
}

impl RunRow {
    fn of(run: &RunRecord) -> RunRow {
        let mut models: Vec<String> = Vec::new();
        for model in run.steps.iter().filter_map(|s| s.model.as_ref()) {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        RunRow {
            id: run.id.clone(),
            created_at: run.created_at.clone(),
            strategy: run.strategy.as_str(),
            status: serde_json::to_value(run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            verdict: RunVerdict::of(run.verified).as_str(),
            key: run.attribution.key.clone(),
            models,
            cost_usd: run.cost.usd,
            counterfactual_usd: run.counterfactual.cost.usd,
            latency_ms: run.latency_ms,
            problem: run.problem.chars().take(160).collect(),
            shadow_of: run.shadow_of.clone(),
        }
    }
}

pub fn runs(store: &dyn Store, filter: RunFilter, page: usize) -> Result<RunsPage, StoreError> {
    let mut found = store.runs_matching(&filter, PAGE + 1, page * PAGE)?;
    let has_next = found.len() > PAGE;
    found.truncate(PAGE);
    let stats_models = store.stats()?.by_model.into_iter().map(|m| m.model).collect();
    let keys = store.keys()?.into_iter().map(|k| k.name).collect();
    Ok(RunsPage {
        filter,
        page,
        has_next,
        runs: found.iter().map(RunRow::of).collect(),
        choices: Choices {
            strategies: Strategy::ALL.iter().map(|s| s.as_str()).collect(),
            models: stats_models,
            keys,
            verdicts: ["passed", "failed", "unjudged"],
        },
    })
}

/// `/ui/runs/ID`: a run with its steps laid out in time, and the insight that guided it.
#[derive(Debug, Serialize)]
pub struct RunPage {
    pub run: RunRecord,
    pub verdict: &'static str,
    pub waterfall: Vec<Bar>,
    /// The insight the run stored or followed, when the viewer may see it.
    pub insight: Option<Insight>,
    /// The shadow checks of this run, when any were made.
    pub shadows: Vec<RunRow>,
}

/// One step in the waterfall: where it starts and how long it takes, as percentages of the
/// run's summed step time.
#[derive(Debug, Serialize)]
pub struct Bar {
    pub kind: String,
    pub model: Option<String>,
    pub start_pct: f64,
    pub width_pct: f64,
    pub latency_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub note: Option<String>,
}

pub fn run(store: &dyn Store, viewer: &Viewer, id: &str) -> Result<Option<RunPage>, StoreError> {
    let Some(run) = store.run(id)? else { return Ok(None) };
    let total: f64 = run.steps.iter().map(|s| s.latency_ms.max(0.0)).sum();
    let mut start = 0.0;
    let waterfall = run
        .steps
        .iter()
        .map(|step| {
            let latency = step.latency_ms.max(0.0);
            let (start_pct, width_pct) = if total > 0.0 {
                (100.0 * start / total, 100.0 * latency / total)
            } else {
                (0.0, 0.0)
            };
            start += latency;
            Bar {
                kind: step.kind.as_str().to_owned(),
                model: step.model.clone(),
                start_pct,
                width_pct,
                latency_ms: step.latency_ms,
                prompt_tokens: step.prompt_tokens,
                completion_tokens: step.completion_tokens,
                cost_usd: step.cost.usd,
                note: step.note.clone(),
            }
        })
        .collect();
    let insight = match &run.insight_id {
        Some(id) => store.insight(id)?.filter(|i| viewer.sees(i)),
        None => None,
    };
    let filter = RunFilter { shadow_of: Some(run.id.clone()), ..RunFilter::default() };
    let shadows = store.runs_matching(&filter, 20, 0)?.iter().map(RunRow::of).collect();
    Ok(Some(RunPage {
        verdict: RunVerdict::of(run.verified).as_str(),
        run,
        waterfall,
        insight,
        shadows,
    }))
}

/// `/ui/insights`: one page of insights, newest first, or those matching words.
#[derive(Debug, Serialize)]
pub struct InsightsPage {
    pub q: Option<String>,
    pub page: usize,
    pub has_next: bool,
    pub insights: Vec<InsightRow>,
}

#[derive(Debug, Serialize)]
pub struct InsightRow {
    pub id: String,
    pub created_at: String,
    pub problem: String,
    pub diagnosis: String,
    pub smart_model: String,
    pub confidence: f64,
    /// The calibrated chance that following it works, as recall computes it.
    pub success_estimate: f64,
    pub applied: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub invalidated: Option<String>,
    pub namespace: Option<String>,
}

impl InsightRow {
    fn of(insight: &Insight, calibrations: &[Calibration]) -> InsightRow {
        let calibration = aimos_core::reuse::calibration_for(insight, calibrations);
        InsightRow {
            id: insight.id.clone(),
            created_at: insight.created_at.clone(),
            problem: insight.problem.chars().take(160).collect(),
            diagnosis: insight.draft.diagnosis.chars().take(160).collect(),
            smart_model: insight.smart_model.clone(),
            confidence: insight.draft.confidence,
            success_estimate: aimos_core::reuse::success_estimate(insight, calibration),
            applied: insight.applied,
            succeeded: insight.succeeded,
            failed: insight.failed,
            invalidated: insight.invalidated.as_ref().map(|i| i.reason.clone()),
            namespace: insight.namespace.clone(),
        }
    }
}

pub fn insights(
    store: &dyn Store,
    viewer: &Viewer,
    q: Option<String>,
    page: usize,
) -> Result<InsightsPage, StoreError> {
    let q = q.filter(|q| !q.trim().is_empty());
    let mut found = store.insights(q.as_deref(), PAGE + 1, page * PAGE)?;
    let has_next = found.len() > PAGE;
    found.truncate(PAGE);
    let calibrations = store.calibrations()?;
    let insights =
        found.iter().filter(|i| viewer.sees(i)).map(|i| InsightRow::of(i, &calibrations)).collect();
    Ok(InsightsPage { q, page, has_next, insights })
}

/// `/ui/insights/ID`: an insight whole, with its record.
#[derive(Debug, Serialize)]
pub struct InsightPage {
    pub insight: Insight,
    pub success_estimate: f64,
    /// The calibration the estimate went through, when its smart model has one.
    pub calibration: Option<Calibration>,
    /// Its outcomes among the newest the ledger holds, newest first.
    pub outcomes: Vec<OutcomePoint>,
    /// The newest runs that stored or followed it (the oldest of all made it).
    pub runs: Vec<RunRow>,
}

pub fn insight(
    store: &dyn Store,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<InsightPage>, StoreError> {
    let Some(insight) = store.insight(id)?.filter(|i| viewer.sees(i)) else { return Ok(None) };
    let calibrations = store.calibrations()?;
    let calibration = aimos_core::reuse::calibration_for(&insight, &calibrations).cloned();
    let outcomes = store
        .outcome_points(quality::HISTORY)?
        .into_iter()
        .filter(|p| p.insight_id == insight.id)
        .collect();
    let filter = RunFilter { insight: Some(insight.id.clone()), ..RunFilter::default() };
    let runs = store.runs_matching(&filter, 20, 0)?.iter().map(RunRow::of).collect();
    Ok(Some(InsightPage {
        success_estimate: aimos_core::reuse::success_estimate(&insight, calibration.as_ref()),
        insight,
        calibration,
        outcomes,
        runs,
    }))
}

/// `/ui/calibration`: per smart model, how its stated confidence matched what happened.
#[derive(Debug, Serialize)]
pub struct CalibrationPage {
    pub models: Vec<quality::ModelCalibration>,
}

pub fn calibration(store: &dyn Store) -> Result<CalibrationPage, StoreError> {
    let points = store.outcome_points(quality::HISTORY)?;
    let quality = quality::summarize(&[], &points, &store.calibrations()?);
    Ok(CalibrationPage { models: quality.calibration })
}

/// `/ui/keys`: each key's spend against its budget, its rate limit and last use.
#[derive(Debug, Serialize)]
pub struct KeysPage {
    pub keys: Vec<KeyRow>,
}

#[derive(Debug, Serialize)]
pub struct KeyRow {
    #[serde(flatten)]
    pub key: KeyRecord,
    /// Spent over budget, as a fraction; `None` without a budget.
    pub budget_used: Option<f64>,
    /// Runs recorded under the key's name.
    pub runs: u64,
    /// When its newest run was made.
    pub last_used_at: Option<String>,
}

pub fn keys(store: &dyn Store) -> Result<KeysPage, StoreError> {
    let spend = store.spend_by(SpendBy::Key)?;
    let keys = store
        .keys()?
        .into_iter()
        .map(|key| {
            let spent = spend.iter().find(|s| s.name.as_deref() == Some(&key.name));
            KeyRow {
                budget_used: key.budget_usd.map(|b| {
                    if b > 0.0 { key.spent_usd / b } else { f64::from(key.spent_usd > 0.0) }
                }),
                runs: spent.map_or(0, |s| s.runs),
                last_used_at: spent.and_then(|s| s.last_at.clone()),
                key,
            }
        })
        .collect();
    Ok(KeysPage { keys })
}

/// `/ui/evals`: the output folders of `aimos eval` the dashboard was started with.
#[derive(Debug, Serialize)]
pub struct EvalsPage {
    pub evals: Vec<EvalRow>,
}

#[derive(Debug, Serialize)]
pub struct EvalRow {
    pub index: usize,
    pub dir: String,
    /// Why the folder's report could not be read; the rest is empty then.
    pub error: Option<String>,
    pub suite: String,
    pub smart: String,
    pub cheap: String,
    pub tasks: u64,
    pub strategies: Vec<EvalStrategy>,
    /// Whether the folder holds the quality–cost plot.
    pub has_plot: bool,
}

#[derive(Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EvalStrategy {
    pub strategy: String,
    pub tasks: u64,
    pub passed: u64,
    pub pass_rate: f64,
    pub cost_per_task_usd: f64,
    pub quality_retained: f64,
    pub savings: f64,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Report {
    suite: String,
    smart: String,
    cheap: String,
    tasks: u64,
    strategies: Vec<EvalStrategy>,
}

/// The quality–cost plot `aimos eval` writes into its output folder.
pub const EVAL_PLOT: &str = "quality-cost.svg";

pub fn evals(dirs: &[PathBuf]) -> EvalsPage {
    let evals = dirs
        .iter()
        .enumerate()
        .map(|(index, dir)| {
            let mut row = EvalRow {
                index,
                dir: dir.display().to_string(),
                error: None,
                suite: String::new(),
                smart: String::new(),
                cheap: String::new(),
                tasks: 0,
                strategies: Vec::new(),
                has_plot: dir.join(EVAL_PLOT).is_file(),
            };
            match read_report(dir) {
                Ok(report) => {
                    row.suite = report.suite;
                    row.smart = report.smart;
                    row.cheap = report.cheap;
                    row.tasks = report.tasks;
                    row.strategies = report.strategies;
                }
                Err(err) => row.error = Some(err),
            }
            row
        })
        .collect();
    EvalsPage { evals }
}

fn read_report(dir: &Path) -> Result<Report, String> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|err| {
        format!("cannot read {}: {err} (is this an `aimos eval --out` folder?)", path.display())
    })?;
    serde_json::from_str(&text)
        .map_err(|err| format!("{} is not an eval report: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: usize) -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "id": format!("01a00000-0000-7000-8000-{i:012}"),
            "created_at": "2026-11-28T09:00:00.000Z",
            "strategy": "cheap", "reason": "r", "task_digest": "t", "problem": "p",
            "status": "succeeded", "result": "x", "error": null, "insight_id": null,
            "cost": {"usd": 0.0}, "savings": 0.0, "latency_ms": 1.0,
            "counterfactual": {"model": "m", "cost": {"usd": 0.0}, "prompt_tokens": 0,
                               "completion_tokens": 0, "latency_ms": 0.0, "latency_measured": false},
            "steps": [{"kind": "execute", "model": "m", "prompt_tokens": 1, "completion_tokens": 1,
                       "cost": {"usd": 0.0}, "latency_ms": 1.0, "prompt_digest": null, "note": null}],
        }))
        .unwrap()
    }

    #[test]
    fn the_newest_runs_read_in_halves_are_each_run_once_newest_first() {
        let store = aimos_store::SqliteStore::in_memory().unwrap();
        for i in 0..7 {
            store.record_run(&run(i)).unwrap();
        }
        for count in [1, 2, 6, 7, 20] {
            let ids: Vec<String> =
                newest_runs(&store, count).unwrap().into_iter().map(|r| r.id).collect();
            let want: Vec<String> =
                store.runs(count, 0).unwrap().into_iter().map(|r| r.id).collect();
            assert_eq!(ids, want, "{count}");
            let distinct: std::collections::HashSet<&String> = ids.iter().collect();
            assert_eq!(distinct.len(), ids.len(), "{count}: a run twice");
        }
        assert_eq!(newest_runs(&store, 6).unwrap()[0].steps.len(), 1, "steps come along");
    }
}
