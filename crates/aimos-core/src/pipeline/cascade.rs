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
    /// verdict. `asked` is the task in the user's own words, which the last stage says again.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn cascade(
        &self,
        task: &Task,
        asked: &str,
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
            "{}\n\n{}",
            task.problem,
            failure_report(
                record.patch.as_deref(),
                "A first attempt",
                &verifier.describe(),
                &verdict
            )
        );
        let brief = self.distill_phase(&escalated, material, options, record).await?;
        let escalated = Task { problem: escalated, context: Vec::new() };
        let consulted = self.consult_phase(&escalated, brief, options, record).await?;
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

        // The smart model works from the brief, which already carries the first failure. The
        // task is said again last, as every executor's request ends with it: after the
        // excerpts and the failures, a model otherwise tends to edit whatever it read last.
        let counter = |text: &str| super::count(&*self.smart, text);
        let (restated, _) = aimos_context::fit_problem(asked, RESTATED_TOKENS, &counter);
        let from_brief = Task {
            problem: format!(
                "{}\n\n{}\n\nThe task, again:\n{restated}",
                consulted.brief,
                failure_report(
                    record.patch.as_deref(),
                    "A second attempt, guided by a consultant,",
                    &verifier.describe(),
                    &verdict
                )
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

/// Most tokens of the task that the last stage's request says again at its end (a long report
/// keeps its start and, mostly, its end).
const RESTATED_TOKENS: usize = 256;

/// Most characters of a failed attempt's patch that an escalation quotes (its head).
const PATCH_CHARS: usize = 1500;

/// How a failed attempt is told to the next stage. In edit mode the check's output belongs to
/// the attempt's patch, which was undone: the report shows that patch, so that failures it
/// caused are not taken for the tree's own.
fn failure_report(patch: Option<&str>, attempt: &str, check: &str, verdict: &Verdict) -> String {
    match patch {
        Some(diff) => {
            let shown: String = diff.chars().take(PATCH_CHARS).collect();
            let cut = if shown.len() < diff.len() { "\n[…]" } else { "" };
            format!(
                "{attempt} made this change, which was undone (do not make it again):\n\
                 {shown}{cut}\nWith it, the check ({check}) failed:\n{}",
                verdict.evidence
            )
        }
        None => format!("{attempt} failed its check ({check}):\n{}", verdict.evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undone_patch_is_shown_with_the_failures_it_caused() {
        let verdict = Verdict::new(false, "FAILED (failures=3)".to_owned());
        let plain = failure_report(None, "A first attempt", "`make test`", &verdict);
        assert_eq!(plain, "A first attempt failed its check (`make test`):\nFAILED (failures=3)");
        let patch = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n";
        let edited = failure_report(Some(patch), "A first attempt", "`make test`", &verdict);
        assert!(edited.starts_with(
            "A first attempt made this change, which was undone (do not make it again):\n--- a/x.py"
        ));
        assert!(edited.ends_with("With it, the check (`make test`) failed:\nFAILED (failures=3)"));
        let patch = format!("--- a/x.py\n{}", "+b\n".repeat(1000));
        let long = failure_report(Some(&patch), "A first attempt", "`make test`", &verdict);
        assert!(long.contains("\n[…]\nWith it") && long.len() < 2000, "{}", long.len());
    }
}
