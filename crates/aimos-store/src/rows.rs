//! One mapping from rows to records, for both backends: the SQLite and PostgreSQL stores select
//! the same columns in the same order and read them here through [`Cells`], so that they agree
//! on every record — and on every bad row, which is an error naming the table, the row's id and
//! the column, never a default that hides it.
//!
//! Writing records stays with each backend (their SQL differs); reading them is only here.

use aimos_core::insight::InsightDraft;
use aimos_core::{
    Attribution, Calibration, Cost, Counterfactual, Insight, Invalidation, KeyRecord, OutcomePoint,
    RunRecord, Step,
};
use serde::de::DeserializeOwned;

/// A row as the mapping reads it, by position. Each backend implements it for its row type.
pub(crate) trait Cells {
    fn text(&self, idx: usize) -> Result<String, String>;
    fn opt_text(&self, idx: usize) -> Result<Option<String>, String>;
    /// An integer column, whatever its width.
    fn int(&self, idx: usize) -> Result<i64, String>;
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, String>;
    fn real(&self, idx: usize) -> Result<f64, String>;
    fn opt_real(&self, idx: usize) -> Result<Option<f64>, String>;
    /// A boolean column (an integer 0 or 1 in SQLite).
    fn flag(&self, idx: usize) -> Result<bool, String>;
    fn opt_flag(&self, idx: usize) -> Result<Option<bool>, String>;
}

/// A row that does not read as its record.
#[derive(Debug, thiserror::Error)]
#[error(
    "{table} row {id}, column {column}: {message}; the store holds a value this aimos cannot \
     read (written by a newer aimos, or edited by hand)"
)]
pub(crate) struct BadRow {
    pub table: &'static str,
    pub id: String,
    pub column: &'static str,
    pub message: String,
}

/// Reads one table's row, naming the row (once its id is read) and the column in errors.
struct Reader<'a> {
    cells: &'a dyn Cells,
    table: &'static str,
    id: String,
}

impl<'a> Reader<'a> {
    fn new(cells: &'a dyn Cells, table: &'static str) -> Reader<'a> {
        Reader { cells, table, id: "?".into() }
    }

    fn bad(&self, column: &'static str, message: String) -> BadRow {
        BadRow { table: self.table, id: self.id.clone(), column, message }
    }

    /// The row's id, in column `idx`; later errors name it.
    fn id(&mut self, idx: usize) -> Result<String, BadRow> {
        let id = self.text(idx, "id")?;
        self.id = id.clone();
        Ok(id)
    }

    fn text(&self, idx: usize, column: &'static str) -> Result<String, BadRow> {
        self.cells.text(idx).map_err(|m| self.bad(column, m))
    }

    fn opt_text(&self, idx: usize, column: &'static str) -> Result<Option<String>, BadRow> {
        self.cells.opt_text(idx).map_err(|m| self.bad(column, m))
    }

    fn count(&self, idx: usize, column: &'static str) -> Result<u64, BadRow> {
        let n = self.cells.int(idx).map_err(|m| self.bad(column, m))?;
        u64::try_from(n).map_err(|_| self.bad(column, format!("{n} is negative")))
    }

    fn real(&self, idx: usize, column: &'static str) -> Result<f64, BadRow> {
        self.cells.real(idx).map_err(|m| self.bad(column, m))
    }

    fn opt_real(&self, idx: usize, column: &'static str) -> Result<Option<f64>, BadRow> {
        self.cells.opt_real(idx).map_err(|m| self.bad(column, m))
    }

    fn flag(&self, idx: usize, column: &'static str) -> Result<bool, BadRow> {
        self.cells.flag(idx).map_err(|m| self.bad(column, m))
    }

    fn opt_flag(&self, idx: usize, column: &'static str) -> Result<Option<bool>, BadRow> {
        self.cells.opt_flag(idx).map_err(|m| self.bad(column, m))
    }

    /// JSON text of a `T`.
    fn json<T: DeserializeOwned>(&self, idx: usize, column: &'static str) -> Result<T, BadRow> {
        let text = self.text(idx, column)?;
        serde_json::from_str(&text)
            .map_err(|err| self.bad(column, format!("not valid JSON: {err}")))
    }

    /// A unit enum stored by its serde name (`consult`, `succeeded`, …).
    fn name<T: DeserializeOwned>(&self, idx: usize, column: &'static str) -> Result<T, BadRow> {
        let name = self.text(idx, column)?;
        serde_json::from_value(serde_json::Value::String(name.clone()))
            .map_err(|_| self.bad(column, format!("unknown name `{name}`")))
    }
}

