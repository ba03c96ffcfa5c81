//! The heart of aimos: domain types and the seams between crates.
//!
//! This crate knows nothing of wire formats, SQL or llama.cpp.
//! Models, stores and verifiers live in other crates and are reached through the traits here.

pub mod calibration;
pub mod chat;
pub mod expand;
#[cfg(any(test, feature = "testing"))]
pub mod fuzz;
pub mod ids;
pub mod insight;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod price;
pub mod prices;
pub mod prompts;
pub mod quality;
pub mod reuse;
pub mod run;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;
mod yes_no;

pub use aimos_context::dense::{self, Embed};
pub use chat::{
    ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Timings,
    Tool, ToolCall, ToolChoice, Usage,
};
pub use insight::{Insight, InsightDraft, Invalidation};
pub use model::{BoxFuture, ChatStream, Model, ModelError, ModelInfo, TimeoutPhase};
pub use pipeline::{Pipeline, PipelineError, RunOptions, TRACE_ENV, Task};
pub use price::{Cost, Price};
pub use reuse::{ReuseCheck, ReusePolicy};
pub use run::{Attribution, Counterfactual, RunRecord, RunStatus, Step, StepKind, Strategy};
pub use store::{
    Calibration, Exposure, KeyRecord, ModelUsage, Outcome, OutcomePoint, RunFilter, RunVerdict,
    Spend, SpendBy, Stats, Store, StoreError, Totals,
};
pub use verify::{
    CommandVerifier, JudgeVerifier, RegexVerifier, SchemaVerifier, Spent, Verdict, Verifier,
    VerifyError,
};

/// An error and its sources, joined with `: ` — for messages and records that keep the cause.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Lower-case hexadecimal of `bytes` (digests in records and errors).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Shared { value: None, waker: None }));
    let mut work = Some(work);
    std::future::poll_fn(move |cx| {
        let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = state.value.take() {
            return std::task::Poll::Ready(value);
        }
        state.waker = Some(cx.waker().clone());
        drop(state);
        if let Some(work) = work.take() {
            let shared = std::sync::Arc::clone(&shared);
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
