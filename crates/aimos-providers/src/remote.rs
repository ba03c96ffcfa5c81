//! What every remote model shares: the endpoint (client, key, limits, breaker), the retry loop,
//! streaming over server-sent events, and the `Model` implementation. Vendors differ only in
//! their [`Wire`]: how a request is written and how an answer is read.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aimos_core::{
    BoxFuture, ChatEvent, ChatRequest, ChatResponse, ChatStream, FinishReason, Model, ModelError,
    ModelInfo, TimeoutPhase, Timings, ToolCall, Usage,
};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

use crate::ApiKey;
use crate::classify;
use crate::policy::{Breaker, BreakerPolicy, RetryPolicy, Timeouts};
use crate::sse;

/// Most bytes of one answer (a whole body, or all the events of a stream).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// A configured upstream: where it is, how to authenticate, and how hard to try.
/// Models on the same endpoint share its connection pool and circuit breaker.
#[derive(Debug)]
pub struct Endpoint {
    /// The provider's name in model names (`openai`, `anthropic`, or a configured one).
    pub provider: String,
    pub base_url: String,
    pub(crate) key: Option<ApiKey>,
    /// The variable the key came from, named in authentication errors.
    pub(crate) key_env: Option<String>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub max_response_bytes: usize,
    pub(crate) client: reqwest::Client,
    pub(crate) breaker: Breaker,
    /// The upstream refused OpenAI's `json_schema` response format and takes the older
    /// `{"type": "json_object", "schema": …}` (llama-cpp-python, some hosted servers).
    pub(crate) json_object_schema: AtomicBool,
}

impl Endpoint {
    pub(crate) fn uses_json_object_schema(&self) -> bool {
        self.json_object_schema.load(Ordering::Relaxed)
    }

    pub(crate) fn use_json_object_schema(&self) {
        self.json_object_schema.store(true, Ordering::Relaxed);
    }

    pub(crate) fn new(
        provider: &str,
        base_url: &str,
        key: Option<ApiKey>,
        key_env: Option<String>,
        timeouts: Timeouts,
        retry: RetryPolicy,
        breaker: BreakerPolicy,
    ) -> Result<Endpoint, ModelError> {
        // reqwest is built without a default crypto provider; ring is the one in the tree.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("aimos/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ModelError::InvalidRequest {
                message: format!(
                    "cannot set up HTTP for {provider}: {}",
                    aimos_core::error_chain(&err)
                ),
            })?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        Ok(Endpoint {
            breaker: Breaker::new(format!("{provider} ({base_url})"), breaker),
            provider: provider.to_owned(),
            base_url,
            key,
            key_env,
            timeouts,
            retry,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            client,
            json_object_schema: AtomicBool::new(false),
        })
    }

    /// Whether the circuit breaker refuses requests to this endpoint right now.
    pub fn is_paused(&self) -> bool {
        self.breaker.is_open()
    }

    /// The key, for headers and for scrubbing it out of messages.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.key.as_ref().map(ApiKey::expose)
    }

    pub(crate) fn key_hint(&self) -> String {
        match &self.key_env {
            Some(var) if self.key.is_some() => format!("check the key in {var}"),
            Some(var) => format!("set {var}"),
            None => "this endpoint has no key configured".into(),
        }
    }
}

/// A vendor's wire format.
pub(crate) trait Wire: Send + Sync + 'static {
    type Decoder: StreamDecoder;

    /// The path below the base URL that answers chat requests.
    fn path(&self) -> &'static str;
    /// Headers that authenticate and version the request.
    fn headers(
        &self,
        endpoint: &Endpoint,
        builder: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder;
    /// The JSON body for `request`.
    fn body(
        &self,
        model: &str,
        request: &ChatRequest,
        stream: bool,
        endpoint: &Endpoint,
    ) -> Result<serde_json::Value, ModelError>;
    /// Whether `err` says the upstream does not know the structured-output form used, and
    /// remembers to use another one; the request is then sent again at once.
    fn adapt(&self, _err: &ModelError, _endpoint: &Endpoint) -> bool {
        false
    }
    /// Reads an answer to `request` that came in one piece.
    fn parse(
        &self,
        body: &[u8],
        request: &ChatRequest,
        endpoint: &Endpoint,
    ) -> Result<Answer, ModelError>;
    /// A decoder for one streamed answer to `request`.
    fn decoder(&self, request: &ChatRequest) -> Self::Decoder;
}

/// Reads one streamed answer, event by event.
pub(crate) trait StreamDecoder: Send + 'static {
    /// Takes one event; text it carries goes to `delta`. Returns true when the answer is over.
    fn event(
        &mut self,
        event: sse::Event,
        delta: &mut String,
        endpoint: &Endpoint,
    ) -> Result<bool, ModelError>;
    /// The answer, once the stream ended (`complete`: the vendor's end marker was seen).
    fn finish(self, complete: bool) -> Result<Answer, ModelError>;
}

