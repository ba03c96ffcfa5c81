//! Accounting: what the smart model alone would have cost (the counterfactual every run
//! carries), the savings against it, and the token estimates the policy prices strategies with.
//! A counterfactual is measured when the smart model really did the task alone, and estimated
//! otherwise; an estimate says so (`latency_measured: false`).

use super::execute::{Execution, execution_request};
use super::{Call, Material, Pipeline, RunOptions, Task, count};
use crate::chat::{ChatResponse, Usage};
use crate::price::Cost;
use crate::run::Counterfactual;

/// Token figures for prompts and answers not yet written, used to price strategies before any
/// model runs. Each is a round number near what the ledger shows for this kind of call.
pub(super) mod estimate {
    /// A system prompt, headings and the closing instruction around a brief or a context.
    pub const PROMPT_FRAME: u64 = 200;
    /// An insight: the JSON a consultant answers with (diagnosis, a short plan, facts, pitfalls).
    pub const INSIGHT: u64 = 600;
    /// The reuse check's question beside the brief: the earlier problem and its advice.
    pub const REUSE_QUESTION: u64 = 300;
    /// A yes-or-no answer with a one-sentence reason.
    pub const YES_NO_ANSWER: u64 = 60;
    /// With no past result to go by, a result is taken to use this fraction (1/N) of its cap.
    pub const UNSEEN_RESULT_FRACTION: u64 = 4;
    /// Runs the smart model did alone before their answers' length stands in for the smart
    /// model's answer in an estimated counterfactual.
    pub const MIN_MEASURED: usize = 3;
    /// How many of the newest runs are searched for them.
    pub const MEASURED_HISTORY: usize = 200;
}

/// Fraction of the counterfactual cost saved (negative when the run cost more; 0 without a
/// counterfactual).
pub fn savings(cost: Cost, counterfactual: Cost) -> f64 {
    if counterfactual.usd > 0.0 { 1.0 - cost.usd / counterfactual.usd } else { 0.0 }
}

impl Pipeline {
    /// The median completion tokens of the newest runs the smart model did alone in the same
    /// mode (edit mode or text), when the ledger holds enough of them.
    fn smart_answer_tokens(&self, edit: bool) -> Option<u64> {
        let runs = self.store.runs(estimate::MEASURED_HISTORY, 0).ok()?;
        let mut measured: Vec<u64> = runs
            .iter()
            .filter(|r| {
                r.strategy == crate::run::Strategy::Smart
                    && r.counterfactual.latency_measured
                    && r.error.is_none()
                    && r.steps.iter().any(|s| {
                        s.note.as_deref().is_some_and(|n| n.contains(super::edit::ATTEMPT_NOTE))
                    }) == edit
            })
            .map(|r| r.counterfactual.completion_tokens)
            .collect();
        if measured.len() < estimate::MIN_MEASURED {
            return None;
        }
        measured.sort_unstable();
        Some(measured[measured.len() / 2])
    }

    /// The counterfactual of a run the smart model did alone: what it did cost.
    pub(super) fn measured_counterfactual(&self, call: &Call) -> Counterfactual {
        Counterfactual {
            model: self.smart.info().id.clone(),
            cost: call.step.cost,
            prompt_tokens: call.step.prompt_tokens,
            completion_tokens: call.response.usage.completion_tokens,
            latency_ms: call.step.latency_ms,
            latency_measured: true,
        }
    }

    /// What the smart model alone would have cost: the prompt it would have been sent, counted
    /// with its own tokenizer, and the completion it would have written, estimated from what it
    /// really wrote when it did tasks of the same mode alone (the median of the newest such
    /// runs in the ledger; the final answer's length until there are
    /// [`MIN_MEASURED`](estimate::MIN_MEASURED) of them); latency from the smart model's
    /// observed speed when it was called, else the executor's. Always an estimate
    /// (`latency_measured: false`).
    pub(super) fn estimated_counterfactual(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        answer: &ChatResponse,
        smart_rates: Option<(f64, f64)>,
    ) -> Counterfactual {
        let alone = Execution {
            edit: options.edit.is_some(),
            ..Execution::new("smart", &*self.smart, task, material.whole())
        };
        let (request, _) = execution_request(&alone, options.max_result_tokens);
        let prompt_tokens =
            request.messages.iter().map(|m| count(&*self.smart, &m.content)).sum::<usize>() as u64;
        let completion_tokens = self
            .smart_answer_tokens(options.edit.is_some())
            .unwrap_or(answer.usage.completion_tokens);
        let usage = Usage { prompt_tokens, completion_tokens, ..Usage::default() };
        let (prompt_rate, gen_rate) = smart_rates.unwrap_or_else(|| super::consult::rates(answer));
        Counterfactual {
            model: self.smart.info().id.clone(),
            cost: self.smart.info().price.cost(&usage),
            prompt_tokens,
            completion_tokens,
            latency_ms: 1000.0
                * (prompt_tokens as f64 / prompt_rate + completion_tokens as f64 / gen_rate),
            latency_measured: false,
        }
    }
}
