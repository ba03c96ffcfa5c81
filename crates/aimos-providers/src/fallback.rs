//! A list of models that stand in for one another: `smart = ["anthropic:…", "openai:…"]`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aimos_core::{ChatEvent, ChatRequest, ChatStream, Model, ModelError, ModelInfo, Price};
use futures_core::Stream;

/// Sends each request to the first model, and to the next when one fails before its answer
/// began with an error another model may not have (see [`ModelError::falls_back`]).
/// Each model keeps its own retries: this adds one hop per model, not another retry loop.
/// Once text has arrived, a failure is the caller's: a half-written answer is never restarted
/// on another model.
pub struct Fallback {
    info: ModelInfo,
    models: Vec<Arc<dyn Model>>,
}

impl Fallback {
    /// A fallback list; its info (name, window, price) is its first model's.
    ///
    /// Returns `None` for an empty list.
    pub fn new(models: Vec<Arc<dyn Model>>) -> Option<Fallback> {
        let first = models.first()?;
        let info = first.info().clone();
        Some(Fallback { info, models })
    }

    pub fn models(&self) -> &[Arc<dyn Model>] {
        &self.models
    }
}

impl Model for Fallback {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn chat_stream(&self, request: ChatRequest) -> ChatStream {
        let mut rest: VecDeque<Arc<dyn Model>> = self.models.iter().cloned().collect();
        let Some(first) = rest.pop_front() else {
            return ChatStream::failed(ModelError::Unavailable);
        };
        let current = first.chat_stream(request.clone());
        ChatStream::new(FallbackStream {
            current,
            current_id: first.info().id.clone(),
            rest,
            request,
            started: false,
        })
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.models.first().and_then(|m| m.count_tokens(text))
    }

    fn price_of(&self, id: &str) -> Price {
        self.models.iter().find(|m| m.info().id == id).map_or(self.info.price, |m| m.price_of(id))
    }
}

struct FallbackStream {
    current: ChatStream,
    current_id: String,
    rest: VecDeque<Arc<dyn Model>>,
    request: ChatRequest,
    started: bool,
}

impl Stream for FallbackStream {
    type Item = Result<ChatEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let this = &mut *self;
            let item = match Pin::new(&mut this.current).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item,
            };
            match item {
                Some(Err(err)) if !this.started && err.falls_back() && !this.rest.is_empty() => {
                    let Some(next) = this.rest.pop_front() else {
                        return Poll::Ready(Some(Err(err)));
                    };
                    tracing::warn!(
                        failed = %this.current_id,
                        next = %next.info().id,
                        error = %err,
                        "falling back"
                    );
                    this.current_id = next.info().id.clone();
                    this.current = next.chat_stream(this.request.clone());
                }
                Some(Ok(event)) => {
                    this.started = true;
                    return Poll::Ready(Some(Ok(event)));
                }
                other => return Poll::Ready(other),
            }
        }
    }
}
