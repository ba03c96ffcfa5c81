//! `POST /v1/chat/completions`: a model by name passes straight through; `aimos/consult` runs
//! the pipeline. Streamed or not, errors before the first byte are HTTP errors; after it, an
//! error event and then `[DONE]`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aimos_context::Document;
use aimos_core::{
    Attribution, ChatEvent, ChatRequest, ChatResponse, ChatStream, FinishReason, KeyRecord, Model,
    ModelError, PipelineError, Role, RunOptions, RunRecord, Strategy, Task, TimeoutPhase, Usage,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

use crate::error::ApiError;
use crate::metrics::Observation;
use crate::wire::{self, CompletionRequest};
use crate::{AUTO, AppState, CASCADE, CONSULT, stream};

/// What every answer to one request shares.
struct Call {
    state: AppState,
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    key: Option<KeyRecord>,
    started: Instant,
    deadline: tokio::time::Instant,
    /// Whose spend the request is: the key's name, the request's user and metadata.
    attribution: Attribution,
    /// The last user message: what a pass-through run records as its problem.
    problem: String,
}

impl Call {
    /// Records a pass-through answer in the ledger as a `direct` run, before the answer goes
    /// out (a spooled ledger makes that a local append).
    async fn record_direct(&self, model: &dyn Model, response: &ChatResponse, cost: f64) {
        let run = RunRecord::direct(
            &self.problem,
            &response.model,
            &response.usage,
            aimos_core::Cost { usd: cost },
            self.started.elapsed().as_secs_f64() * 1000.0,
            model.info().external,
            self.attribution.clone(),
        );
        crate::record_answered(&self.state, run).await;
    }

    /// Charges the key, records the metrics, and leaves the in-flight count.
    async fn finish(
        &self,
        status: u16,
        usage: Usage,
        cost_usd: f64,
        counterfactual_usd: f64,
        upstream: Duration,
    ) {
        if let Some(key) = &self.key {
            crate::keys::charge(&self.state, key, cost_usd).await;
        }
        let latency = self.started.elapsed();
        self.state.metrics.leave(Some(&Observation {
            model: self.model.clone(),
            status,
            latency,
            overhead: latency.saturating_sub(upstream),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_usd,
            counterfactual_usd,
            key: self.key.as_ref().map(|k| k.name.clone()),
        }));
    }

    fn chunk(&self, delta: Value, finish: Option<FinishReason>) -> Bytes {
        stream::data(&wire::chunk(&self.id, &self.model, self.created, delta, finish))
    }
}

pub async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    state.metrics.enter();
    match start(&state, &headers, &body, started).await {
        Ok(response) => response,
        Err((model, err)) => {
            let latency = started.elapsed();
            // A name the gateway does not serve never becomes a label.
            let served = err.code != Some("model_not_found");
            let observation = model.map(|model| Observation {
                model: if served { model } else { "(unknown)".to_owned() },
                status: err.status.as_u16(),
                latency,
                overhead: latency,
                ..Observation::default()
            });
            state.metrics.leave(observation.as_ref());
            err.into_response()
        }
    }
}

type Failure = (Option<String>, ApiError);

async fn start(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    started: Instant,
) -> Result<Response, Failure> {
    let key = crate::keys::authorize(state, headers, true).await.map_err(|e| (None, e))?;
    let request: CompletionRequest = serde_json::from_slice(body).map_err(|err| {
        (
            None,
            ApiError::invalid(&format!("the body is not a chat completion request: {err}"), None),
        )
    })?;
    let model_name = request.model.clone();
    let fail = |err: ApiError| (Some(model_name.clone()), err);
    let chat = request.to_chat().map_err(fail)?;
    let call = Call {
        state: Arc::clone(state),
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        model: request.model.clone(),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        include_usage: request.include_usage(),
        attribution: Attribution {
            key: key.as_ref().map(|k| k.name.clone()),
            user: request.user.clone().filter(|u| !u.is_empty()),
            tags: request.metadata.clone().unwrap_or_default(),
        },
        problem: chat
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        key,
        started,
        deadline: tokio::time::Instant::from_std(started + state.limits.request_timeout),
    };
    let strategy = match request.model.as_str() {
        CONSULT => Some(Strategy::Consult),
        CASCADE => Some(Strategy::Cascade),
        AUTO => Some(Strategy::Auto),
        _ => None,
    };
    if let Some(strategy) = strategy {
        return pipeline(call, chat, request.stream, strategy).await.map_err(fail);
    }
    let opened = crate::open_model(state, &request.model)
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", err))
        .map_err(fail)?;
    let model = match opened {
        Ok(Some(model)) => model,
        Ok(None) => {
            return Err(fail(
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    format!(
                        "the model `{}` does not exist here; GET /v1/models lists what does",
                        request.model
                    ),
                )
                .code("model_not_found")
                .no_retry(),
            ));
        }
        Err(why) => {
            return Err(fail(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    format!("the model `{}` cannot be opened: {why}", request.model),
                )
                .no_retry(),
            ));
        }
    };
    if request.stream {
        pass_through_streamed(call, model, chat).await.map_err(fail)
    } else {
        pass_through(call, model, chat).await.map_err(fail)
    }
}

