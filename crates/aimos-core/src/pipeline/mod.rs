//! The pipeline for one task: distill → recall → decide → consult → execute → verify → record.
//!
//! Each phase is a file of this folder, read in that order; this one holds what they share:
//! the [`Task`], the [`RunOptions`], the [`Pipeline`] with its entry points, the model call that
//! turns an answer into a ledger step, and [`Pipeline::finish`], which records the run.
//!
//! Strategies: `cheap` and `smart` run one model on the full context (the baselines); `consult`
//! asks the smart model about a brief only, stores its insight, and has the cheap model do the
//! work with the full context plus the insight; `cascade` escalates on a verifier's verdict;
//! `auto` asks the policy (`policy.rs`) which of them to run. Every model call becomes a step in
//! the ledger, and every run carries the smart-only counterfactual (`accounting.rs`).
//!
//! The pipeline does not print, does not know any wire format, and reaches models, stores and
//! verifiers only through the traits in this crate.

mod accounting;
mod advise;
mod cascade;
mod consult;
mod decide;
mod distill;
mod edit;
mod execute;
mod recall;
mod shadow;
#[cfg(test)]
mod tests;
mod verify;

use std::sync::Arc;
use std::time::Instant;

use aimos_context::{
    Document, Index, RedactPolicy, Redacted, Workspace, WorkspaceError, count_tokens,
    file_relevance, redact,
};
use sha2::{Digest, Sha256};

use crate::chat::{ChatRequest, ChatResponse, Message};
use crate::ids::{new_id, now_rfc3339};
use crate::model::{Model, ModelError};
use crate::policy::Goal;
use crate::price::Cost;
use crate::reuse::{ReuseCheck, ReusePolicy};
use crate::run::{RunRecord, RunStatus, Step, StepKind, Strategy};
use crate::store::{Store, StoreError};
use crate::verify::{Verdict, Verifier, VerifyError};

pub use accounting::savings;
pub use advise::{ADVICE_REASON, Advice};
use consult::Consulted;
pub use edit::EditOptions;
use execute::{Execution, View};
pub use shadow::shadow_sampled;

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
    /// Edit mode: the executor answers with edits, which land in a scratch copy of the context
    /// where the verifier runs; the run's `patch` is the result. `None`: a text answer.
    pub edit: Option<EditOptions>,
    /// Whose spend the run is (the gateway's key, user and tags).
    pub attribution: crate::run::Attribution,
    /// The insight namespace the run works in (its gateway key's): it recalls that namespace's
    /// insights and the shared ones, and stores its own there. `None`: the shared namespace.
    pub namespace: Option<String>,
    /// Before distilling a problem that names no code (no trace, path, identifier or quoted
    /// message), the cheap model guesses what the code is called and the distiller searches
    /// for its guesses too; the call's tokens are on the `distill` step.
    pub expand_query: bool,
    /// A sentence-embedding model: stored insights are then found by what their problems
    /// mean, not only by the words they share, and new insights are stored with their meaning.
    pub embedder: Option<Arc<dyn crate::dense::Embed>>,
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
            .field("edit", &self.edit)
            .field("attribution", &self.attribution)
            .field("namespace", &self.namespace)
            .field("expand_query", &self.expand_query)
            .field("embedder", &self.embedder.as_ref().map(|e| e.id().to_owned()))
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
            edit: None,
            attribution: crate::run::Attribution::default(),
            namespace: None,
            expand_query: false,
            embedder: None,
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
    #[error("edit mode's scratch copy of the context failed")]
    Workspace(#[source] WorkspaceError),
}

