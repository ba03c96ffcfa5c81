//! The pipeline for one task: distill → consult → store → execute → record.
//!
//! Strategies: `cheap` and `smart` run one model on the full context (the baselines); `consult`
//! asks the smart model about a brief only, stores its insight, and has the cheap model do the
//! work with the full context plus the insight. Every model call becomes a step in the ledger, and
//! every run carries the smart-only counterfactual: what the smart model alone would have cost.
//! `auto` asks the policy (`policy.rs`) which of them to run; verifiers (`verify.rs`) judge
//! results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aimos_context::{
    Brief, DistillOptions, Document, Index, Packed, RedactPolicy, Redacted, count_tokens, distill,
    file_relevance, focus, pack_ranked, redact,
};
use sha2::{Digest, Sha256};

use crate::chat::{ChatRequest, ChatResponse, Message, ResponseFormat, Usage};
use crate::insight::{Insight, InsightDraft};
use crate::model::{Model, ModelError};
use crate::policy::{self, Goal};
use crate::price::Cost;
use crate::reuse::{self, Candidate, ReuseCheck, ReusePolicy};
use crate::run::{Counterfactual, RunRecord, RunStatus, Step, StepKind, Strategy};
use crate::store::{Outcome, Store, StoreError};
use crate::verify::{Verdict, Verifier, VerifyError};

/// One task: a problem and the material it is about.
#[derive(Debug, Clone, Default)]
pub struct Task {
    pub problem: String,
    pub context: Vec<Document>,
}

/// Knobs of one run.
#[derive(Clone)]
pub struct RunOptions {
    pub strategy: Strategy,
    /// Most tokens of the brief the smart model sees when consulted.
    pub brief_budget: usize,
    /// Most tokens of the result.
    pub max_result_tokens: u32,
    /// Most tokens of context an executor reads when an insight guides it: the distiller's
    /// excerpts within this budget instead of whole files. `None`: whole files, as many as the
    /// executor's window holds (as without an insight).
    pub guided_context: Option<usize>,
    /// The run's id, where the caller must know it before the run ends (a gateway sends it
    /// in a header before the answer streams); a new UUIDv7 otherwise.
    pub run_id: Option<String>,
    /// Which models get text with its secrets replaced by typed placeholders.
    pub redact: RedactPolicy,
    /// Checks the result: every strategy records its verdict; `cascade` escalates on it.
    pub verifier: Option<Arc<dyn Verifier>>,
    /// When a stored insight stands in for a consultation.
    pub reuse: ReusePolicy,
    /// What `auto` aims for: a quality target, a cost cap.
    pub goal: Goal,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("strategy", &self.strategy)
            .field("brief_budget", &self.brief_budget)
            .field("max_result_tokens", &self.max_result_tokens)
            .field("guided_context", &self.guided_context)
            .field("run_id", &self.run_id)
            .field("redact", &self.redact)
            .field("verifier", &self.verifier.as_ref().map(|v| v.describe()))
            .field("reuse", &self.reuse)
            .field("goal", &self.goal)
            .finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            strategy: Strategy::Consult,
            brief_budget: 1024,
            max_result_tokens: 1024,
            guided_context: None,
            run_id: None,
            redact: RedactPolicy::External,
            verifier: None,
            reuse: ReusePolicy::default(),
            goal: Goal::default(),
        }
    }
}

/// The models and the store a pipeline works with.
#[derive(Clone)]
pub struct Pipeline {
    pub smart: Arc<dyn Model>,
    pub cheap: Arc<dyn Model>,
    pub store: Arc<dyn Store>,
}

/// Why a run failed. A failed run is still recorded in the ledger when the store allows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("the problem is empty; say what you need done")]
    EmptyProblem,
    #[error("{role} model {model} failed")]
    Model {
        role: &'static str,
        model: String,
        #[source]
        source: ModelError,
    },
    #[error(
        "the smart model {model} did not answer with a valid insight, twice: {reason}; \
         try a stronger smart model"
    )]
    InvalidInsight { model: String, reason: String, run_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the cascade strategy needs a verifier to decide when to escalate: pass --verify COMMAND \
         (or --verify-regex PATTERN)"
    )]
    NoVerifier,
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

const CONSULTANT_SYSTEM: &str = "You are a senior engineer consulted on a problem. You see only a \
short brief, not the whole codebase or document set. Another, less capable model will do the \
work with the material and your guidance; it follows a few short, exact steps best. Plan for the \
result the problem asks for, and nothing more: no tests, examples or explanations it does not \
ask for. Answer with a JSON object: a diagnosis, a plan of concrete steps for the executor, the \
key facts it must not miss, pitfalls to avoid, your confidence from 0 to 1 that the plan solves \
the problem, and brief reasoning.";

const EXECUTOR_SYSTEM: &str = "You are an engineer doing the work described by the user, using \
the context provided. Be concrete and complete; answer with the result itself.";

const EXECUTOR_WITH_INSIGHT_SYSTEM: &str = "You are an engineer doing the work described by the \
user, using the context provided. A senior consultant has studied the problem and left guidance: \
follow its plan, keep its key facts in mind and avoid its pitfalls. Be concrete and complete; \
answer with the result itself, and add nothing the task does not ask for (no example calls, \
tests or printed output unless it asks for them).";

const SHADOW_SYSTEM: &str = "You compare two results for the same problem: a reference \
from a strong model, and a result to judge. You see the problem and both results, not the \
material they were made from. It passes if it is as correct and complete as the reference for \
what the problem asks (wording may differ); it fails if it is wrong, incomplete, or misses \
something the reference gets right. Answer with a JSON object.";

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

/// Tokens kept free for chat-template markup around the messages.
const TEMPLATE_OVERHEAD: usize = 64;

struct Call {
    response: ChatResponse,
    step: Step,
}

/// The task's context, indexed once per run: the distiller and every packing of the context
/// share it.
struct Material {
    index: Index,
    /// Relevance of each document to the task's problem.
    relevance: Vec<f64>,
}

impl Material {
    fn new(task: &Task) -> Material {
        let index = Index::from_documents(&task.context);
        let relevance = file_relevance(&task.problem, &index);
        Material { index, relevance }
    }

    /// How an executor reads this context: focused when an insight guides it and the options
    /// ask for it, whole files otherwise.
    fn view(&self, options: &RunOptions, guided: bool) -> View<'_> {
        match options.guided_context {
            Some(budget) if guided => View::Focus(&self.index, budget),
            _ => View::Whole(&self.relevance),
        }
    }
}