fn timed_out(limit: Duration) -> ApiError {
    ApiError::from_model(&ModelError::Timeout { phase: TimeoutPhase::Total, after: limit })
}

async fn pass_through(
    call: Call,
    model: Arc<dyn Model>,
    chat: ChatRequest,
) -> Result<Response, ApiError> {
    let upstream_started = Instant::now();
    let response = match timeout_at(call.deadline, model.chat(chat)).await {
        Err(_) => return Err(timed_out(call.state.limits.request_timeout)),
        Ok(Err(err)) => return Err(ApiError::from_model(&err)),
        Ok(Ok(response)) => response,
    };
    let upstream = upstream_started.elapsed();
    let body = wire::completion(&call.id, &call.model, call.created, &response);
    let cost = model.price_of(&response.model).cost(&response.usage).usd;
    call.record_direct(&*model, &response, cost).await;
    call.finish(200, response.usage, cost, 0.0, upstream).await;
    Ok(axum::Json(body).into_response())
}

async fn pass_through_streamed(
    call: Call,
    model: Arc<dyn Model>,
    chat: ChatRequest,
) -> Result<Response, ApiError> {
    let upstream_started = Instant::now();
    let mut events = model.chat_stream(chat);
    // Failures before the first piece are still HTTP errors (and a fallback list has had its
    // chance to move on).
    let first = match timeout_at(call.deadline, events.next()).await {
        Err(_) => return Err(timed_out(call.state.limits.request_timeout)),
        Ok(None) => {
            return Err(ApiError::from_model(&ModelError::BrokenStream {
                message: "no answer".into(),
            }));
        }
        Ok(Some(Err(err))) => return Err(ApiError::from_model(&err)),
        Ok(Some(Ok(event))) => event,
    };
    let (tx, response) = stream::channel(None);
    call.state.tasks.clone().spawn(forward(call, model, events, first, tx, upstream_started));
    Ok(response)
}

/// Writes a model's streamed answer as chunks, then the usage chunk if asked, then `[DONE]`.
async fn forward(
    call: Call,
    model: Arc<dyn Model>,
    mut events: ChatStream,
    first: ChatEvent,
    tx: mpsc::Sender<Bytes>,
    upstream_started: Instant,
) {
    let mut next = Some(Ok(first));
    if tx.send(call.chunk(json!({ "role": "assistant", "content": "" }), None)).await.is_err() {
        call.finish(499, Usage::default(), 0.0, 0.0, upstream_started.elapsed()).await;
        return;
    }
    loop {
        let event = match next.take() {
            Some(event) => Some(event),
            None => match timeout_at(call.deadline, events.next()).await {
                Ok(event) => event,
                Err(_) => Some(Err(ModelError::Timeout {
                    phase: TimeoutPhase::Total,
                    after: call.state.limits.request_timeout,
                })),
            },
        };
        match event {
            Some(Ok(ChatEvent::Delta(text))) => {
                if tx.send(call.chunk(json!({ "content": text }), None)).await.is_err() {
                    // The client went away; dropping `events` cancels the upstream request.
                    call.finish(499, Usage::default(), 0.0, 0.0, upstream_started.elapsed()).await;
                    return;
                }
            }
            Some(Ok(ChatEvent::Done(response))) => {
                let upstream = upstream_started.elapsed();
                let cost = model.price_of(&response.model).cost(&response.usage).usd;
                // In the ledger before the client sees the end of the answer.
                call.record_direct(&*model, &response, cost).await;
                let _ = finish_stream(&call, &tx, &response, None).await;
                call.finish(200, response.usage, cost, 0.0, upstream).await;
                return;
            }
            Some(Err(err)) => {
                fail_stream(&call, &tx, &ApiError::from_model(&err), upstream_started).await;
                return;
            }
            None => {
                let error = ApiError::from_model(&ModelError::BrokenStream {
                    message: "the answer ended before it was complete".into(),
                });
                let _ = tx.send(stream::data(&error.body())).await;
                let _ = tx.send(stream::done()).await;
                call.finish(502, Usage::default(), 0.0, 0.0, upstream_started.elapsed()).await;
                return;
            }
        }
    }
}