/// A model's answer and the ledger step it becomes.
struct Call {
    /// The messages the model was sent (after redaction).
    messages: Vec<Message>,
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
    /// ask for it; otherwise whole files, or in edit mode whole files only when they fit.
    fn view(&self, options: &RunOptions, guided: bool) -> View<'_> {
        match options.guided_context {
            Some(budget) if guided => View::Focus(&self.index, budget),
            _ if options.edit.is_some() => View::WholeOrFocus(&self.relevance, &self.index),
            _ => View::Whole(&self.relevance),
        }
    }

    /// Whole files, most relevant first: how every unguided executor reads.
    fn whole(&self) -> View<'_> {
        View::Whole(&self.relevance)
    }
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

    /// The phases of one run, in the order the strategy takes them.
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
            // A judge costs the smart model's tokens: it checks what auto sends to cascade,
            // not every run it decides on.
            if chosen.strategy != Strategy::Cascade
                && chosen.verifier.as_ref().is_some_and(|v| v.calls_a_model())
            {
                chosen.verifier = None;
            }
            decided = chosen;
            &decided
        } else {
            options
        };
        let mut workspace = match &options.edit {
            Some(edit) => {
                Some(Workspace::create(&edit.roots, &edit.cwd).map_err(PipelineError::Workspace)?)
            }
            None => None,
        };
        // The user's own words, before any check's output is added to them.
        let asked = task.problem.as_str();
        let checked;
        let task = match (&workspace, &options.verifier, &options.edit) {
            (Some(workspace), Some(verifier), Some(edit))
                if edit.check_first && !verifier.calls_a_model() =>
            {
                match self.check_before_edits(workspace, verifier, task, record).await? {
                    Some(failure) => {
                        checked = Task {
                            problem: format!("{}\n\n{failure}", task.problem.trim_end()),
                            context: task.context.clone(),
                        };
                        &checked
                    }
                    None => task,
                }
            }
            _ => task,
        };
        if options.strategy == Strategy::Cascade {
            return self
                .cascade(task, asked, material, options, workspace.as_mut(), record, on_delta)
                .await;
        }
        if options.strategy == Strategy::Brief {
            return self
                .work_from_brief(task, material, options, workspace.as_mut(), record, on_delta)
                .await;
        }
        let mut consulted: Option<Consulted> = None;
        if options.strategy == Strategy::Consult {
            let brief = self.distill_phase(&task.problem, material, options, record).await?;
            let recalled = if options.reuse.check == ReuseCheck::Never {
                None
            } else {
                self.recall_phase(task, options, &brief, record).await?
            };
            consulted = Some(match recalled {
                Some(recalled) => recalled,
                None => self.consult_phase(task, brief, options, record).await?,
            });
        }
        let (executor, role) = match options.strategy {
            Strategy::Smart => (Arc::clone(&self.smart), "smart"),
            _ => (Arc::clone(&self.cheap), "cheap"),
        };
        let guidance = consulted.as_ref().map(|c| c.guidance.as_str());
        let execution = Execution {
            guidance,
            on_delta: Some(on_delta),
            ..Execution::new(role, &*executor, task, material.view(options, guidance.is_some()))
        };
        let (call, verdict) = self.attempt(workspace.as_mut(), execution, options, record).await?;
        if let Some(verdict) = &verdict {
            record.verified = Some(verdict.passed);
            if let Some(verifier) = &options.verifier {
                self.insight_outcome(record, &**verifier, verdict)?;
            }
        }
        record.counterfactual = if options.strategy == Strategy::Smart {
            self.measured_counterfactual(&call)
        } else {
            let smart_rates = consulted.and_then(|c| c.rates);
            self.estimated_counterfactual(task, material, options, &call.response, smart_rates)
        };
        Ok(call.response.content)
    }

    /// `brief`: the smart model does the work from the brief alone — the problem, a map of the
    /// context and its most relevant excerpts — with no consultation and no executor.
    async fn work_from_brief(
        &self,
        task: &Task,
        material: &Material,
        options: &RunOptions,
        workspace: Option<&mut Workspace>,
        record: &mut RunRecord,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<String, PipelineError> {
        let brief = self.distill_phase(&task.problem, material, options, record).await?;
        let from_brief = Task { problem: brief.text, context: Vec::new() };
        let execution = Execution {
            on_delta: Some(on_delta),
            ..Execution::new("smart", &*self.smart, &from_brief, View::Whole(&[]))
        };
        let from = record.steps.len();
        let (call, verdict) = self.attempt(workspace, execution, options, record).await?;
        // What the smart model read of the context is the brief's excerpts.
        for step in record.steps[from..].iter_mut().filter(|s| s.kind == StepKind::Execute) {
            step.context_tokens = brief.context_tokens;
            step.redactions += brief.redactions;
        }
        if let Some(verdict) = &verdict {
            record.verified = Some(verdict.passed);
        }
        record.counterfactual =
            self.estimated_counterfactual(task, material, options, &call.response, None);
        Ok(call.response.content)
    }

    /// Execute and verify, once: one executor's try at the task and the check's verdict
    /// (`None` without a check). In edit mode, the attempt loop in `workspace` (`edit.rs`),
    /// which sets the run's patch; the answer is then handed to `on_delta` whole at the end.
    async fn attempt(
        &self,
        workspace: Option<&mut Workspace>,
        execution: Execution<'_>,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<(Call, Option<Verdict>), PipelineError> {
        let task = execution.task;
        let Some(workspace) = workspace else {
            let call = self.execute_phase(execution, options).await?;
            record.steps.push(call.step.clone());
            let verdict = match &options.verifier {
                Some(verifier) => Some(
                    self.verify_phase(&**verifier, task, &call.response.content, record).await?,
                ),
                None => None,
            };
            return Ok((call, verdict));
        };
        let on_delta = execution.on_delta;
        let edited = self
            .edit_phase(workspace, Execution { edit: true, ..execution }, options, record)
            .await?;
        record.patch = (!edited.patch.diff.is_empty()).then(|| edited.patch.diff.clone());
        record.files_changed = edited.patch.files.clone();
        if let Some(on_delta) = on_delta {
            on_delta(&edited.call.response.content);
        }
        Ok((edited.call, edited.verdict))
    }

    /// Record: totals, savings and status of a finished run, and its ledger entry.
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
            counterfactual: crate::run::Counterfactual {
                model: self.smart.info().id.clone(),
                ..crate::run::Counterfactual::default()
            },
            savings: 0.0,
            latency_ms: 0.0,
            steps: Vec::new(),
            verified: None,
            shadow_of: None,
            patch: None,
            files_changed: Vec::new(),
            attribution: options.attribution.clone(),
            context_tokens: task
                .context
                .iter()
                .map(|doc| count(&*self.smart, &doc.text) as u64)
                .sum(),
        }
    }

    /// One model call: the answer (streamed to `on_delta` when given) and the step it becomes,
    /// priced by the model that really answered.
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
        let messages = request.messages.clone();
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
        trace(role, kind, &messages, &response);
        let note = match (note, speed_note(&response)) {
            (Some(note), Some(speed)) => Some(format!("{note}; {speed}")),
            (note, speed) => note.or(speed),
        };
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
        Ok(Call { messages, response, step })
    }
}

