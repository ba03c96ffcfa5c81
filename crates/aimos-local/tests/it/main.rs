//! Integration tests of the embedded runtime, against the real smollm2-135m model.
//!
//! The model is pulled on first use (from the hub, or pip packages where only registries are
//! reachable), so these tests need no setup beyond what `aimos models pull` needs.

#![allow(clippy::panic, clippy::unwrap_used)]

mod embed;
mod engine;
mod errors;
mod speed;

use std::sync::Arc;

use aimos_core::{ChatRequest, ChatResponse, Message, Model, ModelError};
use aimos_local::{GgufModel, LoadOptions, LocalOptions, NoProgress};

pub const TEST_MODEL: &str = "smollm2-135m";

/// The test model with default options, loaded once and shared by every test in this binary.
pub fn model() -> Arc<GgufModel> {
    model_with(LocalOptions::default())
}

pub fn model_with(run: LocalOptions) -> Arc<GgufModel> {
    let options = LoadOptions { run, ..LoadOptions::default() };
    aimos_local::load(TEST_MODEL, &options, &mut NoProgress)
        .unwrap_or_else(|err| panic!("cannot load {TEST_MODEL}: {err}"))
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
}

pub fn ask(model: &dyn Model, request: ChatRequest) -> Result<ChatResponse, ModelError> {
    block_on(model.chat(request))
}

/// A greedy request for `prompt` with at most `max_tokens` tokens of answer.
pub fn greedy(prompt: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(vec![Message::user(prompt)])
    }
}