/// An answer as a vendor reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    /// `None` where the upstream did not say; aimos then estimates.
    pub usage: Option<Usage>,
}

/// A model behind a remote endpoint.
pub(crate) struct RemoteModel<W: Wire> {
    inner: Arc<Inner<W>>,
}

struct Inner<W> {
    info: ModelInfo,
    /// The upstream's name for the model.
    model: String,
    endpoint: Arc<Endpoint>,
    wire: W,
}

impl<W: Wire> RemoteModel<W> {
    pub fn new(info: ModelInfo, model: String, endpoint: Arc<Endpoint>, wire: W) -> Self {
        RemoteModel { inner: Arc::new(Inner { info, model, endpoint, wire }) }
    }
}

impl<W: Wire> Model for RemoteModel<W> {
    fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    fn chat_stream(&self, request: ChatRequest) -> ChatStream {
        // The work starts at the first poll, inside whatever Tokio runtime polls it.
        ChatStream::new(TaskStream::Pending(Some(Box::new((Arc::clone(&self.inner), request)))))
    }

    fn chat(&self, request: ChatRequest) -> BoxFuture<'static, Result<ChatResponse, ModelError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.call(request, None).await })
    }
}

/// The events of a streamed answer, produced by a task that starts at the first poll and is
/// cancelled when this is dropped.
enum TaskStream<W> {
    Pending(Option<Box<(Arc<Inner<W>>, ChatRequest)>>),
    Running { rx: mpsc::Receiver<Result<ChatEvent, ModelError>>, task: tokio::task::AbortHandle },
}

impl<W: Wire> futures_core::Stream for TaskStream<W> {
    type Item = Result<ChatEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let TaskStream::Pending(pending) = &mut *self {
            let Some(work) = pending.take() else { return Poll::Ready(None) };
            let (inner, request) = *work;
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return Poll::Ready(Some(Err(ModelError::InvalidRequest {
                    message: "remote models must be polled inside a Tokio runtime".into(),
                })));
            };
            let (tx, rx) = mpsc::channel(64);
            let task = runtime.spawn(async move {
                let result = inner.call(request, Some(&tx)).await;
                let _ = tx.send(result.map(ChatEvent::Done)).await;
            });
            *self = TaskStream::Running { rx, task: task.abort_handle() };
        }
        match &mut *self {
            TaskStream::Running { rx, .. } => rx.poll_recv(cx),
            TaskStream::Pending(_) => Poll::Ready(None),
        }
    }
}

impl<W> Drop for TaskStream<W> {
    fn drop(&mut self) {
        if let TaskStream::Running { task, .. } = self {
            task.abort();
        }
    }
}

type Sender = mpsc::Sender<Result<ChatEvent, ModelError>>;

