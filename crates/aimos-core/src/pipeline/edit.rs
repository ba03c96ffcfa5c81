//! Edit mode's attempt loop: the executor answers with search/replace edits, they land in the
//! run's scratch copy of the tree, the check runs there, and a failure goes back to the same
//! executor with its edits and the end of the check's output — up to `EditOptions::attempts`
//! times. A block that does not apply goes back once, with the nearest lines of its file. The
//! format, the matching and the scratch copy are aimos-context's (`edit`, `workspace`).

use std::path::PathBuf;
use std::sync::Arc;

use aimos_context::Workspace;
use aimos_context::edit;
use aimos_context::workspace::{Applied, Patch};

use super::execute::Execution;
use super::{Call, Pipeline, PipelineError, RunOptions, Task, digest, ms, redact_request};
use crate::chat::Message;
use crate::run::{RunRecord, Step, StepKind};
use crate::verify::{Verdict, Verifier};

/// Edit mode: the work is a change to files, checked in a scratch copy.
#[derive(Debug, Clone)]
pub struct EditOptions {
    /// The context paths as the user named them; the scratch copy holds their common folder.
    pub roots: Vec<PathBuf>,
    /// The folder those paths are relative to.
    pub cwd: PathBuf,
    /// Tries each executor gets, each after the last one's check failed.
    pub attempts: u32,
    /// Run the check once before any edit, and add the end of its output to the problem when
    /// it fails (what the brief and the executor then see: the failure with its file and
    /// line, not only the user's words). A check that calls a model is not run first.
    pub check_first: bool,
}

impl Default for EditOptions {
    fn default() -> Self {
        EditOptions { roots: Vec::new(), cwd: PathBuf::from("."), attempts: 2, check_first: false }
    }
}

/// Characters of a failed check's output (its end) the executor reads on its next try.
const FEEDBACK_CHARS: usize = 1500;

/// The temperature of every try after the first. The first decodes greedily; a greedy retry on
/// nearly the same request tends to write the failed edits again, so later tries sample (with
/// the try's number as the seed, so that a rerun repeats them).
const RETRY_TEMPERATURE: f32 = 0.7;

/// How an executor step of edit mode is noted in the ledger (with `n/N` after it).
pub(super) const ATTEMPT_NOTE: &str = "edit attempt";

/// Where an attempt loop ended.
pub(super) struct Edited {
    /// The executor's last answer, whose edits make `patch` (after any repair).
    pub call: Call,
    pub patch: Patch,
    /// The last check's verdict; `None` when the run has no check and the edits landed.
    pub verdict: Option<Verdict>,
}

impl Pipeline {
    /// The check run on the unchanged copy, as a `verify` step: `None` when it passes, else a
    /// paragraph for the problem with the end of its output.
    pub(super) async fn check_before_edits(
        &self,
        workspace: &Workspace,
        verifier: &Arc<dyn Verifier>,
        task: &Task,
        record: &mut RunRecord,
    ) -> Result<Option<String>, PipelineError> {
        let verifier = verifier.in_dir(workspace.root()).unwrap_or_else(|| Arc::clone(verifier));
        let started = std::time::Instant::now();
        let verdict = verifier.verify(&task.problem, "").await?;
        let note = format!(
            "before any edit: {} {}",
            if verdict.passed { "passed" } else { "failed" },
            verifier.describe()
        );
        record.steps.push(Step::stage(StepKind::Verify, ms(started.elapsed()), digest(""), note));
        if verdict.passed {
            return Ok(None);
        }
        Ok(Some(format!(
            "Before any change, the check fails:\n{}",
            crate::verify::tail(&verdict.evidence, FEEDBACK_CHARS)
        )))
    }

