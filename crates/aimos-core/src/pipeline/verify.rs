//! Verify: a verifier judges a result and its verdict becomes a step; a verdict on a result an
//! insight guided is that insight's outcome, which may age older insights out of recall. The
//! verifiers themselves live in `crate::verify`.

use std::time::Instant;

use super::{Pipeline, PipelineError, Task, digest, ms};
use crate::ids::now_rfc3339;
use crate::reuse;
use crate::run::{RunRecord, Step, StepKind};
use crate::store::Outcome;
use crate::verify::{Verdict, Verifier};

/// Lines of a failure's evidence quoted in the verify step's note (the last ones).
const NOTE_EVIDENCE_LINES: usize = 3;

impl Pipeline {
    /// Runs the verifier on a result and records its verdict as a step.
    pub(super) async fn verify_phase(
        &self,
        verifier: &dyn Verifier,
        task: &Task,
        result: &str,
        record: &mut RunRecord,
    ) -> Result<Verdict, PipelineError> {
        let started = Instant::now();
        let verdict = verifier.verify(&task.problem, result).await?;
        let mut note =
            format!("{} {}", if verdict.passed { "passed" } else { "failed" }, verifier.describe());
        if !verdict.passed {
            let last: Vec<&str> =
                verdict.evidence.lines().rev().take(NOTE_EVIDENCE_LINES).collect();
            let shown: Vec<&str> = last.into_iter().rev().collect();
            note.push_str(&format!(": {}", shown.join(" / ")));
        }
        let mut step = Step::stage(StepKind::Verify, ms(started.elapsed()), digest(result), note);
        if let Some(spent) = &verdict.spent {
            step.model = Some(spent.model.clone());
            step.prompt_tokens = spent.prompt_tokens;
            step.completion_tokens = spent.completion_tokens;
            step.cost = spent.cost;
            step.external = spent.external;
        }
        record.steps.push(step);
        Ok(verdict)
    }

    /// A verdict on a result that an insight guided counts for (or against) that insight.
    /// An insight that keeps failing leaves recall, and one that worked supersedes older ones
    /// for the same problem that did not (`reuse::age`); the verify step's note says so.
    pub(super) fn insight_outcome(
        &self,
        record: &mut RunRecord,
        verifier: &dyn Verifier,
        verdict: &Verdict,
    ) -> Result<(), PipelineError> {
        let Some(insight_id) = &record.insight_id else { return Ok(()) };
        let updated = self.store.record_outcome(&Outcome {
            insight_id: insight_id.clone(),
            run_id: Some(record.id.clone()),
            passed: verdict.passed,
            source: verifier.describe(),
            note: (!verdict.passed).then(|| verdict.evidence.chars().take(500).collect()),
            created_at: now_rfc3339(),
        })?;
        let Some(updated) = updated else { return Ok(()) };
        let aged = reuse::age(&*self.store, &updated, verdict.passed)?;
        if let Some(step) = record.steps.iter_mut().rev().find(|s| s.kind == StepKind::Verify) {
            for (id, reason) in aged {
                let note = step.note.get_or_insert_with(String::new);
                note.push_str(&format!("; insight {id} invalidated: {reason}"));
            }
        }
        Ok(())
    }
}
