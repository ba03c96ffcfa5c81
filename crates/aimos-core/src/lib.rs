//! The heart of aimos: domain types and the seams between crates.
//!
//! This crate knows nothing of wire formats, SQL or llama.cpp.
//! Models, stores and verifiers live in other crates and are reached through the traits here.

pub mod calibration;
pub mod chat;
pub mod insight;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod price;
pub mod prices;
pub mod quality;
pub mod reuse;
pub mod run;
pub mod store;
pub mod verify;

pub use chat::{
    ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Timings,
    Tool, ToolCall, ToolChoice, Usage,
};
pub use insight::{Insight, InsightDraft, Invalidation};
pub use model::{BoxFuture, ChatStream, Model, ModelError, ModelInfo, TimeoutPhase};
pub use pipeline::{Pipeline, PipelineError, RunOptions, Task};
pub use price::{Cost, Price};
pub use reuse::{ReuseCheck, ReusePolicy};
pub use run::{Counterfactual, RunRecord, RunStatus, Step, StepKind, Strategy};
pub use store::{
    Calibration, Exposure, KeyRecord, ModelUsage, Outcome, OutcomePoint, Stats, Store, StoreError,
    Totals,
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

/// Polls a future to completion on this thread, for tests of async code that needs no runtime.
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