    /// Runs `execution` in edit mode up to `attempts` times in `workspace`, checking each patch
    /// with `verifier` there; returns the last attempt.
    pub(super) async fn edit_phase(
        &self,
        workspace: &mut Workspace,
        execution: Execution<'_>,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<Edited, PipelineError> {
        let attempts = options.edit.as_ref().map_or(1, |e| e.attempts.max(1));
        let verifier: Option<Arc<dyn Verifier>> = options
            .verifier
            .as_ref()
            .map(|v| v.in_dir(workspace.root()).unwrap_or_else(|| Arc::clone(v)));
        let base_note = execution.note.clone();
        let mut feedback: Option<String> = None;
        let mut last = None;
        for attempt in 1..=attempts {
            workspace.reset().map_err(PipelineError::Workspace)?;
            let mut note = format!("{ATTEMPT_NOTE} {attempt}/{attempts}");
            let sampling = (attempt > 1).then_some((RETRY_TEMPERATURE, u64::from(attempt)));
            if sampling.is_some() {
                note.push_str(&format!(" (sampled at temperature {RETRY_TEMPERATURE})"));
            }
            if let Some(base) = &base_note {
                note = format!("{base}; {note}");
            }
            let this = Execution {
                note: Some(note),
                feedback: feedback.as_deref(),
                on_delta: None,
                sampling,
                ..execution.clone()
            };
            let call = self.execute_phase(this, options).await?;
            record.steps.push(call.step.clone());
            let Landed { call, problems, held_blocks } =
                self.land(workspace, &execution, call, options, record).await?;
            let patch = workspace.patch().map_err(PipelineError::Workspace)?;
            let verdict = if patch.files.is_empty() {
                let why = if !problems.is_empty() {
                    problems.join("\n")
                } else if !held_blocks {
                    "the answer held no search/replace block".to_owned()
                } else {
                    "its blocks change nothing: each REPLACE part is the same as its SEARCH part"
                        .to_owned()
                };
                let verdict = Verdict::new(false, format!("no edit applied: {why}"));
                record.steps.push(Step::stage(
                    StepKind::Verify,
                    0.0,
                    digest(&call.response.content),
                    format!("failed: no edit applied: {}", first_line(&why)),
                ));
                Some(verdict)
            } else {
                match &verifier {
                    Some(verifier) => Some(
                        self.verify_phase(&**verifier, execution.task, &patch.diff, record).await?,
                    ),
                    None => None,
                }
            };
            let passed = verdict.as_ref().is_none_or(|v| v.passed);
            if !passed {
                let evidence = verdict
                    .as_ref()
                    .map(|v| crate::verify::tail(&v.evidence, FEEDBACK_CHARS))
                    .unwrap_or_default();
                feedback = Some(format!(
                    "Your previous answer:\n{}\n\nIt was checked{} and failed:\n{evidence}\n\n\
                     Write new edits against the files as shown above (your previous edits were \
                     undone).",
                    call.response.content.trim(),
                    verifier
                        .as_ref()
                        .map(|v| format!(" by `{}`", v.describe()))
                        .unwrap_or_default(),
                ));
            }
            last = Some(Edited { call, patch, verdict });
            if passed {
                break;
            }
        }
        Ok(last.expect("the loop runs at least once: attempts is at least 1"))
    }

