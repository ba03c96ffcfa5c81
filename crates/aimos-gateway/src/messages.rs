//! `POST /v1/messages`: Anthropic's Messages API, whole and streamed with its named events, for
//! every model the gateway serves and for the pipeline models, so that applications on
//! Anthropic's SDK and agents configured with a base URL route through aimos. Keys come as
//! `x-api-key` (or `Authorization: Bearer`); errors come in Anthropic's format.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aimos_core::{
    ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, ModelError, RunOptions, Strategy,
    TimeoutPhase, Usage,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

use crate::error::ApiError;
use crate::metrics::Observation;
use crate::{AUTO, AppState, CASCADE, CONSULT, stream};

#[derive(Debug, Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: u32,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Content>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    #[serde(default)]
    stream: bool,
    /// Anthropic's metadata: `user_id` is recorded as the run's user.
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// The text of the content; anything but text blocks is refused.
    fn text(&self, at: &str) -> Result<String, ApiError> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Blocks(blocks) => {
                let mut out = Vec::new();
                for block in blocks {
                    match (block.kind.as_str(), &block.text) {
                        ("text", Some(text)) => out.push(text.as_str()),
                        (kind, _) => {
                            return Err(ApiError::invalid(
                                &format!(
                                    "{at}: `{kind}` blocks are not served here; send text blocks"
                                ),
                                Some(at),
                            ));
                        }
                    }
                }
                Ok(out.join("\n\n"))
            }
        }
    }
}

impl MessagesRequest {
    fn to_chat(&self) -> Result<ChatRequest, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid("`messages` is empty", Some("messages")));
        }
        if self.max_tokens == 0 {
            return Err(ApiError::invalid("`max_tokens` must be at least 1", Some("max_tokens")));
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = &self.system {
            messages.push(Message::system(system.text("system")?));
        }
        for (i, message) in self.messages.iter().enumerate() {
            let at = format!("messages.{i}.content");
            let text = message.content.text(&at)?;
            messages.push(match message.role.as_str() {
                "user" => Message::user(text),
                "assistant" => Message::assistant(text),
                other => {
                    return Err(ApiError::invalid(
                        &format!(
                            "messages.{i}.role: `{other}` is not a role; use user or assistant"
                        ),
                        Some("messages"),
                    ));
                }
            });
        }
        Ok(ChatRequest {
            max_tokens: Some(self.max_tokens),
            temperature: self.temperature,
            top_p: self.top_p,
            stop: self.stop_sequences.clone(),
            ..ChatRequest::new(messages)
        })
    }
}

/// An answer as it arrives, from a model or from a pipeline run.
enum Piece {
    Delta(String),
    Done(Result<(ChatResponse, f64, Option<String>), ApiError>),
}

pub async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    match start(&state, &headers, &body, started).await {
        Ok(response) => response,
        Err(err) => anthropic_error(&err),
    }
}