/// The columns an insight is written with (both backends).
macro_rules! insight_columns {
    () => {
        "id, fingerprint, problem, brief, diagnosis, plan, key_facts, pitfalls, confidence, \
         reasoning, smart_model, cost_usd, created_at, applied, succeeded, failed"
    };
}

pub(crate) const INSIGHT_COLUMNS: &str = insight_columns!();

/// The columns an insight is read from, in [`insight`]'s order (both backends).
/// The `limit` ids whose stored vectors are nearest `vector`, best first; vectors of another
/// length (another model's) are skipped.
pub(crate) fn nearest(
    scored: Vec<(String, Vec<u8>)>,
    vector: &[f32],
    limit: usize,
) -> Vec<(String, f32)> {
    let mut best: Vec<(String, f32)> = scored
        .into_iter()
        .filter_map(|(id, bytes)| {
            let stored = aimos_core::dense::from_bytes(&bytes)?;
            (stored.len() == vector.len()).then(|| (id, aimos_core::dense::cosine(&stored, vector)))
        })
        .collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    best.truncate(limit);
    best
}

pub(crate) const INSIGHT_SELECT: &str =
    concat!(insight_columns!(), ", invalidated_at, invalidated_reason, namespace");

pub(crate) fn insight(cells: &dyn Cells) -> Result<Insight, BadRow> {
    let mut row = Reader::new(cells, "insights");
    Ok(Insight {
        id: row.id(0)?,
        fingerprint: row.text(1, "fingerprint")?,
        problem: row.text(2, "problem")?,
        brief: row.text(3, "brief")?,
        draft: InsightDraft {
            diagnosis: row.text(4, "diagnosis")?,
            plan: row.json(5, "plan")?,
            key_facts: row.json(6, "key_facts")?,
            pitfalls: row.json(7, "pitfalls")?,
            confidence: row.real(8, "confidence")?,
            reasoning: row.text(9, "reasoning")?,
        },
        smart_model: row.text(10, "smart_model")?,
        cost: Cost { usd: row.real(11, "cost_usd")? },
        created_at: row.text(12, "created_at")?,
        applied: row.count(13, "applied")?,
        succeeded: row.count(14, "succeeded")?,
        failed: row.count(15, "failed")?,
        invalidated: match row.opt_text(16, "invalidated_at")? {
            Some(at) => Some(Invalidation { at, reason: row.text(17, "invalidated_reason")? }),
            None => None,
        },
        namespace: row.opt_text(18, "namespace")?,
    })
}

/// The columns a run is read from, in [`run`]'s order; `counterfactual` is JSON text (the
/// PostgreSQL store casts its `jsonb`).
pub(crate) const RUN_FIELDS: [&str; 22] = [
    "id",
    "created_at",
    "strategy",
    "reason",
    "task_digest",
    "problem",
    "status",
    "result",
    "error",
    "insight_id",
    "cost_usd",
    "counterfactual",
    "savings",
    "latency_ms",
    "context_tokens",
    "verified",
    "shadow_of",
    "patch",
    "files_changed",
    "key_name",
    "user_name",
    "tags",
];

/// The select list of a run, with `counterfactual` read through `counterfactual` (the
/// PostgreSQL store casts its `jsonb` to text).
pub(crate) fn run_select(counterfactual: &str) -> String {
    RUN_FIELDS.map(|f| if f == "counterfactual" { counterfactual } else { f }).join(", ")
}