/// Tokens of `text` by `model`'s own tokenizer, or tiktoken's when it has none at hand.
fn count(model: &dyn Model, text: &str) -> usize {
    model.count_tokens(text).unwrap_or_else(|| count_tokens(text))
}

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

/// What the model saved itself: prompt tokens it already held (its own cache, or a provider's),
/// and drafted tokens it kept (`1200 of 1300 prompt tokens reused; 40 of 52 drafted tokens
/// kept`), or `None`.
fn speed_note(response: &ChatResponse) -> Option<String> {
    let mut parts = Vec::new();
    let reused = response.usage.cached_prompt_tokens;
    if reused > 0 {
        parts.push(format!("{reused} of {} prompt tokens reused", response.usage.prompt_tokens));
    }
    let timings = &response.timings;
    if timings.draft_tokens > 0 {
        parts.push(format!(
            "{} of {} drafted tokens kept",
            timings.draft_tokens_accepted, timings.draft_tokens
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A problem as insights are fingerprinted: words in lower case, single spaces.
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

/// The insight's fingerprint for a problem: the digest of its normalised text, which finds
/// the insights stored for the same problem (case and spacing aside).
pub fn fingerprint(problem: &str) -> String {
    digest(&normalise(problem))
}

/// Sleeps without tying the pipeline to an async runtime.
fn sleep(duration: std::time::Duration) -> impl Future<Output = ()> {
    crate::on_thread(move || std::thread::sleep(duration))
}

/// The environment variable naming a file that every model call of the pipeline is appended
/// to, as one JSON line: the role, the step, the messages sent and the answer. For seeing what
/// a model was shown and what it wrote; it holds the material unredacted only where the request
/// was not redacted.
pub const TRACE_ENV: &str = "AIMOS_TRACE";

/// Appends a model call to the trace file, when `AIMOS_TRACE` names one. A trace that cannot be
/// written never fails the run.
fn trace(role: &str, kind: StepKind, messages: &[Message], response: &ChatResponse) {
    let Some(path) = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty()) else { return };
    let line = serde_json::json!({
        "at": now_rfc3339(),
        "role": role,
        "step": kind,
        "model": response.model,
        "messages": messages,
        "answer": response.content,
        "usage": response.usage,
    });
    // The CLI checks at start that the file can be appended to; the pipeline does not print.
    let _ =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut file| {
            std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
        });
}
