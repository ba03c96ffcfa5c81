//! Execute: one model does the task with the context packed into its window — whole files, most
//! relevant first, or the distiller's excerpts when an insight guides it and the run asks for
//! that — plus the guidance, redacted when the model is external under the run's policy.

use aimos_context::{Index, Packed, focus, pack_ranked};

use super::{
    Call, Pipeline, PipelineError, RunOptions, Task, count, redact_request, redaction_note,
};
use crate::chat::{ChatRequest, Message};
use crate::model::Model;
use crate::prompts;
use crate::run::StepKind;

/// Tokens kept free for chat-template markup around the messages.
pub(super) const TEMPLATE_OVERHEAD: usize = 64;

/// The last line of an edit-mode request, before the list of files shown.
const EDIT_CLOSING: &str =
    "Answer now with edit blocks only, each after the path of the file it changes";

/// How an executor reads the context.
#[derive(Clone, Copy)]
pub(super) enum View<'a> {
    /// Whole files, most relevant first (by these relevances), as many as its window holds.
    Whole(&'a [f64]),
    /// The distiller's excerpts within this many tokens (or what the window holds, if less).
    Focus(&'a Index, usize),
    /// Whole files when they all fit the window, else the distiller's excerpts filling it: how
    /// an unguided executor reads in edit mode, where an edit must quote the exact lines it
    /// changes, which a file cut at the window's edge or left out may not show.
    WholeOrFocus(&'a [f64], &'a Index),
}

/// One execution: who does which task, how it reads the context, and what it is told.
#[derive(Clone)]
pub(super) struct Execution<'a> {
    /// `cheap` or `smart`, for errors.
    pub role: &'static str,
    pub model: &'a dyn Model,
    pub task: &'a Task,
    pub view: View<'a>,
    /// The consultant's guidance, when an insight guides this execution.
    pub guidance: Option<&'a str>,
    /// A note for the step (which stage of a cascade, whose shadow).
    pub note: Option<String>,
    /// Receives the answer piece by piece as the model writes it.
    pub on_delta: Option<&'a (dyn Fn(&str) + Send + Sync)>,
    /// Edit mode: the answer is search/replace edits (`edit.rs`).
    pub edit: bool,
    /// What went wrong last time (edit mode's retries): the previous answer and the check's
    /// output.
    pub feedback: Option<&'a str>,
    /// Sample at this temperature with this seed instead of decoding greedily (edit mode's
    /// retries, where the greedy answer to nearly the same request repeats the failed one).
    pub sampling: Option<(f32, u64)>,
}

impl<'a> Execution<'a> {
    /// `model` does `task` reading the context as `view` says, unguided, silently.
    pub fn new(
        role: &'static str,
        model: &'a dyn Model,
        task: &'a Task,
        view: View<'a>,
    ) -> Execution<'a> {
        Execution {
            role,
            model,
            task,
            view,
            guidance: None,
            note: None,
            on_delta: None,
            edit: false,
            feedback: None,
            sampling: None,
        }
    }

    /// The same execution with a note on its step.
    pub fn noted(self, note: impl Into<String>) -> Execution<'a> {
        Execution { note: Some(note.into()), ..self }
    }
}