/// Ends a stream that failed after its first byte: an error event, then `[DONE]`.
async fn fail_stream(
    call: &Call,
    tx: &mpsc::Sender<Bytes>,
    error: &ApiError,
    upstream_started: Instant,
) {
    let _ = tx.send(stream::data(&error.body())).await;
    let _ = tx.send(stream::done()).await;
    call.finish(error.status.as_u16(), Usage::default(), 0.0, 0.0, upstream_started.elapsed())
        .await;
}

/// The closing chunks of a stream: tool calls, the finish reason (with `aimos` for pipeline
/// runs), usage if asked for, `[DONE]`.
async fn finish_stream(
    call: &Call,
    tx: &mpsc::Sender<Bytes>,
    response: &ChatResponse,
    aimos: Option<Value>,
) -> Result<(), mpsc::error::SendError<Bytes>> {
    if let Some(delta) = wire::tool_calls_delta(response) {
        tx.send(call.chunk(delta, None)).await?;
    }
    let mut last =
        wire::chunk(&call.id, &call.model, call.created, json!({}), Some(response.finish_reason));
    if let Some(aimos) = aimos {
        last["aimos"] = aimos;
    }
    tx.send(stream::data(&last)).await?;
    if call.include_usage {
        tx.send(stream::data(&wire::usage_chunk(
            &call.id,
            &call.model,
            call.created,
            &response.usage,
        )))
        .await?;
    }
    tx.send(stream::done()).await
}

/// The pipeline's task: the last user message is the problem; every other message is context.
pub(crate) fn task(chat: &ChatRequest, model: &str) -> Result<Task, ApiError> {
    let last_user = chat.messages.iter().rposition(|m| m.role == Role::User).ok_or_else(|| {
        ApiError::invalid(&format!("{model} needs a user message: the task"), Some("messages"))
    })?;
    let context = chat
        .messages
        .iter()
        .enumerate()
        .filter(|(i, m)| *i != last_user && !m.content.trim().is_empty())
        .map(|(i, m)| Document {
            path: match m.role {
                Role::System => format!("system-prompt-{i}"),
                role => format!("message-{i}-{}", role.as_str()),
            },
            text: m.content.clone(),
        })
        .collect();
    Ok(Task { problem: chat.messages[last_user].content.clone(), context })
}

/// What the pipeline's answer adds to OpenAI's response: the ledger entry in short.
fn aimos_object(record: &RunRecord) -> Value {
    json!({
        "run_id": record.id,
        "strategy": record.strategy,
        "insight_id": record.insight_id,
        "steps": record.steps,
        "cost_usd": record.cost.usd,
        "counterfactual": record.counterfactual,
        "savings": record.savings,
        "latency_ms": record.latency_ms,
    })
}

fn record_usage(record: &RunRecord) -> Usage {
    record.steps.iter().map(|s| s.usage()).fold(Usage::default(), |a, b| a + b)
}

fn record_response(record: &RunRecord, model: &str) -> ChatResponse {
    ChatResponse {
        model: model.into(),
        content: record.result.clone(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        usage: record_usage(record),
        timings: aimos_core::Timings::default(),
    }
}

fn with_run_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-aimos-run-id", value);
    }
    response
}

// One `Done` per run: boxing it would save nothing worth the noise.
#[allow(clippy::large_enum_variant)]
enum Progress {
    Delta(String),
    Done(Result<RunRecord, PipelineError>),
}

/// Starts a shadow check of `record` in the background when the policy's rate picks it.
fn maybe_shadow(call: &Call, task: &Task, options: &RunOptions, record: &RunRecord) {
    if !aimos_core::pipeline::shadow_sampled(&record.id, call.state.policy.shadow_rate) {
        return;
    }
    let (pipeline, task, options, record) =
        (Arc::clone(&call.state.pipeline), task.clone(), options.clone(), record.clone());
    call.state.tasks.spawn(crate::off_workers(async move {
        if let Err(err) = pipeline.shadow(&task, &record, &options).await {
            tracing::warn!(run = %record.id, "shadow check failed: {}", aimos_core::error_chain(&err));
        }
    }));
}