async fn start(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    started: Instant,
) -> Result<Response, ApiError> {
    let key = crate::keys::authorize(state, headers, true).await?;
    let request: MessagesRequest = serde_json::from_slice(body).map_err(|err| {
        ApiError::invalid(&format!("the body is not a Messages API request: {err}"), None)
    })?;
    let chat = request.to_chat()?;
    let attribution = aimos_core::Attribution {
        key: key.as_ref().map(|k| k.name.clone()),
        user: request.metadata.as_ref().and_then(|m| m.user_id.clone()).filter(|u| !u.is_empty()),
        tags: Default::default(),
    };
    let problem = chat
        .messages
        .iter()
        .rev()
        .find(|m| m.role == aimos_core::Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let deadline = tokio::time::Instant::from_std(started + state.limits.request_timeout);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let strategy = match request.model.as_str() {
        CONSULT => Some(Strategy::Consult),
        CASCADE => Some(Strategy::Cascade),
        AUTO => Some(Strategy::Auto),
        _ => None,
    };
    let (run_id, external) = match strategy {
        Some(strategy) => {
            let namespace = key.as_ref().and_then(|k| k.namespace.clone());
            let who = (attribution.clone(), namespace);
            let run = run_pipeline(state, &request.model, chat, strategy, who, tx)?;
            (Some(run), None)
        }
        None => (None, Some(run_model(state, &request.model, chat, tx).await?)),
    };
    state.metrics.enter();
    let call = Finish {
        state: Arc::clone(state),
        key,
        model: request.model.clone(),
        started,
        direct: external.map(|external| (external, problem, attribution)),
    };
    let first = match timeout_at(deadline, rx.recv()).await {
        Err(_) => Err(timed_out(state.limits.request_timeout)),
        Ok(None) => Err(broken()),
        Ok(Some(Piece::Done(Err(err)))) => Err(err),
        Ok(Some(piece)) => Ok(piece),
    };
    let first = match first {
        Ok(first) => first,
        Err(err) => {
            call.fail(err.status.as_u16()).await;
            return Err(err);
        }
    };
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    if !request.stream {
        let mut text = String::new();
        let mut next = Some(first);
        let done = loop {
            let piece = match next.take() {
                Some(piece) => Some(piece),
                None => timeout_at(deadline, rx.recv())
                    .await
                    .unwrap_or(Some(Piece::Done(Err(timed_out(state.limits.request_timeout))))),
            };
            match piece {
                Some(Piece::Delta(piece)) => text.push_str(&piece),
                Some(Piece::Done(done)) => break done,
                None => break Err(broken()),
            }
        };
        let (response, cost, run) = match done {
            Ok(done) => done,
            Err(err) => {
                call.fail(err.status.as_u16()).await;
                return Err(err);
            }
        };
        call.succeed(&response, cost).await;
        let mut body = message(&id, &request.model, &response);
        if let Some(run) = &run {
            body["aimos"] = json!({"run_id": run});
        }
        return Ok(with_run_id(axum::Json(body).into_response(), run_id.as_deref()));
    }
    let (frames, response) = stream::channel(run_id.as_deref());
    let model = request.model.clone();
    state.tasks.spawn(async move {
        let start = json!({
            "type": "message_start",
            "message": {"id": id, "type": "message", "role": "assistant", "model": model,
                        "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": 0, "output_tokens": 0}},
        });
        let block = json!({"type": "content_block_start", "index": 0,
                           "content_block": {"type": "text", "text": ""}});
        if frames.send(event("message_start", &start)).await.is_err()
            || frames.send(event("content_block_start", &block)).await.is_err()
        {
            call.fail(499).await;
            return;
        }
        let mut next = Some(first);
        loop {
            let piece = match next.take() {
                Some(piece) => Some(piece),
                None => timeout_at(deadline, rx.recv()).await.unwrap_or(Some(Piece::Done(Err(
                    timed_out(call.state.limits.request_timeout),
                )))),
            };
            match piece {
                Some(Piece::Delta(text)) => {
                    let delta = json!({"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": text}});
                    if frames.send(event("content_block_delta", &delta)).await.is_err() {
                        // The client went away: dropping `rx` stops a model's stream.
                        call.fail(499).await;
                        return;
                    }
                }
                Some(Piece::Done(Ok((response, cost, _)))) => {
                    let usage = &response.usage;
                    let closing = [
                        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                        (
                            "message_delta",
                            json!({
                                "type": "message_delta",
                                "delta": {"stop_reason": stop_reason(&response), "stop_sequence": null},
                                "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
                            }),
                        ),
                        ("message_stop", json!({"type": "message_stop"})),
                    ];
                    // Recorded before the client sees the end of the answer.
                    call.succeed(&response, cost).await;
                    for (name, data) in closing {
                        if frames.send(event(name, &data)).await.is_err() {
                            break;
                        }
                    }
                    return;
                }
                Some(Piece::Done(Err(err))) => {
                    let _ = frames.send(event("error", &error_body(&err))).await;
                    call.fail(err.status.as_u16()).await;
                    return;
                }
                None => {
                    let err = broken();
                    let _ = frames.send(event("error", &error_body(&err))).await;
                    call.fail(err.status.as_u16()).await;
                    return;
                }
            }
        }
    });
    Ok(response)
}

