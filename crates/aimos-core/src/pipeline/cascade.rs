//! The `cascade` strategy: the cheap model alone, checked; on a failure, a consultation on the
//! brief plus the failure and a second cheap attempt with the insight; if that fails too, the
//! smart model does the work from the brief and both failures. In edit mode each stage is an
//! attempt loop of its own (`edit.rs`) in the run's scratch copy.

use aimos_context::Workspace;

use super::execute::{Execution, View};
use super::{Material, Pipeline, PipelineError, RunOptions, Task};
use crate::run::{RunRecord, StepKind};
use crate::verify::Verdict;

impl Pipeline {
    /// Runs the cascade. Every attempt and verdict is a step; the run's `verified` is the last
    /// verdict.
    pub(super) async fn cascade(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        mut workspace: Option<&mut Workspace>,
        record: &mut RunRecord,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<String, PipelineError> {
        let verifier = options.verifier.clone().ok_or(PipelineError::NoVerifier)?;
        record.reason = format!("cascade, checked by {}", verifier.describe());

        let first = Execution::new("cheap", &*self.cheap, task, material.view(options, false))
            .noted("cascade 1/3: the cheap model alone");
        let (first, verdict) =
            self.attempt(workspace.as_deref_mut(), first, options, record).await?;
        let verdict = checked(verdict);
        if verdict.passed {
            record.verified = Some(true);
            record.counterfactual =
                self.estimated_counterfactual(task, material, options, &first.response, None);
            on_delta(&first.response.content);
            return Ok(first.response.content);
        }

        // A fresh consultation, not a recall: the failure is news that no stored insight has
        // seen. The problem is all the distiller reads of this task; the context is `material`'s.
        let escalated = format!(
            "{}\n\nA first attempt failed its check ({}):\n{}",
            task.problem,
            verifier.describe(),
            verdict.evidence
        );
        let brief = self.distill_phase(&escalated, material, options, record);
        let escalated = Task { problem: escalated, context: Vec::new() };
        let consulted = self.consult_phase(&escalated, brief, record).await?;
        let second = Execution {
            guidance: Some(&consulted.guidance),
            ..Execution::new("cheap", &*self.cheap, task, material.view(options, true))
                .noted("cascade 2/3: the cheap model with the insight")
        };
        let (second, verdict) =
            self.attempt(workspace.as_deref_mut(), second, options, record).await?;
        let verdict = checked(verdict);
        self.insight_outcome(record, &*verifier, &verdict)?;
        if verdict.passed {
            record.verified = Some(true);
            record.counterfactual = self.estimated_counterfactual(
                task,
                material,
                options,
                &second.response,
                consulted.rates,
            );
            on_delta(&second.response.content);
            return Ok(second.response.content);
        }

        // The smart model works from the brief, which already carries the first failure.
        let from_brief = Task {
            problem: format!(
                "{}\n\nA second attempt, guided by a consultant, failed its check too:\n{}",
                consulted.brief, verdict.evidence
            ),
            context: Vec::new(),
        };
        let third = Execution::new("smart", &*self.smart, &from_brief, View::Whole(&[]))
            .noted("cascade 3/3: the smart model from the brief");
        let from = record.steps.len();
        let (third, verdict) = self.attempt(workspace, third, options, record).await?;
        // What the smart model read of the context is the brief's excerpts.
        for step in record.steps[from..].iter_mut().filter(|s| s.kind == StepKind::Execute) {
            step.context_tokens = consulted.context_tokens;
        }
        record.verified = Some(checked(verdict).passed);
        record.counterfactual = self.estimated_counterfactual(
            task,
            material,
            options,
            &third.response,
            consulted.rates,
        );
        on_delta(&third.response.content);
        Ok(third.response.content)
    }
}

/// A cascade always has a check, so every attempt has a verdict.
fn checked(verdict: Option<Verdict>) -> Verdict {
    verdict.expect("a cascade's attempts are checked: it refuses to start without a verifier")
}