async fn pipeline(
    call: Call,
    chat: ChatRequest,
    streamed: bool,
    strategy: Strategy,
) -> Result<Response, ApiError> {
    if !chat.tools.is_empty() || chat.response_format.is_some() {
        return Err(ApiError::invalid(
            &format!(
                "{} answers in text: send tools and response_format to a model by name",
                call.model
            ),
            Some(if chat.tools.is_empty() { "response_format" } else { "tools" }),
        ));
    }
    let task = task(&chat, &call.model)?;
    let limits = call.state.limits;
    let run_id = aimos_core::ids::new_id();
    // A cascade escalates when the smart model, judging the problem and the result only,
    // finds the result wanting.
    let verifier = (strategy == Strategy::Cascade).then(|| {
        let judge = aimos_core::JudgeVerifier { model: Arc::clone(&call.state.pipeline.smart) };
        Arc::new(judge) as Arc<dyn aimos_core::Verifier>
    });
    let options = RunOptions {
        strategy,
        brief_budget: limits.brief_budget,
        max_result_tokens: chat.max_tokens.unwrap_or(limits.max_result_tokens),
        run_id: Some(run_id.clone()),
        verifier,
        goal: call.state.policy.goal,
        attribution: call.attribution.clone(),
        namespace: call.key.as_ref().and_then(|k| k.namespace.clone()),
        embedder: call.state.policy.embedder.clone(),
        ..RunOptions::default()
    };
    let pipeline = Arc::clone(&call.state.pipeline);
    if !streamed {
        let started = Instant::now();
        let run = {
            let (pipeline, task, options) = (Arc::clone(&pipeline), task.clone(), options.clone());
            crate::off_workers(async move { pipeline.run(&task, &options).await })
        };
        let record = match timeout_at(call.deadline, run).await {
            Err(_) => return Err(timed_out(limits.request_timeout)),
            Ok(Err(err)) => return Err(err),
            Ok(Ok(Err(err))) => {
                let error = ApiError::from_pipeline(&err);
                return Ok(with_run_id(error.into_response(), &run_id));
            }
            Ok(Ok(Ok(record))) => record,
        };
        maybe_shadow(&call, &task, &options, &record);
        let mut body = wire::completion(
            &call.id,
            &call.model,
            call.created,
            &record_response(&record, &call.model),
        );
        body["aimos"] = aimos_object(&record);
        call.finish(
            200,
            record_usage(&record),
            record.cost.usd,
            record.counterfactual.cost.usd,
            started.elapsed(),
        )
        .await;
        return Ok(with_run_id(axum::Json(body).into_response(), &record.id));
    }

    // The consultation happens before the first byte; the executor's answer streams.
    let (progress, mut updates) = mpsc::unbounded_channel();
    let started = Instant::now();
    let shadow_task = task.clone();
    let shadow_options = options.clone();
    call.state.tasks.spawn(crate::off_workers(async move {
        // The run goes on if the client leaves: it is recorded in the ledger either way.
        let on_delta = |piece: &str| {
            let _ = progress.send(Progress::Delta(piece.to_owned()));
        };
        let record = pipeline.run_streaming(&task, &options, &on_delta).await;
        let _ = progress.send(Progress::Done(record));
    }));
    let first = match timeout_at(call.deadline, updates.recv()).await {
        Err(_) => return Err(timed_out(limits.request_timeout)),
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the run ended without a result",
            ));
        }
        Ok(Some(Progress::Done(Err(err)))) => {
            return Ok(with_run_id(ApiError::from_pipeline(&err).into_response(), &run_id));
        }
        Ok(Some(first)) => first,
    };
    let (tx, response) = stream::channel(Some(&run_id));
    call.state.tasks.clone().spawn(async move {
        let mut next = Some(first);
        let mut client_gone =
            tx.send(call.chunk(json!({ "role": "assistant", "content": "" }), None)).await.is_err();
        loop {
            let update = match next.take() {
                Some(update) => Some(update),
                None => updates.recv().await,
            };
            match update {
                Some(Progress::Delta(text)) => {
                    if !client_gone {
                        client_gone =
                            tx.send(call.chunk(json!({ "content": text }), None)).await.is_err();
                    }
                }
                Some(Progress::Done(Ok(record))) => {
                    maybe_shadow(&call, &shadow_task, &shadow_options, &record);
                    let response = record_response(&record, &call.model);
                    if !client_gone {
                        let _ =
                            finish_stream(&call, &tx, &response, Some(aimos_object(&record))).await;
                    }
                    let status = if client_gone { 499 } else { 200 };
                    call.finish(
                        status,
                        response.usage,
                        record.cost.usd,
                        record.counterfactual.cost.usd,
                        started.elapsed(),
                    )
                    .await;
                    return;
                }
                Some(Progress::Done(Err(err))) => {
                    fail_stream(&call, &tx, &ApiError::from_pipeline(&err), started).await;
                    return;
                }
                None => {
                    call.finish(500, Usage::default(), 0.0, 0.0, started.elapsed()).await;
                    return;
                }
            }
        }
    });
    Ok(response)
}
