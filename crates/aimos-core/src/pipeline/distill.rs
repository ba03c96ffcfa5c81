//! Distill: the brief the smart model will see — the problem, a map of the context and its most
//! relevant excerpts, within the run's budget counted with the smart model's tokenizer, with
//! secrets redacted when the smart model is external. The ranking itself is aimos-context's.

use std::time::Instant;

use aimos_context::{Brief, DistillOptions, Hints, Rerank, distill_dense};

use super::{
    Material, Pipeline, PipelineError, RunOptions, count, digest, ms, redact_request,
    redaction_note,
};
use crate::expand;
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
    /// Distills `problem` over the run's material and records a `distill` step (with the
    /// tokens of the cheap model's guesses, when the run expands the query).
    pub(super) async fn distill_phase(
        &self,
        problem: &str,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<Distilled, PipelineError> {
        let started = Instant::now();
        let redacting = options.redact.applies(self.smart.info().external);
        let (hints, call) =
            if options.expand_query && material.index.chunk_count() > 0 && !names_code(problem) {
                let mut request = expand::request(problem);
                let redactions = redact_request(&mut request, options.redact, &*self.cheap);
                let mut call = self
                    .call("cheap", &*self.cheap, request, StepKind::Distill, None, None)
                    .await?;
                call.step.redactions = redactions.count() as u64;
                (expand::read(&call.response.content), Some(call))
            } else {
                (Hints::default(), None)
            };
        let embedder = options.embedder.as_deref();
        let brief =
            self.brief(problem, &hints, material, options.brief_budget, redacting, embedder);
        let mut note = format!("{}{}", brief.note(), redaction_note(&brief.redactions));
        if let Some(embedder) = embedder
            && material.index.chunk_count() > 1
            && aimos_context::anchor::frames(problem).is_empty()
        {
            note.push_str(&format!("; excerpts re-ranked by meaning with {}", embedder.id()));
        }
        if call.is_some() {
            note.push_str(&format!("; {} guessed by the cheap model", expand::describe(&hints)));
        }
        let distilled = Distilled {
            context_tokens: brief.context_tokens as u64,
            redactions: brief.redactions.count() as u64,
            text: brief.render(),
        };
        let stage =
            Step::stage(StepKind::Distill, ms(started.elapsed()), digest(&distilled.text), note);
        record.steps.push(match call {
            // The guesses' tokens and cost, with the stage's account of the brief.
            Some(call) => Step {
                latency_ms: stage.latency_ms,
                prompt_digest: stage.prompt_digest,
                note: stage.note,
                redactions: distilled.redactions + call.step.redactions,
                ..call.step
            },
            None => Step { redactions: distilled.redactions, ..stage },
        });
        Ok(distilled)
    }

    /// The brief, within `budget` tokens of the smart model.
    pub(super) fn brief(
        &self,
        problem: &str,
        hints: &Hints,
        material: &Material,
        budget: usize,
        redact: bool,
        embedder: Option<&dyn crate::dense::Embed>,
    ) -> Brief {
        distill_dense(
            problem,
            hints,
            &material.index,
            &DistillOptions { budget, redact },
            &|text| count(&*self.smart, text),
            embedder.map(Rerank::new),
        )
    }
}

/// Whether a problem names code itself: a trace, a path, an identifier or a quoted message.
fn names_code(problem: &str) -> bool {
    use aimos_context::anchor;
    !anchor::frames(problem).is_empty()
        || !anchor::paths(problem).is_empty()
        || !anchor::identifiers(problem).is_empty()
        || !anchor::quotes(problem).is_empty()
}