impl Pipeline {
    /// Runs one execution and returns its answer with its step (not yet pushed: callers adjust
    /// it first).
    pub(super) async fn execute_phase(
        &self,
        execution: Execution<'_>,
        options: &RunOptions,
    ) -> Result<Call, PipelineError> {
        let (role, model, note, on_delta) =
            (execution.role, execution.model, execution.note.clone(), execution.on_delta);
        let (mut request, packed) = execution_request(&execution, options.max_result_tokens);
        let mut notes: Vec<String> = note.into_iter().chain(packed.note()).collect();
        let redacted = redact_request(&mut request, options.redact, model);
        let redactions = redacted.count() as u64;
        if redactions > 0 {
            notes.push(redaction_note(&redacted).trim_start_matches("; ").to_owned());
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let mut call = self.call(role, model, request, StepKind::Execute, note, on_delta).await?;
        call.step.context_tokens = packed.tokens as u64;
        call.step.redactions = redactions;
        Ok(call)
    }
}

/// The request that has the execution's model do its task: the context, as its view says, in
/// what the model's window leaves.
pub(super) fn execution_request(
    execution: &Execution<'_>,
    max_tokens: u32,
) -> (ChatRequest, Packed) {
    let Execution { model, task, view, guidance, edit, feedback, sampling, .. } = *execution;
    let system = match (edit, guidance.is_some()) {
        (false, false) => prompts::EXECUTOR_SYSTEM,
        (false, true) => prompts::EXECUTOR_WITH_INSIGHT_SYSTEM,
        (true, false) => prompts::EDITOR_SYSTEM,
        (true, true) => prompts::EDITOR_WITH_INSIGHT_SYSTEM,
    };
    let mut tail = match guidance {
        Some(guidance) => {
            format!("Guidance from the consultant:\n{guidance}\nTask:\n{}", task.problem)
        }
        None => format!("Task:\n{}", task.problem),
    };
    if let Some(feedback) = feedback {
        tail.push_str(&format!("\n\n{feedback}"));
    }
    tail.push_str(match (edit, guidance.is_some()) {
        (false, false) => "\n\nAnswer the task now, using the context.",
        (false, true) => "\n\nAnswer the task now, using the context and following the guidance.",
        (true, _) => "",
    });
    let window = model.info().context_window.map_or(usize::MAX, |w| w as usize);
    // Edit mode adds the worked example's two turns and the closing line naming the files.
    let edit_frame = if edit {
        let [asked, answered] = prompts::EDIT_EXAMPLE;
        let paths: Vec<&str> = task.context.iter().map(|d| d.path.as_str()).collect();
        count(model, asked)
            + count(model, answered)
            + count(model, EDIT_CLOSING)
            + count(model, &paths.join(", "))
            + TEMPLATE_OVERHEAD
    } else {
        0
    };
    let fixed = count(model, system)
        + count(model, &tail)
        + count(model, &task.problem)
        + edit_frame
        + max_tokens as usize
        + TEMPLATE_OVERHEAD;
    let room = window.saturating_sub(fixed);
    let counter = |t: &str| count(model, t);
    let packed = match view {
        View::Whole(relevance) => pack_ranked(&task.context, relevance, room, &counter),
        View::Focus(index, budget) => focus(&task.problem, index, budget.min(room), &counter),
        View::WholeOrFocus(relevance, index) => {
            let whole = pack_ranked(&task.context, relevance, room, &counter);
            if whole.truncated.is_empty() && whole.left_out.is_empty() {
                whole
            } else {
                focus(&task.problem, index, room, &counter)
            }
        }
    };
    // The task comes first too, so that the context is read with it in mind.
    let user = if packed.text.is_empty() {
        tail
    } else {
        format!("Task:\n{}\n\nContext:\n{}\n{tail}", task.problem, packed.text)
    };
    let user = if edit {
        let files = if packed.text.is_empty() {
            task.context.iter().map(|d| d.path.as_str()).collect::<Vec<_>>().join(", ")
        } else {
            shown_files(&packed)
        };
        let files = if files.is_empty() { String::new() } else { format!(" ({files})") };
        format!("{user}\n\n{EDIT_CLOSING}{files}.")
    } else {
        user
    };
    let mut messages = vec![Message::system(system)];
    if edit {
        let [asked, answered] = prompts::EDIT_EXAMPLE;
        messages.extend([Message::user(asked), Message::assistant(answered)]);
    }
    messages.push(Message::user(user));
    let request = ChatRequest {
        messages,
        max_tokens: Some(max_tokens),
        temperature: Some(sampling.map_or(0.0, |(temperature, _)| temperature)),
        seed: sampling.map(|(_, seed)| seed),
        ..ChatRequest::default()
    };
    (request, packed)
}

/// The files a packing shows, as their headers name them.
fn shown_files(packed: &Packed) -> String {
    let mut files: Vec<&str> =
        packed.included.iter().chain(&packed.truncated).map(String::as_str).collect();
    files.dedup();
    files.join(", ")
}
