//! Shadow checks: after a live run, the smart model alone does the same task and judges whether
//! the live result holds up against its own. Callers decide when ([`shadow_sampled`]); the
//! shadow is a run of its own, an outcome for the live run's insight, and an observation for
//! `auto`.

use std::time::Instant;

use sha2::{Digest, Sha256};

use super::execute::Execution;
use super::{Material, Pipeline, PipelineError, RunOptions, Task, redact_request};
use crate::ids::now_rfc3339;
use crate::prompts;
use crate::reuse;
use crate::run::{RunRecord, RunStatus, StepKind, Strategy};
use crate::store::Outcome;
use crate::yes_no::YesNo;

/// The shadow judge's question: does the live result hold up?
const HOLDS: YesNo = YesNo { name: "shadow_verdict", field: "passed" };

/// Whether the run `run_id` gets a shadow check at `rate` (0 to 1): decided by the run's id,
/// so that every replica decides alike and no random source is needed.
pub fn shadow_sampled(run_id: &str, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let hash = Sha256::digest(run_id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(head) as f64 / u64::MAX as f64) < rate
}

impl Pipeline {
    /// A shadow check of the live run `live`: the smart model alone does the same task, then
    /// judges — seeing the problem and the two results, never the context — whether the live
    /// result holds up against its own. It is recorded as a run of its own (strategy `smart`,
    /// `shadow_of` the live run, `verified` the judgement), which the policy learns from as an
    /// outcome of the live run's strategy; the judgement also counts for the live run's
    /// insight, and so for calibration. `None` when the live run was the smart model's anyway.
    pub async fn shadow(
        &self,
        task: &Task,
        live: &RunRecord,
        options: &RunOptions,
    ) -> Result<Option<RunRecord>, PipelineError> {
        if live.strategy == Strategy::Smart || live.status != RunStatus::Succeeded {
            return Ok(None);
        }
        let started = Instant::now();
        let options = RunOptions {
            strategy: Strategy::Smart,
            run_id: None,
            verifier: None,
            ..options.clone()
        };
        let mut record = self.new_record(task, &options);
        record.shadow_of = Some(live.id.clone());
        record.reason = format!("shadow check of run {} ({})", live.id, live.strategy);
        let material = Material::new(task);
        let outcome = self.shadow_steps(task, &material, live, &options, &mut record).await;
        self.finish(record, started, outcome).map(Some)
    }

    async fn shadow_steps(
        &self,
        task: &Task,
        material: &Material,
        live: &RunRecord,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<String, PipelineError> {
        let own = Execution::new("smart", &*self.smart, task, material.whole())
            .noted(format!("shadow of run {}", live.id));
        let call = self.execute_phase(own, options).await?;
        record.steps.push(call.step.clone());
        record.counterfactual = self.measured_counterfactual(&call);
        let question = format!(
            "Problem:\n{}\n\nReference result:\n{}\n\nResult to judge:\n{}\n\n\
             Is the result to judge as correct and complete as the reference?",
            task.problem.trim(),
            call.response.content.trim(),
            live.result.trim()
        );
        let mut request = HOLDS.request(prompts::SHADOW_SYSTEM, question);
        let redactions = redact_request(&mut request, options.redact, &*self.smart).count() as u64;
        let mut judged =
            self.call("smart", &*self.smart, request, StepKind::Verify, None, None).await?;
        let (holds, reason) = HOLDS.read(&judged.response.content, "the judge");
        judged.step.note = Some(format!(
            "{} against the smart model's own result: {reason}",
            if holds { "the live result holds up" } else { "the live result falls short" }
        ));
        judged.step.redactions = redactions;
        record.steps.push(judged.step);
        record.verified = Some(holds);
        if let Some(insight_id) = &live.insight_id
            && let Some(updated) = self.store.record_outcome(&Outcome {
                insight_id: insight_id.clone(),
                run_id: Some(live.id.clone()),
                passed: holds,
                source: format!("shadow: {}", judged.response.model),
                note: (!holds).then(|| reason.chars().take(500).collect()),
                created_at: now_rfc3339(),
            })?
        {
            reuse::age(&*self.store, &updated, holds)?;
        }
        Ok(call.response.content)
    }
}