/// How an executor reads the context.
#[derive(Clone, Copy)]
enum View<'a> {
    /// Whole files, most relevant first (by these relevances), as many as its window holds.
    Whole(&'a [f64]),
    /// The distiller's excerpts within this many tokens (or what the window holds, if less).
    Focus(&'a Index, usize),
}

/// What a consultation leaves for the rest of the run.
struct Consulted {
    guidance: String,
    /// The smart model's (prompt, generation) tokens per second, when it was called.
    rates: Option<(f64, f64)>,
    /// The brief as sent.
    brief: String,
    /// Tokens of the context the brief carried.
    context_tokens: u64,
}

impl Pipeline {
    /// Runs `task` to the end and records it. The returned record is already in the store.
    pub async fn run(&self, task: &Task, options: &RunOptions) -> Result<RunRecord, PipelineError> {
        self.run_streaming(task, options, &|_| {}).await
    }

    /// [`run`](Pipeline::run), handing each piece of the result to `on_delta` as the executor
    /// writes it (the consultation, if any, is over before the first piece).
    pub async fn run_streaming(
        &self,
        task: &Task,
        options: &RunOptions,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<RunRecord, PipelineError> {
        if task.problem.trim().is_empty() {
            return Err(PipelineError::EmptyProblem);
        }
        let started = Instant::now();
        let mut record = self.new_record(task, options);
        let material = Material::new(task);
        let outcome = self.run_steps(task, &material, options, &mut record, on_delta).await;
        self.finish(record, started, outcome)
    }

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
        let call = self
            .execute_phase(
                "smart",
                &*self.smart,
                task,
                View::Whole(&material.relevance),
                None,
                options,
                Some(format!("shadow of run {}", live.id)),
                None,
            )
            .await?;
        record.steps.push(call.step.clone());
        record.counterfactual = self.measured_counterfactual(&call);
        let question = format!(
            "Problem:\n{}\n\nReference result:\n{}\n\nResult to judge:\n{}\n\n\
             Is the result to judge as correct and complete as the reference?",
            task.problem.trim(),
            call.response.content.trim(),
            live.result.trim()
        );
        let mut request = ChatRequest {
            messages: vec![Message::system(SHADOW_SYSTEM), Message::user(question)],
            max_tokens: Some(256),
            temperature: Some(0.0),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "shadow_verdict".into(),
                schema: crate::verify::yes_no_schema("passed"),
            }),
            ..ChatRequest::default()
        };
        let redactions = redact_request(&mut request, options.redact, &*self.smart).count() as u64;
        let mut judged =
            self.call("smart", &*self.smart, request, StepKind::Verify, None, None).await?;
        let (holds, reason) = crate::verify::yes_no(&judged.response.content, "passed")
            .unwrap_or((false, "the judge did not answer in the expected form".into()));
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

    /// Totals, savings and status of a finished run, and its ledger entry.
    fn finish(
        &self,
        mut record: RunRecord,
        started: Instant,
        outcome: Result<String, PipelineError>,
    ) -> Result<RunRecord, PipelineError> {
        record.latency_ms = ms(started.elapsed());
        record.cost = record.steps.iter().map(|s| s.cost).sum();
        record.savings = savings(record.cost, record.counterfactual.cost);
        match outcome {
            Ok(result) => {
                record.status = RunStatus::Succeeded;
                record.result = result;
                self.store.record_run(&record)?;
                Ok(record)
            }
            Err(err) => {
                record.error = Some(crate::error_chain(&err));
                // The failure is worth a ledger entry, but the original error matters more.
                let _ = self.store.record_run(&record);
                Err(err)
            }
        }
    }

    /// A run not yet started: failed until it succeeds.
    fn new_record(&self, task: &Task, options: &RunOptions) -> RunRecord {
        RunRecord {
            id: options.run_id.clone().unwrap_or_else(new_id),
            created_at: now_rfc3339(),
            strategy: options.strategy,
            reason: "chosen by the caller".into(),
            task_digest: task_digest(task),
            problem: task.problem.clone(),
            status: RunStatus::Failed,
            result: String::new(),
            error: None,
            insight_id: None,
            cost: Cost::default(),
            counterfactual: Counterfactual {
                model: self.smart.info().id.clone(),
                cost: Cost::default(),
                prompt_tokens: 0,
                completion_tokens: 0,
                latency_ms: 0.0,
                latency_measured: false,
            },
            savings: 0.0,
            latency_ms: 0.0,
            steps: Vec::new(),
            verified: None,
            shadow_of: None,
            context_tokens: task
                .context
                .iter()
                .map(|doc| count(&*self.smart, &doc.text) as u64)
                .sum(),
        }
    }

    async fn run_steps(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<String, PipelineError> {
        let decided;
        let options = if options.strategy == Strategy::Auto {
            let mut chosen = options.clone();
            chosen.strategy = self.decide(task, options, record)?;
            decided = chosen;
            &decided
        } else {
            options
        };
        if options.strategy == Strategy::Cascade {
            return self.cascade(task, material, options, record, on_delta).await;
        }
        let mut guidance = None;
        let mut smart_rates = None;
        if options.strategy == Strategy::Consult {
            let consulted = self.consult_phase(task, material, options, record, true).await?;
            smart_rates = consulted.rates;
            guidance = Some(consulted.guidance);
        }
        let (executor, role) = match options.strategy {
            Strategy::Smart => (Arc::clone(&self.smart), "smart"),
            _ => (Arc::clone(&self.cheap), "cheap"),
        };
        let call = self
            .execute_phase(
                role,
                &*executor,
                task,
                material.view(options, guidance.is_some()),
                guidance.as_deref(),
                options,
                None,
                Some(on_delta),
            )
            .await?;
        record.steps.push(call.step.clone());
        if let Some(verifier) = &options.verifier {
            let verdict =
                self.verify_phase(&**verifier, task, &call.response.content, record).await?;
            record.verified = Some(verdict.passed);
            self.insight_outcome(record, &**verifier, &verdict)?;
        }
        record.counterfactual = if options.strategy == Strategy::Smart {
            self.measured_counterfactual(&call)
        } else {
            self.estimated_counterfactual(task, material, options, &call.response, smart_rates)
        };
        Ok(call.response.content)
    }

    /// `cascade`: the cheap model alone; if its result fails the verifier, a consultation on the
    /// brief plus the failure, and the cheap model again with the insight; if that fails too,
    /// the smart model does the work from the brief and both failures. Every attempt and verdict
    /// is a step; the run's `verified` is the last verdict.
    async fn cascade(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<String, PipelineError> {
        let verifier = options.verifier.clone().ok_or(PipelineError::NoVerifier)?;
        record.reason = format!("cascade, checked by {}", verifier.describe());

        let note = Some("cascade 1/3: the cheap model alone".to_owned());
        let first = self
            .execute_phase(
                "cheap",
                &*self.cheap,
                task,
                View::Whole(&material.relevance),
                None,
                options,
                note,
                None,
            )
            .await?;
        record.steps.push(first.step.clone());
        let verdict = self.verify_phase(&*verifier, task, &first.response.content, record).await?;
        if verdict.passed {
            record.verified = Some(true);
            record.counterfactual =
                self.estimated_counterfactual(task, material, options, &first.response, None);
            on_delta(&first.response.content);
            return Ok(first.response.content);
        }

        let escalated = Task {
            problem: format!(
                "{}\n\nA first attempt failed its check ({}):\n{}",
                task.problem,
                verifier.describe(),
                verdict.evidence
            ),
            // The problem is all the consultation reads of it; the context is `material`'s.
            context: Vec::new(),
        };
        // A fresh consultation: the failure is news that no stored insight has seen.
        let consulted = self.consult_phase(&escalated, material, options, record, false).await?;
        let note = Some("cascade 2/3: the cheap model with the insight".to_owned());
        let second = self
            .execute_phase(
                "cheap",
                &*self.cheap,
                task,
                material.view(options, true),
                Some(&consulted.guidance),
                options,
                note,
                None,
            )
            .await?;
        record.steps.push(second.step.clone());
        let verdict = self.verify_phase(&*verifier, task, &second.response.content, record).await?;
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
        let brief = Task {
            problem: format!(
                "{}\n\nA second attempt, guided by a consultant, failed its check too:\n{}",
                consulted.brief, verdict.evidence
            ),
            context: Vec::new(),
        };
        let note = Some("cascade 3/3: the smart model from the brief".to_owned());
        let mut third = self
            .execute_phase(
                "smart",
                &*self.smart,
                &brief,
                View::Whole(&[]),
                None,
                options,
                note,
                None,
            )
            .await?;
        third.step.context_tokens = consulted.context_tokens;
        record.steps.push(third.step.clone());
        let verdict = self.verify_phase(&*verifier, task, &third.response.content, record).await?;
        record.verified = Some(verdict.passed);
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

    /// Distills the task, reuses a stored insight when the policy allows (and `reuse` is set),
    /// else consults on the brief (or recalls an insight being made from it), and returns the
    /// guidance for the executor.
    async fn consult_phase(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        record: &mut RunRecord,
        reuse: bool,
    ) -> Result<Consulted, PipelineError> {
        let distill_started = Instant::now();
        let redacting = options.redact.applies(self.smart.info().external);
        let brief = self.distill(&task.problem, &material.index, options.brief_budget, redacting);
        let note = format!("{}{}", brief.note(), redaction_note(&brief.redactions));
        let (context_tokens, redactions) =
            (brief.context_tokens as u64, brief.redactions.count() as u64);
        let brief = brief.render();
        record.steps.push(Step {
            redactions,
            ..Step::stage(StepKind::Distill, ms(distill_started.elapsed()), digest(&brief), note)
        });
        if reuse
            && options.reuse.check != ReuseCheck::Never
            && let Some(guidance) =
                self.reuse(task, options, &brief, context_tokens, record).await?
        {
            return Ok(Consulted { guidance, rates: None, brief, context_tokens });
        }
        let consult_from = record.steps.len();
        let (insight, rates) = self.consult_once(task, &brief, record).await?;
        // Every consult attempt carried the brief's excerpts of the context.
        for step in record.steps[consult_from..].iter_mut().filter(|s| s.model.is_some()) {
            step.context_tokens = context_tokens;
            step.redactions = redactions;
        }
        record.insight_id = Some(insight.id.clone());
        Ok(Consulted { guidance: insight.as_guidance(), rates, brief, context_tokens })
    }

    /// A stored insight for this problem, if one matches closely, has a good enough record, and
    /// (under the policy's check) a model confirms it applies; its guidance then stands in for
    /// a consultation. The check, or the reuse, is a `recall` step.
    async fn reuse(
        &self,
        task: &Task,
        options: &RunOptions,
        brief: &str,
        context_tokens: u64,
        record: &mut RunRecord,
    ) -> Result<Option<String>, PipelineError> {
        let Some(best) = self.reuse_candidates(&task.problem, &options.reuse)?.into_iter().next()
        else {
            return Ok(None);
        };
        let why = format!(
            "insight {} (match {:.2}, success estimate {:.2})",
            best.insight.id, best.matched, best.success
        );
        let checker = match options.reuse.check {
            ReuseCheck::Cheap => Some(("cheap", Arc::clone(&self.cheap))),
            ReuseCheck::Judge => Some(("smart", Arc::clone(&self.smart))),
            ReuseCheck::Off | ReuseCheck::Never => None,
        };
        let applies = match checker {
            None => {
                record.steps.push(Step::stage(
                    StepKind::Recall,
                    0.0,
                    digest(&best.insight.brief),
                    format!("reused {why} without a check"),
                ));
                true
            }
            Some((role, model)) => {
                let question = format!(
                    "New problem:\n{brief}\n\nEarlier problem:\n{}\n\nAdvice given for the earlier problem:\n{}\nDoes this advice apply to the new problem?",
                    best.insight.problem.trim(),
                    best.insight.as_guidance()
                );
                let mut request = ChatRequest {
                    messages: vec![Message::system(reuse::CHECK_SYSTEM), Message::user(question)],
                    max_tokens: Some(256),
                    temperature: Some(0.0),
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: "reuse_check".into(),
                        schema: crate::verify::yes_no_schema("applies"),
                    }),
                    ..ChatRequest::default()
                };
                let redactions =
                    redact_request(&mut request, options.redact, &*model).count() as u64;
                let mut call =
                    self.call(role, &*model, request, StepKind::Recall, None, None).await?;
                let (applies, reason) = crate::verify::yes_no(&call.response.content, "applies")
                    .unwrap_or((false, "the check did not answer in the expected form".into()));
                call.step.note = Some(if applies {
                    format!("reused {why}: {} confirmed it applies ({reason})", call.response.model)
                } else {
                    format!(
                        "did not reuse {why}: {} found it does not apply ({reason})",
                        call.response.model
                    )
                });
                call.step.context_tokens = context_tokens;
                call.step.redactions = redactions;
                record.steps.push(call.step);
                applies
            }
        };
        if !applies {
            return Ok(None);
        }
        record.insight_id = Some(best.insight.id.clone());
        record.reason = format!("{}; reused {why}", record.reason);
        Ok(Some(best.insight.as_guidance()))
    }

    /// `auto`: picks a strategy from the task's features and the ledger's outcomes, records a
    /// `decide` step, and names the run after the choice.
    fn decide(
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
            self.reuse_candidates(&task.problem, &options.reuse)?
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
    /// context's size and how long past results were.
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
            .unwrap_or(u64::from(options.max_result_tokens) / 4)
            .min(u64::from(options.max_result_tokens));
        let problem = count(&*self.smart, &task.problem) as u64;
        let price = |model: &dyn Model, prompt: u64, completion: u64| {
            let window = model.info().context_window.map_or(u64::MAX, u64::from);
            let usage = Usage {
                prompt_tokens: prompt.min(window),
                completion_tokens: completion,
                ..Usage::default()
            };
            model.info().price.cost(&usage).usd
        };
        let brief = options.brief_budget as u64 + 200;
        let full = context_tokens + 2 * problem + 200;
        policy::Costs {
            cheap_execute: price(&*self.cheap, full, result),
            smart_execute: price(&*self.smart, full, result),
            consult: price(&*self.smart, brief, 600),
            reuse_check: match options.reuse.check {
                ReuseCheck::Cheap => price(&*self.cheap, brief + 300, 60),
                ReuseCheck::Judge => price(&*self.smart, brief + 300, 60),
                ReuseCheck::Off | ReuseCheck::Never => 0.0,
            },
            smart_from_brief: price(&*self.smart, brief + 600, result),
        }
    }

    /// Stored insights that may stand in for a consultation on `problem`, best first.
    fn reuse_candidates(
        &self,
        problem: &str,
        policy: &ReusePolicy,
    ) -> Result<Vec<Candidate>, PipelineError> {
        let mut stored = self.store.insights_by_fingerprint(&digest(&normalise(problem)))?;
        for insight in self.store.insights(Some(problem), 20, 0)? {
            if !stored.iter().any(|s| s.id == insight.id) {
                stored.push(insight);
            }
        }
        let calibrations = self.store.calibrations()?;
        Ok(reuse::candidates(problem, stored, policy, &calibrations))
    }

    /// One model does the task: the context packed into its window (plus the guidance),
    /// redacted when the model is external under the run's policy.
    #[allow(clippy::too_many_arguments)]
    async fn execute_phase(
        &self,
        role: &'static str,
        executor: &dyn Model,
        task: &Task,
        view: View<'_>,
        guidance: Option<&str>,
        options: &RunOptions,
        note: Option<String>,
        on_delta: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Call, PipelineError> {
        let (mut request, packed) =
            execution_request(executor, task, view, guidance, options.max_result_tokens);
        let mut notes: Vec<String> = note.into_iter().chain(packed.note()).collect();
        let redacted = redact_request(&mut request, options.redact, executor);
        let redactions = redacted.count() as u64;
        if redactions > 0 {
            notes.push(redaction_note(&redacted).trim_start_matches("; ").to_owned());
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let mut call =
            self.call(role, executor, request, StepKind::Execute, note, on_delta).await?;
        call.step.context_tokens = packed.tokens as u64;
        call.step.redactions = redactions;
        Ok(call)
    }

    /// Runs the verifier on a result and records its verdict as a step.
    async fn verify_phase(
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
            let first_lines: Vec<&str> = verdict.evidence.lines().rev().take(3).collect();
            let shown: Vec<&str> = first_lines.into_iter().rev().collect();
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
    fn insight_outcome(
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

    /// The counterfactual of a run the smart model did alone: what it did cost.
    fn measured_counterfactual(&self, call: &Call) -> Counterfactual {
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
    /// with its own tokenizer, and as many completion tokens as the final answer took; latency
    /// from the smart model's observed speed when it was called, else the executor's.
    fn estimated_counterfactual(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        answer: &ChatResponse,
        smart_rates: Option<(f64, f64)>,
    ) -> Counterfactual {
        let (request, _) = execution_request(
            &*self.smart,
            task,
            View::Whole(&material.relevance),
            None,
            options.max_result_tokens,
        );
        let prompt_tokens =
            request.messages.iter().map(|m| count(&*self.smart, &m.content)).sum::<usize>() as u64;
        let completion_tokens = answer.usage.completion_tokens;
        let usage = Usage { prompt_tokens, completion_tokens, ..Usage::default() };
        let (prompt_rate, gen_rate) = smart_rates.unwrap_or_else(|| rates(answer));
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

    /// The brief: the problem, a map of the context, and its most relevant excerpts, within the
    /// budget counted with the smart model's tokenizer.
    fn distill(&self, problem: &str, index: &Index, budget: usize, redact: bool) -> Brief {
        distill(problem, index, &DistillOptions { budget, redact }, &|text| {
            count(&*self.smart, text)
        })
    }

    /// Consults, unless another run (in this process or another sharing the store) is already
    /// consulting on the same brief: then waits for its insight and recalls it. A claim in the
    /// store decides who consults; if its holder fails or vanishes, a waiting run takes over.
    async fn consult_once(
        &self,
        task: &Task,
        brief: &str,
        record: &mut RunRecord,
    ) -> Result<(Insight, Option<(f64, f64)>), PipelineError> {
        let fingerprint = digest(&normalise(&task.problem));
        let key = format!("consult:{}", digest(brief));
        let since = now_rfc3339();
        let started = Instant::now();
        let mut waited = false;
        loop {
            if self.store.claim(&key, &record.id, CLAIM_TTL)? {
                if waited && let Some(insight) = self.fresh_insight(&fingerprint, brief, &since)? {
                    let _ = self.store.release(&key, &record.id);
                    return Ok((recalled(insight, record, started), None));
                }
                let outcome = self.consult(task, brief, record).await;
                let _ = self.store.release(&key, &record.id);
                return outcome.map(|(insight, rates)| (insight, Some(rates)));
            }
            waited = true;
            if let Some(insight) = self.fresh_insight(&fingerprint, brief, &since)? {
                return Ok((recalled(insight, record, started), None));
            }
            sleep(CLAIM_POLL).await;
        }
    }

    /// An insight made from exactly `brief` since `since`.
    fn fresh_insight(
        &self,
        fingerprint: &str,
        brief: &str,
        since: &str,
    ) -> Result<Option<Insight>, PipelineError> {
        Ok(self
            .store
            .insights_by_fingerprint(fingerprint)?
            .into_iter()
            .find(|i| i.brief == brief && i.created_at.as_str() >= since))
    }

    /// Asks the smart model about `brief`, retrying once with the reason an answer was invalid;
    /// stores and returns the insight with the speeds the smart model showed.
    async fn consult(
        &self,
        task: &Task,
        brief: &str,
        record: &mut RunRecord,
    ) -> Result<(Insight, (f64, f64)), PipelineError> {
        let model = &*self.smart;
        let mut messages = vec![Message::system(CONSULTANT_SYSTEM), Message::user(brief)];
        let mut last_reason = String::new();
        for attempt in 0..2 {
            let request = ChatRequest {
                messages: messages.clone(),
                // Room for the longest answer the schema allows.
                max_tokens: Some(2048),
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
                        fingerprint: digest(&normalise(&task.problem)),
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

    async fn call(
        &self,
        role: &'static str,
        model: &dyn Model,
        request: ChatRequest,
        kind: StepKind,
        note: Option<String>,
        on_delta: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Call, PipelineError> {
        let prompt_digest = digest(
            &request.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\u{1f}"),
        );
        let started = Instant::now();
        let answer = match on_delta {
            Some(on_delta) => model.chat_stream(request).collect(on_delta).await,
            None => model.chat(request).await,
        };
        let response = answer.map_err(|source| PipelineError::Model {
            role,
            model: model.info().id.clone(),
            source,
        })?;
        let step = Step {
            kind,
            // The model that answered: behind a fallback list it may not be the first one.
            model: Some(response.model.clone()),
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
            cost: model.price_of(&response.model).cost(&response.usage),
            latency_ms: ms(started.elapsed()),
            prompt_digest: Some(prompt_digest),
            note,
            context_tokens: 0,
            external: model.info().external,
            redactions: 0,
        };
        Ok(Call { response, step })
    }
}

/// The request that has `model` do the task: the context, as `view` says, in what its window
/// leaves.
fn execution_request(
    model: &dyn Model,
    task: &Task,
    view: View<'_>,
    guidance: Option<&str>,
    max_tokens: u32,
) -> (ChatRequest, Packed) {
    let system = if guidance.is_some() { EXECUTOR_WITH_INSIGHT_SYSTEM } else { EXECUTOR_SYSTEM };
    let tail = match guidance {
        Some(guidance) => format!(
            "Guidance from the consultant:\n{guidance}\nTask:\n{}\n\n\
             Answer the task now, using the context and following the guidance.",
            task.problem
        ),
        None => format!("Task:\n{}\n\nAnswer the task now, using the context.", task.problem),
    };
    let window = model.info().context_window.map_or(usize::MAX, |w| w as usize);
    let fixed = count(model, system)
        + count(model, &tail)
        + count(model, &task.problem)
        + max_tokens as usize
        + TEMPLATE_OVERHEAD;
    let room = window.saturating_sub(fixed);
    let counter = |t: &str| count(model, t);
    let packed = match view {
        View::Whole(relevance) => pack_ranked(&task.context, relevance, room, &counter),
        View::Focus(index, budget) => focus(&task.problem, index, budget.min(room), &counter),
    };
    // The task comes first too, so that the context is read with it in mind.
    let user = if packed.text.is_empty() {
        tail
    } else {
        format!("Task:\n{}\n\nContext:\n{}\n{tail}", task.problem, packed.text)
    };
    let request = ChatRequest {
        messages: vec![Message::system(system), Message::user(user)],
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    (request, packed)
}

fn count(model: &dyn Model, text: &str) -> usize {
    model.count_tokens(text).unwrap_or_else(|| count_tokens(text))
}

/// (prompt tokens/s, generation tokens/s) of a call, for latency estimates.
fn rates(response: &ChatResponse) -> (f64, f64) {
    let usage = &response.usage;
    let prompt = response.timings.prompt_tokens_per_second(usage).unwrap_or(f64::INFINITY);
    let generation = response.timings.generation_tokens_per_second(usage).unwrap_or(f64::INFINITY);
    (prompt, generation)
}

fn savings(cost: Cost, counterfactual: Cost) -> f64 {
    if counterfactual.usd > 0.0 { 1.0 - cost.usd / counterfactual.usd } else { 0.0 }
}

/// How many of the newest runs and outcomes `auto` learns from.
const POLICY_HISTORY: usize = 500;

/// How long a claim to consult lasts: longer than any consultation, so that only a holder
/// that vanished lets it lapse.
const CLAIM_TTL: Duration = Duration::from_secs(300);

/// How often a run waiting for another's consultation looks again.
const CLAIM_POLL: Duration = Duration::from_millis(200);

/// Replaces the secrets in every message of `request` when `policy` applies to `model`;
/// returns what was replaced (nothing when it does not apply).
fn redact_request(request: &mut ChatRequest, policy: RedactPolicy, model: &dyn Model) -> Redacted {
    let mut all = Redacted::default();
    if !policy.applies(model.info().external) {
        return all;
    }
    for message in &mut request.messages {
        let redacted = redact(&message.content);
        for (kind, n) in redacted.found {
            all.add(kind, n);
        }
        message.content = redacted.text;
    }
    all
}

/// `; 3 secrets redacted (aws_access_key ×2, jwt ×1)`, or nothing.
fn redaction_note(redacted: &Redacted) -> String {
    if redacted.count() == 0 {
        return String::new();
    }
    let kinds: Vec<String> = redacted.found.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    let n = redacted.count();
    format!("; {n} secret{} redacted ({})", if n == 1 { "" } else { "s" }, kinds.join(", "))
}

/// The step of a run that waited for another run's insight instead of paying for its own.
fn recalled(insight: Insight, record: &mut RunRecord, started: Instant) -> Insight {
    record.steps.push(Step::stage(
        StepKind::Recall,
        ms(started.elapsed()),
        digest(&insight.brief),
        format!(
            "waited for insight {} that another run was making from the same brief",
            insight.id
        ),
    ));
    insight
}

/// Sleeps without tying the pipeline to an async runtime.
fn sleep(duration: Duration) -> impl Future<Output = ()> {
    on_thread(move || std::thread::sleep(duration))
}

/// Runs blocking `work` on a thread of its own and completes with its value, waking the task
/// that waits for it; no async runtime is needed.
pub(crate) fn on_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = T> {
    struct Shared<T> {
        value: Option<T>,
        waker: Option<std::task::Waker>,
    }
    let shared = Arc::new(std::sync::Mutex::new(Shared { value: None, waker: None }));
    let mut work = Some(work);
    std::future::poll_fn(move |cx| {
        let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = state.value.take() {
            return std::task::Poll::Ready(value);
        }
        state.waker = Some(cx.waker().clone());
        drop(state);
        if let Some(work) = work.take() {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let value = work();
                let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
                state.value = Some(value);
                if let Some(waker) = state.waker.take() {
                    waker.wake();
                }
            });
        }
        std::task::Poll::Pending
    })
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn digest(text: &str) -> String {
    crate::hex(&Sha256::digest(text.as_bytes()))
}

fn task_digest(task: &Task) -> String {
    let mut hasher = Sha256::new();
    hasher.update(task.problem.as_bytes());
    for doc in &task.context {
        hasher.update([0x1f]);
        hasher.update(doc.path.as_bytes());
        hasher.update([0x1e]);
        hasher.update(doc.text.as_bytes());
    }
    crate::hex(&hasher.finalize())
}

/// A new UUIDv7, as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time, RFC 3339 in UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::chat::{ChatEvent, FinishReason, Timings};
    use crate::model::{ChatStream, ModelInfo};
    use crate::price::Price;
    use std::sync::Mutex;

    /// A test double of `Model` that answers with scripted texts, in order.
    struct ScriptedModel {
        info: ModelInfo,
        answers: Mutex<Vec<String>>,
        requests: Mutex<Vec<ChatRequest>>,
    }

    impl ScriptedModel {
        fn new(id: &str, price: f64, answers: &[&str]) -> Arc<ScriptedModel> {
            Arc::new(ScriptedModel {
                info: ModelInfo {
                    external: false,
                    id: id.into(),
                    context_window: Some(4096),
                    price: Price {
                        input_per_mtok: price,
                        cached_input_per_mtok: price,
                        output_per_mtok: price * 4.0,
                        cache_write_input_per_mtok: None,
                    },
                },
                answers: Mutex::new(answers.iter().rev().map(|a| a.to_string()).collect()),
                requests: Mutex::new(Vec::new()),
            })
        }
    }

    impl Model for ScriptedModel {
        fn info(&self) -> &ModelInfo {
            &self.info
        }

        fn chat_stream(&self, request: ChatRequest) -> ChatStream {
            let prompt_tokens: usize =
                request.messages.iter().map(|m| aimos_context::estimate_tokens(&m.content)).sum();
            self.requests.lock().expect("lock").push(request);
            let content = self.answers.lock().expect("lock").pop().unwrap_or_default();
            let response = ChatResponse {
                tool_calls: Vec::new(),
                model: self.info.id.clone(),
                usage: Usage {
                    prompt_tokens: prompt_tokens as u64,
                    completion_tokens: aimos_context::estimate_tokens(&content) as u64,
                    ..Usage::default()
                },
                content,
                finish_reason: FinishReason::Stop,
                timings: Timings {
                    prompt: std::time::Duration::from_millis(100),
                    generation: std::time::Duration::from_millis(400),
                    ..Timings::default()
                },
            };
            ChatStream::new(Events(vec![Ok(ChatEvent::Done(response))]))
        }
    }

    struct Events(Vec<Result<ChatEvent, ModelError>>);

    impl futures_core::Stream for Events {
        type Item = Result<ChatEvent, ModelError>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
        }
    }

    /// A test double of `Store` that keeps everything in memory.
    #[derive(Default)]
    struct MemoryStore {
        insights: Mutex<Vec<Insight>>,
        runs: Mutex<Vec<RunRecord>>,
        claims: Mutex<std::collections::HashMap<String, String>>,
        outcomes: Mutex<Vec<Outcome>>,
        calibrations: Mutex<Vec<crate::store::Calibration>>,
    }

    impl Store for MemoryStore {
        fn put_insight(&self, insight: &Insight) -> Result<(), StoreError> {
            self.insights.lock().expect("lock").push(insight.clone());
            Ok(())
        }
        fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
            Ok(self.insights.lock().expect("lock").iter().find(|i| i.id == id).cloned())
        }
        fn insights(
            &self,
            _: Option<&str>,
            _: usize,
            _: usize,
        ) -> Result<Vec<Insight>, StoreError> {
            Ok(self.insights.lock().expect("lock").clone())
        }
        fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
            self.runs.lock().expect("lock").push(run.clone());
            Ok(())
        }
        fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
            Ok(self.runs.lock().expect("lock").iter().find(|r| r.id == id).cloned())
        }
        fn runs(&self, _: usize, _: usize) -> Result<Vec<RunRecord>, StoreError> {
            Ok(self.runs.lock().expect("lock").clone())
        }
        fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError> {
            self.outcomes.lock().expect("lock").push(outcome.clone());
            let mut insights = self.insights.lock().expect("lock");
            let found = insights.iter_mut().find(|i| i.id == outcome.insight_id);
            Ok(found.map(|insight| {
                if outcome.passed {
                    insight.succeeded += 1
                } else {
                    insight.failed += 1
                }
                insight.clone()
            }))
        }
        fn stats(&self) -> Result<crate::store::Stats, StoreError> {
            Ok(crate::store::Stats::default())
        }
        fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError> {
            let mut found: Vec<Insight> = self
                .insights
                .lock()
                .expect("lock")
                .iter()
                .filter(|i| i.fingerprint == fingerprint)
                .cloned()
                .collect();
            found.reverse();
            Ok(found)
        }
        fn claim(&self, key: &str, holder: &str, _: Duration) -> Result<bool, StoreError> {
            let mut claims = self.claims.lock().expect("lock");
            match claims.get(key) {
                Some(other) if other != holder => Ok(false),
                _ => {
                    claims.insert(key.to_owned(), holder.to_owned());
                    Ok(true)
                }
            }
        }
        fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
            let mut claims = self.claims.lock().expect("lock");
            if claims.get(key).is_some_and(|h| h == holder) {
                claims.remove(key);
            }
            Ok(())
        }
        // Keys are the gateway's business; the pipeline never touches them.
        fn create_key(&self, _: &crate::store::KeyRecord) -> Result<(), StoreError> {
            Ok(())
        }
        fn key_by_hash(&self, _: &str) -> Result<Option<crate::store::KeyRecord>, StoreError> {
            Ok(None)
        }
        fn keys(&self) -> Result<Vec<crate::store::KeyRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn add_key_spend(&self, _: &str, _: f64) -> Result<f64, StoreError> {
            Ok(0.0)
        }
        fn revoke_key(&self, _: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
            let mut insights = self.insights.lock().expect("lock");
            let Some(insight) = insights.iter_mut().find(|i| i.id == id && i.invalidated.is_none())
            else {
                return Ok(false);
            };
            insight.invalidated =
                Some(crate::insight::Invalidation { at: now_rfc3339(), reason: reason.into() });
            Ok(true)
        }
        fn outcome_points(
            &self,
            limit: usize,
        ) -> Result<Vec<crate::store::OutcomePoint>, StoreError> {
            let insights = self.insights.lock().expect("lock");
            let outcomes = self.outcomes.lock().expect("lock");
            Ok(outcomes
                .iter()
                .rev()
                .filter_map(|o| {
                    let insight = insights.iter().find(|i| i.id == o.insight_id)?;
                    Some(crate::store::OutcomePoint {
                        insight_id: o.insight_id.clone(),
                        run_id: o.run_id.clone(),
                        smart_model: insight.smart_model.clone(),
                        confidence: insight.draft.confidence,
                        passed: o.passed,
                        source: o.source.clone(),
                        created_at: o.created_at.clone(),
                    })
                })
                .take(limit)
                .collect())
        }
        fn put_calibration(&self, c: &crate::store::Calibration) -> Result<(), StoreError> {
            let mut all = self.calibrations.lock().expect("lock");
            all.retain(|old| old.smart_model != c.smart_model);
            all.push(c.clone());
            Ok(())
        }
        fn calibrations(&self) -> Result<Vec<crate::store::Calibration>, StoreError> {
            Ok(self.calibrations.lock().expect("lock").clone())
        }
    }

    const GOOD: &str = r#"{"diagnosis":"the loop reads one past the end","plan":["change <= to <"],"key_facts":["len is 3"],"pitfalls":[],"confidence":0.8,"reasoning":"index 3 of 3"}"#;

    fn task() -> Task {
        Task {
            problem: "index out of bounds: the len is 3 but the index is 3".into(),
            context: vec![Document {
                path: "src/lib.rs".into(),
                text: "for i in 0..=v.len() { v[i] }".into(),
            }],
        }
    }

    #[test]
    fn a_run_waits_for_another_consulting_on_the_same_brief_and_recalls_its_insight() {
        // The smart model has no answer: consulting here would fail the run.
        let smart = ScriptedModel::new("smart", 3.0, &[]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline =
            Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
        let index = Index::from_documents(&task().context);
        let brief = pipeline
            .distill(&task().problem, &index, RunOptions::default().brief_budget, false)
            .render();
        let key = format!("consult:{}", digest(&brief));
        // Another run (another replica, say) is consulting on the same brief.
        assert!(store.claim(&key, "other run", CLAIM_TTL).expect("claim"));
        let other = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let insight = Insight {
                    id: new_id(),
                    fingerprint: digest(&normalise(&task().problem)),
                    problem: task().problem,
                    brief,
                    draft: InsightDraft::parse(GOOD).expect("good"),
                    smart_model: "smart".into(),
                    cost: Cost { usd: 0.01 },
                    created_at: now_rfc3339(),
                    applied: 1,
                    succeeded: 0,
                    failed: 0,
                    invalidated: None,
                };
                store.put_insight(&insight).expect("put");
                store.release(&key, "other run").expect("release");
                insight.id
            })
        };
        let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");
        let made = other.join().expect("other run");
        let kinds: Vec<StepKind> = record.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Distill, StepKind::Recall, StepKind::Execute]);
        assert_eq!(record.insight_id.as_deref(), Some(made.as_str()));
        assert!(smart.requests.lock().expect("lock").is_empty(), "nobody paid twice");
        let executed = &cheap.requests.lock().expect("lock")[0];
        assert!(
            executed.messages.iter().any(|m| m.content.contains("the loop reads one past the end"))
        );
        assert!(store.claims.lock().expect("lock").is_empty(), "no claim left behind");
    }

    #[test]
    fn a_guided_executor_reads_excerpts_when_asked_and_an_unguided_one_whole_files() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("fn helper_{i}(v: &[u8]) -> usize {{ v.len() * {i} }}\n"));
        }
        text.push_str("fn checksum(v: &[u8]) -> u32 { for i in 0..=v.len() { v[i] } }\n");
        let task = Task {
            problem: "checksum panics: index out of bounds: the len is 3 but the index is 3".into(),
            context: vec![Document { path: "src/lib.rs".into(), text }],
        };
        let run = |strategy: Strategy, guided_context: Option<usize>| {
            let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
            let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
            let pipeline =
                Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
            let options = RunOptions { strategy, guided_context, ..RunOptions::default() };
            let record = block_on(pipeline.run(&task, &options)).expect("run");
            let execute = record.steps.iter().find(|s| s.kind == StepKind::Execute).cloned();
            let prompt = cheap.requests.lock().expect("lock")[0].messages[1].content.clone();
            (execute.expect("an execute step"), prompt)
        };
        let (focused, prompt) = run(Strategy::Consult, Some(200));
        assert!(prompt.contains("fn checksum(v: &[u8])"), "{prompt}");
        assert!(!prompt.contains("fn helper_100("), "far from the problem: {prompt}");
        assert!(focused.context_tokens <= 200, "{}", focused.context_tokens);
        assert!(focused.note.as_deref().unwrap_or("").contains("focused: "), "{:?}", focused.note);
        // Without the option, and without an insight, the executor reads the whole file.
        let (whole, prompt) = run(Strategy::Consult, None);
        assert!(prompt.contains("fn helper_100("));
        assert!(whole.context_tokens > 5 * focused.context_tokens);
        let (alone, prompt) = run(Strategy::Cheap, Some(200));
        assert!(prompt.contains("fn helper_100("));
        assert!(alone.context_tokens >= whole.context_tokens);
    }

    #[test]
    fn secrets_are_redacted_from_what_external_models_see_and_counted() {
        let mut smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        Arc::get_mut(&mut smart).expect("unshared").info.external = true;
        let cheap = ScriptedModel::new("cheap", 0.1, &["done", "done"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline =
            Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
        let mut task = task();
        task.problem.push_str(" (the client uses AKIAIOSFODNN7EXAMPLE)");
        let record = block_on(pipeline.run(&task, &RunOptions::default())).expect("run");
        let brief = smart.requests.lock().expect("lock")[0].messages[1].content.clone();
        assert!(!brief.contains("AKIAIOSFODNN7EXAMPLE"), "{brief}");
        assert!(brief.contains("[REDACTED:aws_access_key]"), "{brief}");
        let note = record.steps[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("1 secret redacted (aws_access_key ×1)"), "{note}");
        assert!(note.starts_with("brief of ") && note.contains("from 1 file"), "{note}");
        // Exposure: the consult carried the brief's excerpts of the context, out of the whole.
        let consult = &record.steps[1];
        assert!(consult.external && consult.redactions == 1, "{consult:?}");
        assert!(consult.context_tokens > 0, "{consult:?}");
        assert!(record.context_tokens > 0);
        let execute = &record.steps[2];
        assert!(!execute.external && execute.redactions == 0, "{execute:?}");
        // The embedded executor keeps the full text under the default policy...
        let executed = cheap.requests.lock().expect("lock")[0].clone();
        assert!(executed.messages.iter().any(|m| m.content.contains("AKIAIOSFODNN7EXAMPLE")));
        // ...and not under `all`.
        let options = RunOptions {
            strategy: Strategy::Cheap,
            redact: RedactPolicy::All,
            ..RunOptions::default()
        };
        let record = block_on(pipeline.run(&task, &options)).expect("run");
        let executed = cheap.requests.lock().expect("lock")[1].clone();
        assert!(!executed.messages.iter().any(|m| m.content.contains("AKIAIOSFODNN7EXAMPLE")));
        let note = record.steps.last().and_then(|s| s.note.as_deref()).unwrap_or_default();
        assert!(note.starts_with("2 secrets redacted (aws_access_key ×2)"), "{note}");
    }

    /// A test double of a verifier: hands out the verdicts it was given, in order, and keeps
    /// the results it saw.
    struct ScriptedVerifier {
        verdicts: Mutex<Vec<bool>>,
        seen: Mutex<Vec<String>>,
    }

    impl ScriptedVerifier {
        fn new(verdicts: &[bool]) -> Arc<ScriptedVerifier> {
            Arc::new(ScriptedVerifier {
                verdicts: Mutex::new(verdicts.iter().rev().copied().collect()),
                seen: Mutex::new(Vec::new()),
            })
        }
    }

    impl Verifier for ScriptedVerifier {
        fn describe(&self) -> String {
            "scripted".into()
        }

        fn verify<'a>(
            &'a self,
            _: &'a str,
            result: &'a str,
        ) -> crate::model::BoxFuture<'a, Result<Verdict, VerifyError>> {
            self.seen.lock().expect("lock").push(result.to_owned());
            let passed = self.verdicts.lock().expect("lock").pop().unwrap_or(false);
            let evidence =
                if passed { String::new() } else { "assertion failed: peek on []".into() };
            Box::pin(std::future::ready(Ok(Verdict::new(passed, evidence))))
        }
    }

    fn cascade(verifier: &Arc<ScriptedVerifier>) -> RunOptions {
        RunOptions {
            strategy: Strategy::Cascade,
            verifier: Some(Arc::clone(verifier) as Arc<dyn Verifier>),
            ..RunOptions::default()
        }
    }

    fn kinds(record: &RunRecord) -> Vec<&'static str> {
        record.steps.iter().map(|s| s.kind.as_str()).collect()
    }

    #[test]
    fn cascade_needs_a_verifier() {
        let smart = ScriptedModel::new("smart", 3.0, &[]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["x"]);
        let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
        let options = RunOptions { strategy: Strategy::Cascade, ..RunOptions::default() };
        let err = block_on(pipeline.run(&task(), &options)).expect_err("no verifier");
        assert!(matches!(err, PipelineError::NoVerifier), "{err}");
        assert!(err.to_string().contains("--verify"), "{err}");
    }

    #[test]
    fn cascade_stops_at_the_cheap_model_when_its_result_passes() {
        let smart = ScriptedModel::new("smart", 3.0, &[]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap, store };
        let verifier = ScriptedVerifier::new(&[true]);
        let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
        assert_eq!(kinds(&record), ["execute", "verify"]);
        assert_eq!(record.verified, Some(true));
        assert_eq!(record.result, "use 0..v.len()");
        assert!(smart.requests.lock().expect("lock").is_empty(), "the smart model is not called");
        assert!(record.steps[1].note.as_deref().is_some_and(|n| n.starts_with("passed scripted")));
    }

    #[test]
    fn cascade_consults_with_the_failure_and_the_verdict_counts_for_the_insight() {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["v[v.len()]", "use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
        let verifier = ScriptedVerifier::new(&[false, true]);
        let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
        assert_eq!(
            kinds(&record),
            ["execute", "verify", "distill", "consult", "execute", "verify"]
        );
        assert_eq!((record.verified, record.result.as_str()), (Some(true), "use 0..v.len()"));
        let brief = smart.requests.lock().expect("lock")[0].messages[1].content.clone();
        assert!(
            brief.contains("assertion failed: peek on []"),
            "the failure goes to the consultant: {brief}"
        );
        let outcomes = store.outcomes.lock().expect("lock");
        assert_eq!(outcomes.len(), 1);
        assert!(outcomes[0].passed && outcomes[0].source == "scripted");
        assert_eq!(Some(&outcomes[0].insight_id), record.insight_id.as_ref());
        assert_eq!(
            verifier.seen.lock().expect("lock").as_slice(),
            ["v[v.len()]", "use 0..v.len()"]
        );
    }

    #[test]
    fn cascade_hands_the_task_to_the_smart_model_after_two_failures() {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD, "smart answer"]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["bad", "still bad"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
        let verifier = ScriptedVerifier::new(&[false, false, false]);
        let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
        assert_eq!(
            kinds(&record),
            ["execute", "verify", "distill", "consult", "execute", "verify", "execute", "verify"]
        );
        assert_eq!((record.verified, record.result.as_str()), (Some(false), "smart answer"));
        assert_eq!(record.steps[6].model.as_deref(), Some("smart"));
        let requests = smart.requests.lock().expect("lock");
        assert_eq!(requests.len(), 2);
        let last = &requests[1].messages[1].content;
        assert!(
            last.contains("Relevant context:") && last.contains("failed its check too"),
            "{last}"
        );
        assert!(!store.outcomes.lock().expect("lock")[0].passed);
        // The whole run went to the ledger.
        assert_eq!(store.runs.lock().expect("lock")[0].steps.len(), 8);
    }

    #[test]
    fn a_verifier_on_consult_records_the_verdict_on_the_run_and_the_insight() {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart, cheap, store: store.clone() };
        let verifier = ScriptedVerifier::new(&[false]);
        let options =
            RunOptions { verifier: Some(verifier as Arc<dyn Verifier>), ..RunOptions::default() };
        let record = block_on(pipeline.run(&task(), &options)).expect("run");
        assert_eq!(kinds(&record), ["distill", "consult", "execute", "verify"]);
        assert_eq!(record.verified, Some(false));
        assert!(!store.outcomes.lock().expect("lock")[0].passed);
    }

    #[test]
    fn auto_decides_before_any_call_and_shifts_as_outcomes_accumulate() {
        let smart = ScriptedModel::new("smart", 3.0, &["smart answer"]);
        let answers: Vec<&str> = std::iter::repeat_n("use 0..v.len()", 13).collect();
        let cheap = ScriptedModel::new("cheap", 0.1, &answers);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
        let auto = RunOptions {
            strategy: Strategy::Auto,
            goal: Goal { target_quality: Some(0.85), max_cost: None },
            ..RunOptions::default()
        };
        // Nothing learned yet: only the smart model's prior reaches 0.85.
        let first = block_on(pipeline.run(&task(), &auto)).expect("first");
        assert_eq!(first.strategy, Strategy::Smart);
        assert_eq!(kinds(&first), ["decide", "execute"]);
        assert!(first.reason.starts_with("auto chose smart"), "{}", first.reason);
        let note = first.steps[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("predicted: cheap 0.50"), "{note}");
        // Twelve verified successes of the cheap model on this kind of task…
        let verifier = ScriptedVerifier::new(&[true; 12]);
        let cheap_runs = RunOptions {
            strategy: Strategy::Cheap,
            verifier: Some(verifier as Arc<dyn Verifier>),
            ..RunOptions::default()
        };
        for _ in 0..12 {
            block_on(pipeline.run(&task(), &cheap_runs)).expect("cheap run");
        }
        // …and auto hands the task to the cheap model.
        let later = block_on(pipeline.run(&task(), &auto)).expect("later");
        assert_eq!(later.strategy, Strategy::Cheap, "{}", later.reason);
        assert_eq!(smart.requests.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_judge_verdict_is_a_paid_step_and_a_working_insight_supersedes_a_failed_one() {
        let judge_no = r#"{"passed":false,"reason":"peek still panics"}"#;
        let judge_yes = r#"{"passed":true,"reason":"handles the empty case"}"#;
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD, judge_no, GOOD, judge_yes]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["wrong", "right"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
        let judge = crate::verify::JudgeVerifier { model: smart.clone() as Arc<dyn Model> };
        let options = RunOptions {
            verifier: Some(Arc::new(judge) as Arc<dyn Verifier>),
            ..RunOptions::default()
        };
        let first = block_on(pipeline.run(&task(), &options)).expect("first");
        let verify = first.steps.last().expect("verify");
        assert_eq!(verify.kind, StepKind::Verify);
        assert_eq!(verify.model.as_deref(), Some("smart"));
        assert!(verify.cost.usd > 0.0 && verify.prompt_tokens > 0, "{verify:?}");
        assert_eq!(first.verified, Some(false));
        // The judge saw the problem and the result, not the context.
        let asked = smart.requests.lock().expect("lock")[1].messages[1].content.clone();
        assert!(asked.contains("wrong"), "{asked}");
        assert!(!asked.contains("0..=v.len()"), "the judge saw the context: {asked}");

        // The failed insight is not reused; a new one is made, works, and supersedes it.
        let second = block_on(pipeline.run(&task(), &options)).expect("second");
        assert_eq!(second.verified, Some(true));
        assert_ne!(second.insight_id, first.insight_id);
        let old = store.insight(first.insight_id.as_deref().expect("id")).expect("read");
        let reason = old.and_then(|i| i.invalidated).map(|i| i.reason).unwrap_or_default();
        assert!(reason.starts_with("superseded by insight"), "{reason}");
        let note = second.steps.last().and_then(|s| s.note.clone()).unwrap_or_default();
        assert!(note.contains("invalidated: superseded"), "{note}");
    }

    #[test]
    fn an_insight_that_keeps_failing_leaves_recall() {
        let store = MemoryStore::default();
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["a"]);
        let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
        let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");
        let insight = pipeline
            .store
            .insight(record.insight_id.as_deref().expect("id"))
            .expect("read")
            .expect("stored");
        store.put_insight(&insight).expect("put");
        let mut invalidated = Vec::new();
        for n in 1..=4 {
            let updated = store
                .record_outcome(&Outcome {
                    insight_id: insight.id.clone(),
                    run_id: None,
                    passed: false,
                    source: "user".into(),
                    note: None,
                    created_at: now_rfc3339(),
                })
                .expect("recorded")
                .expect("found");
            invalidated = reuse::age(&store, &updated, false).expect("aged");
            // Stated confidence 0.8 as a prior worth two outcomes: four failures bring the
            // estimate to 1.6 / 6 < 0.3.
            assert_eq!(invalidated.is_empty(), n < 4, "after {n} failures");
        }
        assert!(invalidated[0].1.contains("4 of 4 outcomes failed"), "{invalidated:?}");
        let stored = store.insight(&insight.id).expect("read").expect("kept for audit");
        assert!(stored.invalidated.is_some());
        assert!(
            reuse::candidates(&insight.problem, vec![stored], &ReusePolicy::default(), &[])
                .is_empty()
        );
    }

    const APPLIES: &str = r#"{"applies":true,"reason":"the same off-by-one"}"#;
    const DOES_NOT_APPLY: &str = r#"{"applies":false,"reason":"a different bug"}"#;

    #[test]
    fn a_solved_problem_reuses_its_insight_once_the_cheap_model_confirms_it() {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap =
            ScriptedModel::new("cheap", 0.1, &["use 0..v.len()", APPLIES, "use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store };
        let first = block_on(pipeline.run(&task(), &RunOptions::default())).expect("first");
        let second = block_on(pipeline.run(&task(), &RunOptions::default())).expect("second");
        assert_eq!(kinds(&second), ["distill", "recall", "execute"]);
        assert_eq!(second.insight_id, first.insight_id);
        assert_eq!(smart.requests.lock().expect("lock").len(), 1, "no second consultation");
        let note = second.steps[1].note.as_deref().unwrap_or_default();
        assert!(
            note.starts_with("reused insight") && note.contains("confirmed it applies"),
            "{note}"
        );
        // The executor got the stored advice.
        let executed = &cheap.requests.lock().expect("lock")[2];
        assert!(executed.messages[1].content.contains("change <= to <"));
        assert!(second.cost.usd < first.cost.usd);
    }

    #[test]
    fn an_insight_is_not_reused_when_the_check_says_no_or_its_record_is_bad() {
        // The check says it does not apply: consult again.
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["a", DOES_NOT_APPLY, "b"]);
        let pipeline =
            Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
        block_on(pipeline.run(&task(), &RunOptions::default())).expect("first");
        let second = block_on(pipeline.run(&task(), &RunOptions::default())).expect("second");
        assert_eq!(kinds(&second), ["distill", "recall", "consult", "execute"]);
        assert!(second.steps[1].note.as_deref().is_some_and(|n| n.contains("does not apply")));

        // A failed verification drops a fresh insight below the bar: no check, a consultation.
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["wrong", "again"]);
        let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
        let verifier = ScriptedVerifier::new(&[false, true]);
        let options =
            RunOptions { verifier: Some(verifier as Arc<dyn Verifier>), ..RunOptions::default() };
        block_on(pipeline.run(&task(), &options)).expect("first");
        let second = block_on(pipeline.run(&task(), &options)).expect("second");
        assert_eq!(kinds(&second), ["distill", "consult", "execute", "verify"]);

        // And `never` always consults.
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["a", "b"]);
        let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
        let options = RunOptions {
            reuse: ReusePolicy { check: ReuseCheck::Never, ..ReusePolicy::default() },
            ..RunOptions::default()
        };
        block_on(pipeline.run(&task(), &options)).expect("first");
        let second = block_on(pipeline.run(&task(), &options)).expect("second");
        assert_eq!(kinds(&second), ["distill", "consult", "execute"]);
    }

    #[test]
    fn consult_stores_the_insight_and_the_cheap_model_sees_it_with_the_context() {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline =
            Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
        let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");

        assert_eq!(record.result, "use 0..v.len()");
        let kinds: Vec<StepKind> = record.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Distill, StepKind::Consult, StepKind::Execute]);
        let stored = store.insights.lock().expect("lock");
        assert_eq!(stored.len(), 1);
        assert_eq!(record.insight_id.as_deref(), Some(stored[0].id.as_str()));
        assert!(stored[0].brief.contains("index out of bounds"));

        let executed = &cheap.requests.lock().expect("lock")[0];
        let user = &executed.messages[1].content;
        assert!(user.contains("### src/lib.rs") && user.contains("change <= to <"), "{user}");
        let consulted = &smart.requests.lock().expect("lock")[0];
        assert!(matches!(consulted.response_format, Some(ResponseFormat::JsonSchema { .. })));

        assert!(record.counterfactual.cost.usd > 0.0);
        assert!(!record.counterfactual.latency_measured);
        assert!(
            (record.savings - (1.0 - record.cost.usd / record.counterfactual.cost.usd)).abs()
                < 1e-12
        );
        assert_eq!(store.runs.lock().expect("lock").len(), 1);
    }

    #[test]
    fn an_invalid_insight_is_retried_once_with_the_reason() {
        let smart = ScriptedModel::new("smart", 3.0, &[r#"{"diagnosis":"x"}"#, GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["done"]);
        let pipeline =
            Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
        let record = block_on(pipeline.run(&task(), &RunOptions::default()))
            .expect("second answer is valid");
        let consults = record.steps.iter().filter(|s| s.kind == StepKind::Consult).count();
        assert_eq!(consults, 2);
        let retry = &smart.requests.lock().expect("lock")[1];
        let last = &retry.messages.last().expect("message").content;
        assert!(last.contains("missing field"), "{last}");
    }

    #[test]
    fn two_invalid_insights_fail_the_run_and_the_ledger_says_so() {
        let smart = ScriptedModel::new("smart", 3.0, &["nonsense", "more nonsense"]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["never asked"]);
        let store = Arc::new(MemoryStore::default());
        let pipeline = Pipeline { smart, cheap: cheap.clone(), store: store.clone() };
        let err = block_on(pipeline.run(&task(), &RunOptions::default())).expect_err("fails");
        assert!(matches!(err, PipelineError::InvalidInsight { .. }), "{err:?}");
        assert!(cheap.requests.lock().expect("lock").is_empty());
        let runs = store.runs.lock().expect("lock");
        assert_eq!(runs[0].status, RunStatus::Failed);
        assert!(runs[0].error.as_deref().is_some_and(|e| e.contains("valid insight")));
    }

    #[test]
    fn the_smart_baseline_measures_its_own_counterfactual_and_saves_nothing() {
        let smart = ScriptedModel::new("smart", 3.0, &["fixed"]);
        let cheap = ScriptedModel::new("cheap", 0.1, &[]);
        let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
        let options = RunOptions { strategy: Strategy::Smart, ..RunOptions::default() };
        let record = block_on(pipeline.run(&task(), &options)).expect("run");
        assert!(record.counterfactual.latency_measured);
        assert_eq!(record.counterfactual.cost, record.cost);
        assert_eq!(record.savings, 0.0);
    }

    #[test]
    fn an_empty_problem_is_refused() {
        let model = ScriptedModel::new("m", 1.0, &[]);
        let pipeline = Pipeline {
            smart: model.clone(),
            cheap: model,
            store: Arc::new(MemoryStore::default()),
        };
        let task = Task { problem: "  \n".into(), context: vec![] };
        assert!(matches!(
            block_on(pipeline.run(&task, &RunOptions::default())),
            Err(PipelineError::EmptyProblem)
        ));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.starts_with("20"), "{now}");
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} {b}");
    }
}
