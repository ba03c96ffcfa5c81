//! Decide: `auto` resolves to a concrete strategy before any model is called, from the task's
//! features, the stored insights that match it, the ledger's outcomes and each strategy's
//! estimated dollars. The model itself (`policy.rs`) holds no state; this phase reads the
//! newest stretch of the ledger on every decision, so replicas sharing a store agree.

use std::time::Instant;

use super::accounting::estimate;
use super::{Pipeline, PipelineError, RunOptions, Task, count, digest, ms};
use crate::model::Model;
use crate::policy;
use crate::reuse::ReuseCheck;
use crate::run::{RunRecord, Step, StepKind, Strategy};

/// How many of the newest runs and outcomes `auto` learns from.
const POLICY_HISTORY: usize = 500;

impl Pipeline {
    /// Picks a strategy, records a `decide` step, and names the run after the choice.
    pub(super) fn decide(
        &self,
        task: &Task,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<Strategy, PipelineError> {
        let started = Instant::now();
        let runs = self.store.runs(POLICY_HISTORY, 0)?;
        let feedback = self.store.outcome_points(POLICY_HISTORY)?;
        let seen = policy::observations(&runs, &feedback);
        let kind = policy::Kind::of(&task.problem, record.context_tokens);
        let recall = if options.reuse.check == ReuseCheck::Never {
            None
        } else {
            self.reuse_candidates(&task.problem, options)?
                .first()
                .map(|c| policy::RecallMatch { matched: c.matched, success: c.success })
        };
        let costs = self.costs(task, options, &runs, record.context_tokens);
        let decision =
            policy::decide(kind, recall, &seen, &costs, &options.goal, options.verifier.is_some());
        record.steps.push(Step::stage(
            StepKind::Decide,
            ms(started.elapsed()),
            digest(&task.problem),
            decision.note(),
        ));
        record.strategy = decision.strategy;
        record.reason = decision.reason;
        Ok(decision.strategy)
    }

    /// Dollars each strategy would spend on `task`, estimated from the models' prices, the
    /// context's size and how long past results were (`accounting::estimate` names each
    /// token figure).
    fn costs(
        &self,
        task: &Task,
        options: &RunOptions,
        history: &[RunRecord],
        context_tokens: u64,
    ) -> policy::Costs {
        let mut lengths: Vec<u64> = history
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|s| s.kind == StepKind::Execute)
            .map(|s| s.completion_tokens)
            .collect();
        lengths.sort_unstable();
        let result = lengths
            .get(lengths.len() / 2)
            .copied()
            .unwrap_or(u64::from(options.max_result_tokens) / estimate::UNSEEN_RESULT_FRACTION)
            .min(u64::from(options.max_result_tokens));
        let problem = count(&*self.smart, &task.problem) as u64;
        let price = |model: &dyn Model, prompt: u64, completion: u64| {
            let window = model.info().context_window.map_or(u64::MAX, u64::from);
            let usage = crate::chat::Usage {
                prompt_tokens: prompt.min(window),
                completion_tokens: completion,
                ..crate::chat::Usage::default()
            };
            model.info().price.cost(&usage).usd
        };
        let brief = options.brief_budget as u64 + estimate::PROMPT_FRAME;
        // The problem appears twice in an executor's prompt: before the context and after it.
        let full = context_tokens + 2 * problem + estimate::PROMPT_FRAME;
        let check = brief + estimate::REUSE_QUESTION;
        policy::Costs {
            cheap_execute: price(&*self.cheap, full, result),
            smart_execute: price(&*self.smart, full, result),
            consult: price(&*self.smart, brief, estimate::INSIGHT),
            reuse_check: match options.reuse.check {
                ReuseCheck::Cheap => price(&*self.cheap, check, estimate::YES_NO_ANSWER),
                ReuseCheck::Judge => price(&*self.smart, check, estimate::YES_NO_ANSWER),
                ReuseCheck::Off | ReuseCheck::Never => 0.0,
            },
            smart_from_brief: price(&*self.smart, brief + estimate::INSIGHT, result),
        }
    }
}