/// A run without its steps (they are rows of their own: [`step`]).
pub(crate) fn run(cells: &dyn Cells) -> Result<RunRecord, BadRow> {
    let mut row = Reader::new(cells, "runs");
    Ok(RunRecord {
        id: row.id(0)?,
        created_at: row.text(1, "created_at")?,
        strategy: row.name(2, "strategy")?,
        reason: row.text(3, "reason")?,
        task_digest: row.text(4, "task_digest")?,
        problem: row.text(5, "problem")?,
        status: row.name(6, "status")?,
        result: row.text(7, "result")?,
        error: row.opt_text(8, "error")?,
        insight_id: row.opt_text(9, "insight_id")?,
        cost: Cost { usd: row.real(10, "cost_usd")? },
        counterfactual: row.json::<Counterfactual>(11, "counterfactual")?,
        savings: row.real(12, "savings")?,
        latency_ms: row.real(13, "latency_ms")?,
        steps: Vec::new(),
        context_tokens: row.count(14, "context_tokens")?,
        verified: row.opt_flag(15, "verified")?,
        shadow_of: row.opt_text(16, "shadow_of")?,
        patch: row.opt_text(17, "patch")?,
        files_changed: row.json(18, "files_changed")?,
        attribution: Attribution {
            key: row.opt_text(19, "key_name")?,
            user: row.opt_text(20, "user_name")?,
            tags: row.json(21, "tags")?,
        },
    })
}

/// The columns a step is read from, in [`step`]'s order.
pub(crate) const STEP_SELECT: &str = "kind, model, prompt_tokens, completion_tokens, cost_usd, \
     latency_ms, prompt_digest, note, context_tokens, external, redactions";

/// A step of the run `run_id`.
pub(crate) fn step(cells: &dyn Cells, run_id: &str) -> Result<Step, BadRow> {
    let mut row = Reader::new(cells, "steps");
    row.id = format!("of run {run_id}");
    Ok(Step {
        kind: row.name(0, "kind")?,
        model: row.opt_text(1, "model")?,
        prompt_tokens: row.count(2, "prompt_tokens")?,
        completion_tokens: row.count(3, "completion_tokens")?,
        cost: Cost { usd: row.real(4, "cost_usd")? },
        latency_ms: row.real(5, "latency_ms")?,
        prompt_digest: row.opt_text(6, "prompt_digest")?,
        note: row.opt_text(7, "note")?,
        context_tokens: row.count(8, "context_tokens")?,
        external: row.flag(9, "external")?,
        redactions: row.count(10, "redactions")?,
    })
}

/// The columns a key is read from, in [`key`]'s order.
pub(crate) const KEY_COLUMNS: &str =
    "id, name, hash, budget_usd, spent_usd, rpm, created_at, revoked_at, namespace, admin";

pub(crate) fn key(cells: &dyn Cells) -> Result<KeyRecord, BadRow> {
    let mut row = Reader::new(cells, "keys");
    Ok(KeyRecord {
        id: row.id(0)?,
        name: row.text(1, "name")?,
        hash: row.text(2, "hash")?,
        budget_usd: row.opt_real(3, "budget_usd")?,
        spent_usd: row.real(4, "spent_usd")?,
        rpm: row
            .cells
            .opt_int(5)
            .map_err(|m| row.bad("rpm", m))?
            .map(|r| r.clamp(0, i64::from(u32::MAX)) as u32),
        created_at: row.text(6, "created_at")?,
        revoked_at: row.opt_text(7, "revoked_at")?,
        namespace: row.opt_text(8, "namespace")?,
        admin: row.flag(9, "admin")?,
    })
}

/// The columns an outcome point is read from (outcomes joined with their insights), in
/// [`outcome_point`]'s order.
pub(crate) const OUTCOME_POINT_SELECT: &str = "o.insight_id, o.run_id, i.smart_model, \
     i.confidence, o.passed, o.source, o.created_at";