/// Opens the model `name` and streams its answer into `tx`; an unknown name is a 404. Returns
/// whether the model is outside this machine.
async fn run_model(
    state: &AppState,
    name: &str,
    chat: ChatRequest,
    tx: mpsc::UnboundedSender<Piece>,
) -> Result<bool, ApiError> {
    let opened = crate::open_model(state, name)
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", err))?;
    let model = match opened {
        Ok(Some(model)) => model,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found_error",
                format!("the model `{name}` does not exist here; GET /v1/models lists what does"),
            ));
        }
        Err(why) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded_error",
                format!("the model `{name}` cannot be opened: {why}"),
            ));
        }
    };
    let external = model.info().external;
    let mut events = model.chat_stream(chat);
    state.tasks.spawn(async move {
        loop {
            let piece = match events.next().await {
                Some(Ok(ChatEvent::Delta(text))) => Piece::Delta(text),
                Some(Ok(ChatEvent::Done(response))) => {
                    let cost = model.price_of(&response.model).cost(&response.usage).usd;
                    let _ = tx.send(Piece::Done(Ok((response, cost, None))));
                    return;
                }
                Some(Err(err)) => Piece::Done(Err(ApiError::from_model(&err))),
                None => Piece::Done(Err(broken())),
            };
            let last = matches!(piece, Piece::Done(_));
            // A receiver gone (the client left) drops `events`, which cancels upstream.
            if tx.send(piece).is_err() || last {
                return;
            }
        }
    });
    Ok(external)
}

/// Starts a pipeline run whose answer streams into `tx`; returns the run's id. The run goes on
/// if the client leaves: it is recorded either way.
fn run_pipeline(
    state: &AppState,
    name: &str,
    chat: ChatRequest,
    strategy: Strategy,
    (attribution, namespace): (aimos_core::Attribution, Option<String>),
    tx: mpsc::UnboundedSender<Piece>,
) -> Result<String, ApiError> {
    let task = crate::chat::task(&chat, name)?;
    let run_id = aimos_core::ids::new_id();
    let verifier = (strategy == Strategy::Cascade).then(|| {
        let judge = aimos_core::JudgeVerifier { model: Arc::clone(&state.pipeline.smart) };
        Arc::new(judge) as Arc<dyn aimos_core::Verifier>
    });
    let options = RunOptions {
        strategy,
        brief_budget: state.limits.brief_budget,
        max_result_tokens: chat.max_tokens.unwrap_or(state.limits.max_result_tokens),
        run_id: Some(run_id.clone()),
        verifier,
        goal: state.policy.goal,
        attribution,
        namespace,
        embedder: state.policy.embedder.clone(),
        ..RunOptions::default()
    };
    let pipeline = Arc::clone(&state.pipeline);
    let name = name.to_owned();
    state.tasks.spawn(crate::off_workers(async move {
        let deltas = tx.clone();
        let on_delta = move |piece: &str| {
            let _ = deltas.send(Piece::Delta(piece.to_owned()));
        };
        let done = match pipeline.run_streaming(&task, &options, &on_delta).await {
            Ok(record) => {
                let usage =
                    record.steps.iter().map(|s| s.usage()).fold(Usage::default(), |a, b| a + b);
                let response = ChatResponse {
                    model: name,
                    content: record.result.clone(),
                    tool_calls: Vec::new(),
                    finish_reason: FinishReason::Stop,
                    usage,
                    timings: aimos_core::Timings::default(),
                };
                Ok((response, record.cost.usd, Some(record.id)))
            }
            Err(err) => Err(ApiError::from_pipeline(&err)),
        };
        let _ = tx.send(Piece::Done(done));
    }));
    Ok(run_id)
}