impl<W: Wire> Inner<W> {
    /// One call: tries, retries and pauses, all within the total time limit.
    async fn call(
        &self,
        request: ChatRequest,
        tx: Option<&Sender>,
    ) -> Result<ChatResponse, ModelError> {
        let endpoint = &*self.endpoint;
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + endpoint.timeouts.total);
        let mut body = self.body(&request, tx.is_some())?;
        let mut emitted = false;
        let mut retries = 0;
        let mut adapted = false;
        loop {
            let permit = endpoint.breaker.admit()?;
            let attempt =
                timeout_at(deadline, self.attempt(&request, &body, tx, &mut emitted)).await;
            let outcome = attempt.unwrap_or(Err(ModelError::Timeout {
                phase: TimeoutPhase::Total,
                after: endpoint.timeouts.total,
            }));
            permit.finish(outcome.as_ref().map(|_| ()));
            let err = match outcome {
                Ok((answer, first)) => return Ok(self.response(&request, answer, started, first)),
                Err(err) => err,
            };
            if !adapted && !emitted && self.wire.adapt(&err, endpoint) {
                adapted = true;
                body = self.body(&request, tx.is_some())?;
                continue;
            }
            // Text already handed to the caller cannot be taken back: no retry after it.
            if emitted || !err.is_retryable() || retries >= endpoint.retry.max_retries {
                return Err(err);
            }
            retries += 1;
            let pause = endpoint.retry.pause(retries, err.retry_after());
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(err);
            }
            tracing::info!(
                model = %self.info.id,
                retry = retries,
                pause_ms = pause.as_millis() as u64,
                error = %err,
                "retrying"
            );
            tokio::time::sleep(pause).await;
        }
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Result<Vec<u8>, ModelError> {
        let body = self.wire.body(&self.model, request, stream, &self.endpoint)?;
        serde_json::to_vec(&body).map_err(|err| ModelError::InvalidRequest {
            message: format!("the request cannot be written as JSON: {err}"),
        })
    }

    /// One try. Returns the answer and when its first piece arrived.
    async fn attempt(
        &self,
        request: &ChatRequest,
        body: &[u8],
        tx: Option<&Sender>,
        emitted: &mut bool,
    ) -> Result<(Answer, Option<Instant>), ModelError> {
        let endpoint = &*self.endpoint;
        let timeouts = &endpoint.timeouts;
        let url = format!("{}{}", endpoint.base_url, self.wire.path());
        let builder = self
            .wire
            .headers(endpoint, endpoint.client.post(&url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let first_deadline = tokio::time::Instant::now() + timeouts.first_token;
        // An answer in one piece has its head sent when generation is done: only the total
        // limit applies to it.
        let head_deadline = if tx.is_some() { first_deadline } else { far_future() };
        let mut response = match timeout_at(head_deadline, builder.send()).await {
            Err(_) => {
                return Err(ModelError::Timeout {
                    phase: TimeoutPhase::FirstToken,
                    after: timeouts.first_token,
                });
            }
            Ok(Err(err)) => return Err(classify::transport_error(&err, &url, timeouts.connect)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            // The error body is small; a broken one still leaves the status to classify by.
            let body = read_body(&mut response, 64 << 10, timeouts.idle).await.unwrap_or_default();
            return Err(classify::status_error(
                status.as_u16(),
                &headers,
                &body,
                endpoint.secret(),
                &endpoint.key_hint(),
            ));
        }
        let Some(tx) = tx else {
            let body = read_body(&mut response, endpoint.max_response_bytes, timeouts.idle).await?;
            let answer = self.wire.parse(&body, request, endpoint)?;
            return Ok((answer, None));
        };

        let mut sse = sse::Decoder::new(endpoint.max_response_bytes);
        let mut decoder = self.wire.decoder(request);
        let mut events = Vec::new();
        let mut delta = String::new();
        let mut first: Option<Instant> = None;
        let mut received = 0usize;
        let mut complete = false;
        while !complete {
            let (deadline, phase, limit) = match first {
                None => (first_deadline, TimeoutPhase::FirstToken, timeouts.first_token),
                Some(_) => {
                    (tokio::time::Instant::now() + timeouts.idle, TimeoutPhase::Idle, timeouts.idle)
                }
            };
            let chunk = match timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(ModelError::Timeout { phase, after: limit }),
                Ok(Err(err)) => {
                    return Err(ModelError::BrokenStream {
                        message: aimos_core::error_chain(&err),
                    });
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            received += chunk.len();
            if received > endpoint.max_response_bytes {
                return Err(too_large(endpoint.max_response_bytes));
            }
            sse.feed(&chunk, &mut events).map_err(|err| ModelError::BadResponse {
                message: format!("event stream: {err}"),
            })?;
            for event in events.drain(..) {
                complete = decoder.event(event, &mut delta, endpoint)?;
                if !delta.is_empty() {
                    first.get_or_insert_with(Instant::now);
                    *emitted = true;
                    if tx.send(Ok(ChatEvent::Delta(std::mem::take(&mut delta)))).await.is_err() {
                        // The caller dropped the stream; the task is being cancelled.
                        return Err(ModelError::Unavailable);
                    }
                }
                if complete {
                    break;
                }
            }
        }
        if !complete && sse.is_mid_event() {
            return Err(ModelError::BrokenStream { message: "the stream ended mid-event".into() });
        }
        Ok((decoder.finish(complete)?, first))
    }

    fn response(
        &self,
        request: &ChatRequest,
        answer: Answer,
        started: Instant,
        first: Option<Instant>,
    ) -> ChatResponse {
        let total = started.elapsed();
        let prompt = first.map_or(total, |t| t.duration_since(started));
        let usage = answer.usage.unwrap_or_else(|| Usage {
            prompt_tokens: estimate_tokens(request.messages.iter().map(|m| m.content.as_str())),
            completion_tokens: estimate_tokens([answer.content.as_str()]),
            ..Usage::default()
        });
        ChatResponse {
            model: self.info.id.clone(),
            content: answer.content,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage,
            timings: Timings {
                queued: Duration::ZERO,
                prompt,
                generation: total.saturating_sub(prompt),
                total,
                ..Timings::default()
            },
        }
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// A rough token count for upstreams that report no usage: four characters a token.
fn estimate_tokens<'a>(texts: impl IntoIterator<Item = &'a str>) -> u64 {
    let chars: usize = texts.into_iter().map(|t| t.chars().count()).sum();
    chars.div_ceil(4) as u64
}

fn too_large(limit: usize) -> ModelError {
    ModelError::BadResponse { message: format!("the answer exceeds {} MiB", limit >> 20) }
}

/// Reads a whole body, refusing more than `limit` bytes and a stall longer than `idle`.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ModelError> {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(ModelError::Timeout { phase: TimeoutPhase::Idle, after: idle }),
            Ok(Err(err)) => {
                return Err(ModelError::BrokenStream { message: aimos_core::error_chain(&err) });
            }
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// Parses a JSON body, or says what is wrong with it.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ModelError> {
    serde_json::from_slice(body)
        .map_err(|err| ModelError::BadResponse { message: format!("{err} in {}", preview(body)) })
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    format!("`{}{}`", text.trim(), if body.len() > 120 { "…" } else { "" })
}