pub(crate) fn outcome_point(cells: &dyn Cells) -> Result<OutcomePoint, BadRow> {
    let mut row = Reader::new(cells, "outcomes");
    let insight_id = row.text(0, "insight_id")?;
    row.id = format!("of insight {insight_id}");
    Ok(OutcomePoint {
        insight_id,
        run_id: row.opt_text(1, "run_id")?,
        smart_model: row.text(2, "smart_model")?,
        confidence: row.real(3, "confidence")?,
        passed: row.flag(4, "passed")?,
        source: row.text(5, "source")?,
        created_at: row.text(6, "created_at")?,
    })
}

/// The columns a calibration is read from, in [`calibration`]'s order.
pub(crate) const CALIBRATION_SELECT: &str = "smart_model, slope, intercept, points, fitted_at";

pub(crate) fn calibration(cells: &dyn Cells) -> Result<Calibration, BadRow> {
    let mut row = Reader::new(cells, "calibrations");
    row.id = row.text(0, "smart_model")?;
    Ok(Calibration {
        smart_model: row.id.clone(),
        slope: row.real(1, "slope")?,
        intercept: row.real(2, "intercept")?,
        points: row.count(3, "points")?,
        fitted_at: row.text(4, "fitted_at")?,
    })
}

/// The columns of the ledger's totals per day, in [`day_totals`]'s order.
pub(crate) const DAY_TOTALS_SELECT: &str =
    "SELECT day, runs, failed, cost_usd, counterfactual_usd FROM stats_days ORDER BY day DESC";

/// One day of the ledger's totals.
pub(crate) fn day_totals(cells: &dyn Cells) -> Result<(String, aimos_core::Totals), BadRow> {
    let mut row = Reader::new(cells, "stats_days");
    let day = row.id(0)?;
    Ok((
        day,
        aimos_core::Totals {
            runs: row.count(1, "runs")?,
            failed: row.count(2, "failed")?,
            cost: Cost { usd: row.real(3, "cost_usd")? },
            counterfactual: Cost { usd: row.real(4, "counterfactual_usd")? },
        },
    ))
}

/// The columns of the ledger's totals per model, in [`model_totals`]'s order, most expensive
/// first.
pub(crate) const MODEL_TOTALS_SELECT: &str = "SELECT model, calls, prompt_tokens, completion_tokens, \
     cost_usd, external_steps, context_tokens_sent, context_tokens_total, redactions FROM stats_models \
     ORDER BY cost_usd DESC, model";

/// One model's totals: what it was used for, and what was sent to it when it is external.
pub(crate) fn model_totals(
    cells: &dyn Cells,
) -> Result<(aimos_core::ModelUsage, aimos_core::Exposure), BadRow> {
    let mut row = Reader::new(cells, "stats_models");
    let model = row.id(0)?;
    Ok((
        aimos_core::ModelUsage {
            model: model.clone(),
            calls: row.count(1, "calls")?,
            prompt_tokens: row.count(2, "prompt_tokens")?,
            completion_tokens: row.count(3, "completion_tokens")?,
            cost: Cost { usd: row.real(4, "cost_usd")? },
        },
        aimos_core::Exposure {
            model,
            steps: row.count(5, "external_steps")?,
            context_tokens_sent: row.count(6, "context_tokens_sent")?,
            context_tokens_total: row.count(7, "context_tokens_total")?,
            redactions: row.count(8, "redactions")?,
        },
    ))
}

/// The ledger's totals from its rows per day and per model.
pub(crate) fn stats(
    by_day: Vec<(String, aimos_core::Totals)>,
    models: Vec<(aimos_core::ModelUsage, aimos_core::Exposure)>,
) -> aimos_core::Stats {
    let mut total = aimos_core::Totals::default();
    for (_, day) in &by_day {
        total.runs += day.runs;
        total.failed += day.failed;
        total.cost.usd += day.cost.usd;
        total.counterfactual.usd += day.counterfactual.usd;
    }
    let mut exposure: Vec<aimos_core::Exposure> =
        models.iter().filter(|(_, e)| e.steps > 0).map(|(_, e)| e.clone()).collect();
    exposure.sort_by(|a, b| a.model.cmp(&b.model));
    let by_model = models.into_iter().map(|(m, _)| m).collect();
    aimos_core::Stats { total, by_day, by_model, exposure }
}