/// Charges the key and records the metrics when a request ends.
struct Finish {
    state: AppState,
    key: Option<aimos_core::KeyRecord>,
    model: String,
    started: Instant,
    /// For a model by name: whether it is external, the problem and the attribution its
    /// `direct` run is recorded with (a pipeline run records itself).
    direct: Option<(bool, String, aimos_core::Attribution)>,
}

impl Finish {
    async fn succeed(&self, response: &ChatResponse, cost: f64) {
        if let Some(key) = &self.key {
            crate::keys::charge(&self.state, key, cost).await;
        }
        if let Some((external, problem, attribution)) = &self.direct {
            let run = aimos_core::RunRecord::direct(
                problem,
                &response.model,
                &response.usage,
                aimos_core::Cost { usd: cost },
                self.started.elapsed().as_secs_f64() * 1000.0,
                *external,
                attribution.clone(),
            );
            // In the ledger before the answer goes out.
            crate::record_answered(&self.state, run).await;
        }
        self.observe(200, response.usage, cost);
    }

    async fn fail(&self, status: u16) {
        self.observe(status, Usage::default(), 0.0);
    }

    fn observe(&self, status: u16, usage: Usage, cost: f64) {
        let latency = self.started.elapsed();
        self.state.metrics.leave(Some(&Observation {
            model: self.model.clone(),
            status,
            latency,
            overhead: Duration::ZERO,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_usd: cost,
            counterfactual_usd: 0.0,
            key: self.key.as_ref().map(|k| k.name.clone()),
        }));
    }
}

fn message(id: &str, model: &str, response: &ChatResponse) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": response.content}],
        "stop_reason": stop_reason(response),
        "stop_sequence": null,
        "usage": {"input_tokens": response.usage.prompt_tokens, "output_tokens": response.usage.completion_tokens},
    })
}

fn stop_reason(response: &ChatResponse) -> &'static str {
    match response.finish_reason {
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        _ => "end_turn",
    }
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn timed_out(limit: Duration) -> ApiError {
    ApiError::from_model(&ModelError::Timeout { phase: TimeoutPhase::Total, after: limit })
}

fn broken() -> ApiError {
    ApiError::from_model(&ModelError::BrokenStream {
        message: "the answer ended before it was complete".into(),
    })
}

/// Anthropic's error types for the gateway's statuses.
fn error_type(err: &ApiError) -> &'static str {
    match err.status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

fn error_body(err: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": error_type(err), "message": err.message}})
}

/// An error as Anthropic's API answers one, with the gateway's status and retry headers.
fn anthropic_error(err: &ApiError) -> Response {
    let mut response = (err.status, axum::Json(error_body(err))).into_response();
    let headers = response.headers_mut();
    if let Some(after) = err.retry_after {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            headers.insert("retry-after", value);
        }
    }
    if err.should_retry == Some(false) {
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    response
}

fn with_run_id(mut response: Response, id: Option<&str>) -> Response {
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert("x-aimos-run-id", value);
    }
    response
}

#[cfg(test)]
mod fuzz {
    use super::MessagesRequest;

    /// Request bodies are outside input: none makes reading a Messages API request panic.
    #[test]
    fn no_body_makes_a_messages_request_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"model":"aimos/consult","max_tokens":64,"stream":true,"temperature":0.5,"system":[{"type":"text","text":"be brief"}],"stop_sequences":["\n"],"metadata":{"user_id":"u"},"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[{"type":"text","text":"Hello"}]},{"role":"user","content":[{"type":"text","text":"Why?"},{"type":"image","source":{}}]}]}"#,
            br#"{"model":"m","max_tokens":1,"system":"s","messages":[]}"#,
        ];
        aimos_core::fuzz::run("messages-request", seeds, |input| {
            if let Ok(request) = serde_json::from_slice::<MessagesRequest>(input) {
                let _ = request.to_chat();
            }
        });
    }
}
