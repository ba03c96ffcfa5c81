//! Distill: the brief the smart model will see — the problem, a map of the context and its most
//! relevant excerpts, within the run's budget counted with the smart model's tokenizer, with
//! secrets redacted when the smart model is external. The ranking itself is aimos-context's.

use std::time::Instant;

use aimos_context::{Brief, DistillOptions, distill};

use super::{Material, Pipeline, RunOptions, count, digest, ms, redaction_note};
use crate::run::{RunRecord, Step, StepKind};

/// A brief as sent, with what it exposed of the context.
pub(super) struct Distilled {
    /// The rendered brief, exactly as the smart model receives it.
    pub text: String,
    /// Tokens of the context the brief carried.
    pub context_tokens: u64,
    /// Secrets replaced by placeholders in it.
    pub redactions: u64,
}

impl Pipeline {
    /// Distills `problem` over the run's material and records a `distill` step.
    pub(super) fn distill_phase(
        &self,
        problem: &str,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Distilled {
        let started = Instant::now();
        let redacting = options.redact.applies(self.smart.info().external);
        let brief = self.brief(problem, material, options.brief_budget, redacting);
        let note = format!("{}{}", brief.note(), redaction_note(&brief.redactions));
        let distilled = Distilled {
            context_tokens: brief.context_tokens as u64,
            redactions: brief.redactions.count() as u64,
            text: brief.render(),
        };
        record.steps.push(Step {
            redactions: distilled.redactions,
            ..Step::stage(StepKind::Distill, ms(started.elapsed()), digest(&distilled.text), note)
        });
        distilled
    }

    /// The brief, within `budget` tokens of the smart model.
    pub(super) fn brief(
        &self,
        problem: &str,
        material: &Material,
        budget: usize,
        redact: bool,
    ) -> Brief {
        distill(problem, &material.index, &DistillOptions { budget, redact }, &|text| {
            count(&*self.smart, text)
        })
    }
}
