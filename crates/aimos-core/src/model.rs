//! The `Model` trait: the one seam through which aimos talks to any language model.
//!
//! Embedded llama.cpp models (aimos-local) and remote providers (aimos-providers) implement it;
//! the pipeline, the gateway and the CLI use it as `Arc<dyn Model>` and never see which is which.
//! This module does not schedule, retry or cache: implementations own that.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::chat::{ChatEvent, ChatRequest, ChatResponse};
use crate::price::Price;

/// A boxed, sendable future, so that `Model` stays usable as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a caller may want to know about a model before sending it anything.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// aimos's name for the model (`local:smollm2-135m`, `openai:gpt-4.1`, …).
    pub id: String,
    /// Most tokens prompt and completion may hold together, where known.
    pub context_window: Option<u32>,
    /// What a million tokens cost.
    pub price: Price,
    /// Whether text sent to the model leaves this machine (remote providers); such text is
    /// redacted under the default policy.
    pub external: bool,
}

/// A language model that answers chat requests.
///
/// Implementations are shared between threads (`Send + Sync`) and must accept concurrent
/// requests: they queue or batch them, and each caller gets its own whole answer.
pub trait Model: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Starts answering and returns the answer as a stream of text pieces,
    /// closed by [`ChatEvent::Done`] with the whole response.
    ///
    /// Errors, including ones found before generation starts, arrive through the stream.
    /// Dropping the stream cancels the request.
    fn chat_stream(&self, request: ChatRequest) -> ChatStream;

    /// Answers in one piece.
    fn chat(&self, request: ChatRequest) -> BoxFuture<'static, Result<ChatResponse, ModelError>> {
        Box::pin(self.chat_stream(request).collect(|_| {}))
    }

    /// Counts the tokens `text` takes for this model, where the model can tell.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }

    /// The price of the model named `id` in a [`ChatResponse`] from this one: a model that
    /// stands for several (a fallback list) knows each of theirs.
    fn price_of(&self, _id: &str) -> Price {
        self.info().price
    }
}

/// A streamed answer; see [`Model::chat_stream`].
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<ChatEvent, ModelError>> + Send>>,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

impl ChatStream {
    pub fn new(stream: impl Stream<Item = Result<ChatEvent, ModelError>> + Send + 'static) -> Self {
        ChatStream { inner: Box::pin(stream) }
    }

    /// A stream that fails at once, for errors found before any work starts.
    pub fn failed(error: ModelError) -> Self {
        ChatStream::new(Once(Some(Err(error))))
    }

    /// The next event, or `None` once the stream is over.
    pub async fn next(&mut self) -> Option<Result<ChatEvent, ModelError>> {
        poll_fn(|cx| self.inner.as_mut().poll_next(cx)).await
    }

    /// Drains the stream, handing each text piece to `on_delta`, and returns the final response.
    pub async fn collect(
        mut self,
        mut on_delta: impl FnMut(&str),
    ) -> Result<ChatResponse, ModelError> {
        while let Some(event) = self.next().await {
            match event? {
                ChatEvent::Delta(text) => on_delta(&text),
                ChatEvent::Done(response) => return Ok(response),
            }
        }
        Err(ModelError::Backend {
            message: "the answer stream ended before it was complete".into(),
        })
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Once(Option<Result<ChatEvent, ModelError>>);

impl Stream for Once {
    type Item = Result<ChatEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take())
    }
}

/// Why a model could not answer. The class decides what a caller does next:
/// [`is_retryable`](ModelError::is_retryable) says whether the same request may succeed later,
/// [`falls_back`](ModelError::falls_back) whether another model may answer it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The prompt alone does not fit in the model's context window.
    #[error(
        "the prompt is {prompt_tokens} tokens but the model's context window is {context_window}; \
         shorten the input or use a model with a larger window"
    )]
    ContextTooLong { prompt_tokens: usize, context_window: usize },
    /// The request's JSON Schema cannot be used.
    #[error("invalid JSON Schema at {path}: {reason}")]
    InvalidSchema { path: String, reason: String },
    /// The request itself is malformed (no messages, a bad option, an unknown model, …).
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
    /// The model failed while working; retrying the same request may help.
    #[error("model failure: {message}")]
    Backend { message: String },
    /// The model was shut down before the request finished.
    #[error("the model was unloaded before the request finished")]
    Unavailable,
    /// The provider refused the credentials (or the account has no quota left).
    #[error("authentication failed: {message}")]
    Auth { message: String },
    /// The provider asks the caller to slow down.
    #[error("rate limited{}: {message}", after(retry_after))]
    RateLimited { message: String, retry_after: Option<Duration> },
    /// The provider has no capacity right now (HTTP 503, Anthropic's 529).
    #[error("the provider is overloaded{}: {message}", after(retry_after))]
    Overloaded { message: String, retry_after: Option<Duration> },
    /// The provider answered with a server error.
    #[error("the provider failed with HTTP {status}: {message}")]
    Server { status: u16, message: String },
    /// No answer within a time limit.
    #[error("no {phase} within {:.1} s", after.as_secs_f64())]
    Timeout { phase: TimeoutPhase, after: Duration },
    /// The provider could not be reached (refused, reset, name not resolved) before it answered.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The answer broke off part way (connection reset, stream ended early).
    #[error("the answer broke off: {message}")]
    BrokenStream { message: String },
    /// The provider answered with something that is not a valid answer (malformed or too large).
    #[error("the provider's answer is malformed: {message}")]
    BadResponse { message: String },
    /// Requests to this upstream are paused after repeated failures.
    #[error(
        "{upstream} failed repeatedly; requests to it are paused for another {:.0} s",
        retry_in.as_secs_f64().ceil()
    )]
    CircuitOpen { upstream: String, retry_in: Duration },
}

