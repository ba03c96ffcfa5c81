//! Advise: the consultation alone, for a caller that executes itself (an agent calling aimos as
//! a tool). Distill, recall or consult, record — no executor and no check; the caller reports
//! how the advice worked with an outcome on the insight or the run.

use std::time::Instant;

use super::{Material, Pipeline, PipelineError, RunOptions, Task};
use crate::chat::{ChatResponse, FinishReason, Timings, Usage};
use crate::insight::Insight;
use crate::reuse::ReuseCheck;
use crate::run::{RunRecord, StepKind, Strategy};
use crate::store::StoreError;

/// What [`Pipeline::advise`] returns: the insight, whether a stored one stood in for a
/// consultation, and the run as recorded in the ledger.
#[derive(Debug, Clone)]
pub struct Advice {
    pub insight: Insight,
    /// True when no consultation was paid for: a stored insight was recalled, or another run
    /// consulting on the same brief made it.
    pub recalled: bool,
    pub run: RunRecord,
}

/// The reason an advice run carries in the ledger; `policy::observations` leaves these runs
/// out, since the executor that followed the advice was the caller, not the cheap model.
pub const ADVICE_REASON: &str = "advice only: the caller executes";

impl Pipeline {
    /// Distills the task, recalls a stored insight or consults the smart model on the brief,
    /// and records the run (strategy `consult`, no execute step, the guidance as its result).
    pub async fn advise(&self, task: &Task, options: &RunOptions) -> Result<Advice, PipelineError> {
        if task.problem.trim().is_empty() {
            return Err(PipelineError::EmptyProblem);
        }
        let started = Instant::now();
        let options = RunOptions {
            strategy: Strategy::Consult,
            verifier: None,
            edit: None,
            ..options.clone()
        };
        let mut record = self.new_record(task, &options);
        record.reason = ADVICE_REASON.into();
        let material = Material::new(task);
        let outcome = self.advise_steps(task, &material, &options, &mut record).await;
        let record = self.finish(record, started, outcome)?;
        let id = record.insight_id.clone().unwrap_or_default();
        let insight = self.store.insight(&id)?.ok_or_else(|| {
            PipelineError::Store(StoreError::Backend {
                location: "the store".into(),
                message: format!("the insight {id} of run {} is not in it", record.id),
            })
        })?;
        let recalled = !record.steps.iter().any(|s| s.kind == StepKind::Consult);
        Ok(Advice { insight, recalled, run: record })
    }

    async fn advise_steps(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<String, PipelineError> {
        let brief = self.distill_phase(&task.problem, material, options, record).await?;
        let recalled = if options.reuse.check == ReuseCheck::Never {
            None
        } else {
            self.recall_phase(task, options, &brief, record).await?
        };
        let consulted = match recalled {
            Some(recalled) => recalled,
            None => self.consult_phase(task, brief, options, record).await?,
        };
        // The smart model alone would have read the whole context and answered about as long
        // as the advice.
        let answer = ChatResponse {
            model: self.smart.info().id.clone(),
            content: String::new(),
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                completion_tokens: super::count(&*self.smart, &consulted.guidance) as u64,
                ..Usage::default()
            },
            timings: Timings::default(),
        };
        record.counterfactual =
            self.estimated_counterfactual(task, material, options, &answer, consulted.rates);
        Ok(consulted.guidance)
    }
}

impl Advice {
    /// The advice as aimos's tools and REST API return it: the insight's fields, its id, the
    /// run's id, whether it was recalled, its track record and what it cost beside the smart
    /// model alone.
    pub fn to_json(&self) -> serde_json::Value {
        let insight = &self.insight;
        let run = &self.run;
        serde_json::json!({
            "insight_id": insight.id,
            "run_id": run.id,
            "recalled": self.recalled,
            "diagnosis": insight.draft.diagnosis,
            "plan": insight.draft.plan,
            "key_facts": insight.draft.key_facts,
            "pitfalls": insight.draft.pitfalls,
            "confidence": insight.draft.confidence,
            "reasoning": insight.draft.reasoning,
            "smart_model": insight.smart_model,
            "track_record": {"succeeded": insight.succeeded, "failed": insight.failed},
            "cost": run.spend_json(),
        })
    }
}
