//! Consult: the smart model reads the brief alone and answers with an insight under a JSON
//! schema (an invalid answer is retried once, with the reason); the insight is stored with its
//! provenance before anything else runs, so a crash later never loses a paid-for consultation.

use super::distill::Distilled;
use super::recall::Claimed;
use super::{Pipeline, PipelineError, RunOptions, Task, fingerprint};
use crate::chat::{ChatRequest, ChatResponse, Message, ResponseFormat};
use crate::ids::{new_id, now_rfc3339};
use crate::insight::{Insight, InsightDraft};
use crate::prompts;
use crate::run::{RunRecord, StepKind};

/// Most tokens of a consultant's answer: room for the longest insight the schema allows.
const INSIGHT_MAX_TOKENS: u32 = 2048;

/// What a consultation (or a recall standing in for one) leaves for the rest of the run.
pub(super) struct Consulted {
    /// The insight as the executor reads it.
    pub guidance: String,
    /// The smart model's (prompt, generation) tokens per second, when it was called.
    pub rates: Option<(f64, f64)>,
    /// The brief as sent.
    pub brief: String,
    /// Tokens of the context the brief carried.
    pub context_tokens: u64,
}

impl Pipeline {
    /// Consults on `brief` — or recalls the insight another run is making from it — and returns
    /// the guidance for the executor. The run's `insight_id` names the insight.
    pub(super) async fn consult_phase(
        &self,
        task: &Task,
        brief: Distilled,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<Consulted, PipelineError> {
        let namespace = options.namespace.as_deref();
        let claimed = self.claim_or_wait(&task.problem, &brief.text, namespace, record).await?;
        let (insight, rates) = match claimed {
            Claimed::Recalled(insight) => (*insight, None),
            Claimed::Mine(key) => {
                let consult_from = record.steps.len();
                let outcome = self.consult(task, &brief.text, namespace, record).await;
                let _ = self.store.release(&key, &record.id);
                // Every consult attempt carried the brief's excerpts of the context.
                for step in record.steps[consult_from..].iter_mut().filter(|s| s.model.is_some()) {
                    step.context_tokens = brief.context_tokens;
                    step.redactions = brief.redactions;
                }
                let (insight, rates) = outcome?;
                if let Some(embedder) = &options.embedder {
                    self.remember_meaning(&insight, &**embedder)?;
                }
                (insight, Some(rates))
            }
        };
        record.insight_id = Some(insight.id.clone());
        Ok(Consulted {
            guidance: insight.as_guidance(),
            rates,
            brief: brief.text,
            context_tokens: brief.context_tokens,
        })
    }

    /// Stores the embedding of the insight's problem, by which later problems that mean the
    /// same find it. An embedding model that fails leaves the insight to be found by its words.
    fn remember_meaning(
        &self,
        insight: &Insight,
        embedder: &dyn crate::dense::Embed,
    ) -> Result<(), PipelineError> {
        if let Ok(Some(vector)) = embedder.embed(&[&insight.problem]).map(|mut v| v.pop()) {
            self.store.put_insight_embedding(&insight.id, embedder.id(), &vector)?;
        }
        Ok(())
    }

    /// Asks the smart model about `brief`, retrying once with the reason an answer was invalid;
    /// stores and returns the insight with the speeds the smart model showed.
    async fn consult(
        &self,
        task: &Task,
        brief: &str,
        namespace: Option<&str>,
        record: &mut RunRecord,
    ) -> Result<(Insight, (f64, f64)), PipelineError> {
        let model = &*self.smart;
        let mut messages = vec![Message::system(prompts::CONSULTANT_SYSTEM), Message::user(brief)];
        let mut last_reason = String::new();
        for attempt in 0..2 {
            let request = ChatRequest {
                messages: messages.clone(),
                max_tokens: Some(INSIGHT_MAX_TOKENS),
                temperature: Some(0.0),
                response_format: Some(ResponseFormat::JsonSchema {
                    name: "insight".into(),
                    schema: InsightDraft::schema(),
                }),
                ..ChatRequest::default()
            };
            let note =
                (attempt > 0).then(|| format!("retry after an invalid answer: {last_reason}"));
            let call = self.call("smart", model, request, StepKind::Consult, note, None).await?;
            record.steps.push(call.step.clone());
            match InsightDraft::parse(&call.response.content) {
                Ok(draft) => {
                    let insight = Insight {
                        id: new_id(),
                        fingerprint: fingerprint(&task.problem),
                        problem: task.problem.clone(),
                        brief: brief.to_owned(),
                        draft,
                        smart_model: call.response.model.clone(),
                        cost: record
                            .steps
                            .iter()
                            .filter(|s| s.kind == StepKind::Consult)
                            .map(|s| s.cost)
                            .sum(),
                        created_at: now_rfc3339(),
                        applied: 1,
                        succeeded: 0,
                        failed: 0,
                        invalidated: None,
                        namespace: namespace.map(str::to_owned),
                    };
                    self.store.put_insight(&insight)?;
                    return Ok((insight, rates(&call.response)));
                }
                Err(reason) => {
                    messages.push(Message::assistant(call.response.content));
                    messages.push(Message::user(format!(
                        "That answer is invalid: {reason}. Answer again with only the JSON object."
                    )));
                    last_reason = reason;
                }
            }
        }
        Err(PipelineError::InvalidInsight {
            model: model.info().id.clone(),
            reason: last_reason,
            run_id: record.id.clone(),
        })
    }
}

/// (prompt tokens/s, generation tokens/s) of a call, for latency estimates.
pub(super) fn rates(response: &ChatResponse) -> (f64, f64) {
    let usage = &response.usage;
    let prompt = response.timings.prompt_tokens_per_second(usage).unwrap_or(f64::INFINITY);
    let generation = response.timings.generation_tokens_per_second(usage).unwrap_or(f64::INFINITY);
    (prompt, generation)
}
