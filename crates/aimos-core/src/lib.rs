//! The heart of aimos: domain types and the seams between crates.
//!
//! This crate knows nothing of wire formats, SQL or llama.cpp.
//! Models, stores and verifiers live in other crates and are reached through the traits here.

pub mod chat;
pub mod model;
pub mod price;

pub use chat::{
    ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Timings,
    Usage,
};
pub use model::{BoxFuture, ChatStream, Model, ModelError, ModelInfo};
pub use price::{Cost, Price};