    /// Applies the edits of `call`'s answer; blocks that do not apply go back to the model once
    /// with the reasons (a second `execute` step). Returns the call whose answer stands and
    /// what still did not apply.
    async fn land(
        &self,
        workspace: &mut Workspace,
        execution: &Execution<'_>,
        call: Call,
        options: &RunOptions,
        record: &mut RunRecord,
    ) -> Result<Landed, PipelineError> {
        let (role, model) = (execution.role, execution.model);
        let parsed = edit::parse(&call.response.content);
        let applied = workspace.apply(&parsed.edits).map_err(PipelineError::Workspace)?;
        note_moves(record, &applied);
        let mut problems = misses(&parsed.problems, &applied);
        let held_blocks = !parsed.edits.is_empty();
        if problems.is_empty() {
            return Ok(Landed { call, problems, held_blocks });
        }
        let told = format!(
            "Some of your blocks did not apply:\n{}\n\nWrite corrected blocks for those only, \
             each after the path of a file shown above, with its SEARCH part copied exactly \
             from that file.",
            problems.join("\n\n")
        );
        let Some(messages) = repair_messages(
            model,
            &call,
            &execution.task.problem,
            &told,
            options.max_result_tokens,
        ) else {
            add_note(
                record,
                "no repair: the blocks that did not apply leave no room in the model's window to \
                 send them back",
            );
            return Ok(Landed { call, problems, held_blocks });
        };
        let mut request = crate::chat::ChatRequest {
            messages,
            max_tokens: Some(options.max_result_tokens),
            temperature: Some(0.0),
            ..crate::chat::ChatRequest::default()
        };
        let redactions = redact_request(&mut request, options.redact, model).count() as u64;
        let note = format!("repair of {} block(s) that did not apply", problems.len());
        let mut repair =
            self.call(role, model, request, StepKind::Execute, Some(note), None).await?;
        repair.step.redactions = redactions;
        record.steps.push(repair.step.clone());
        let reparsed = edit::parse(&repair.response.content);
        let reapplied = workspace.apply(&reparsed.edits).map_err(PipelineError::Workspace)?;
        note_moves(record, &reapplied);
        problems = misses(&reparsed.problems, &reapplied);
        let mut joined = call;
        joined.response.content =
            format!("{}\n\n{}", joined.response.content.trim_end(), repair.response.content);
        Ok(Landed {
            call: joined,
            problems,
            held_blocks: held_blocks || !reparsed.edits.is_empty(),
        })
    }
}

/// Tokens a chat template adds around each message.
const MESSAGE_OVERHEAD: usize = 8;

/// The conversation that sends blocks that did not apply back to the model, leaving room in its
/// window for an answer of `max_tokens`: the same conversation one turn on (the model sees the
/// files as it did, its answer, and what did not apply) when that fits; else the system prompt
/// and worked example, then the task, the answer and what did not apply, whose nearest lines
/// stand in for the files; `None` when neither fits.
fn repair_messages(
    model: &dyn crate::Model,
    call: &Call,
    problem: &str,
    told: &str,
    max_tokens: u32,
) -> Option<Vec<Message>> {
    let window = model.info().context_window.map_or(usize::MAX, |w| w as usize);
    let fits = |messages: &[Message]| {
        let prompt: usize =
            messages.iter().map(|m| super::count(model, &m.content) + MESSAGE_OVERHEAD).sum();
        prompt + super::execute::TEMPLATE_OVERHEAD + max_tokens as usize <= window
    };
    let answer = call.response.content.trim();
    let mut whole = call.messages.clone();
    whole.push(Message::assistant(answer));
    whole.push(Message::user(told));
    if fits(&whole) {
        return Some(whole);
    }
    let mut short: Vec<Message> = call.messages[..call.messages.len().saturating_sub(1)].to_vec();
    short.push(Message::user(format!("Task:\n{problem}\n\nYour answer:\n{answer}\n\n{told}")));
    fits(&short).then_some(short)
}

/// Edits that landed elsewhere than they said go on the last step's note.
fn note_moves(record: &mut RunRecord, applied: &Applied) {
    for moved in &applied.notes {
        add_note(record, moved);
    }
}

/// Adds `text` to the last step's note.
fn add_note(record: &mut RunRecord, text: &str) {
    if let Some(step) = record.steps.last_mut() {
        let note = step.note.get_or_insert_with(String::new);
        if !note.is_empty() {
            note.push_str("; ");
        }
        note.push_str(text);
    }
}

/// What became of an answer's blocks.
struct Landed {
    /// The call whose answer stands (joined with its repair, if there was one).
    call: Call,
    /// Every block that still did not parse or apply, in words for the model.
    problems: Vec<String>,
    /// Whether the answer (or its repair) held any block at all.
    held_blocks: bool,
}

/// Every block that did not parse or apply, in words for the model.
fn misses(problems: &[String], applied: &Applied) -> Vec<String> {
    problems.iter().cloned().chain(applied.failed.iter().map(|f| f.reason.clone())).collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