/// Which time limit a [`ModelError::Timeout`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the connection.
    Connect,
    /// From sending the request to the first piece of the answer.
    FirstToken,
    /// Between two pieces of a streamed answer.
    Idle,
    /// The whole request, retries included.
    Total,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connection",
            TimeoutPhase::FirstToken => "first token",
            TimeoutPhase::Idle => "next token",
            TimeoutPhase::Total => "complete answer",
        })
    }
}

fn after(retry_after: &Option<Duration>) -> String {
    retry_after.map_or(String::new(), |d| format!(" (retry after {:.1} s)", d.as_secs_f64()))
}

impl ModelError {
    /// Whether sending the same request again, after a pause, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ModelError::Backend { .. }
                | ModelError::RateLimited { .. }
                | ModelError::Overloaded { .. }
                | ModelError::Server { .. }
                | ModelError::Timeout { .. }
                | ModelError::Unreachable { .. }
                | ModelError::BrokenStream { .. }
        )
    }

    /// Whether another model may answer where this one failed: everything except a request
    /// that is wrong in itself.
    pub fn falls_back(&self) -> bool {
        !matches!(self, ModelError::InvalidRequest { .. } | ModelError::InvalidSchema { .. })
    }

    /// Whether the error says the upstream itself is unwell (what a circuit breaker counts).
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            ModelError::Overloaded { .. }
                | ModelError::Server { .. }
                | ModelError::Timeout { .. }
                | ModelError::Unreachable { .. }
                | ModelError::BrokenStream { .. }
                | ModelError::BadResponse { .. }
        )
    }

    /// How long the provider asked the caller to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::RateLimited { retry_after, .. }
            | ModelError::Overloaded { retry_after, .. } => *retry_after,
            ModelError::CircuitOpen { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{FinishReason, Timings, Usage};
    use crate::testing::block_on;

    /// A test double of `Stream` that yields fixed events, to test `ChatStream::collect`.
    struct FixedEvents(std::vec::IntoIter<Result<ChatEvent, ModelError>>);

    impl Stream for FixedEvents {
        type Item = Result<ChatEvent, ModelError>;

        fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next())
        }
    }

    fn response(content: &str) -> ChatResponse {
        ChatResponse {
            tool_calls: Vec::new(),
            model: "test".into(),
            content: content.into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn collect_hands_over_pieces_in_order_and_returns_the_final_response() {
        let events = vec![
            Ok(ChatEvent::Delta("Hel".into())),
            Ok(ChatEvent::Delta("lo".into())),
            Ok(ChatEvent::Done(response("Hello"))),
        ];
        let stream = ChatStream::new(FixedEvents(events.into_iter()));
        let mut seen = String::new();
        let out = block_on(stream.collect(|piece| seen.push_str(piece))).expect("complete stream");
        assert_eq!(seen, "Hello");
        assert_eq!(out.content, "Hello");
    }

    #[test]
    fn collect_reports_a_stream_that_ends_without_a_response() {
        let events = vec![Ok(ChatEvent::Delta("Hel".into()))];
        let stream = ChatStream::new(FixedEvents(events.into_iter()));
        let err = block_on(stream.collect(|_| {})).expect_err("truncated stream");
        assert!(matches!(err, ModelError::Backend { .. }), "{err:?}");
    }

    #[test]
    fn a_failed_stream_yields_its_error_once() {
        let error = ModelError::ContextTooLong { prompt_tokens: 9000, context_window: 8192 };
        let mut stream = ChatStream::failed(error.clone());
        assert_eq!(block_on(stream.next()), Some(Err(error)));
        assert_eq!(block_on(stream.next()), None);
    }
}
