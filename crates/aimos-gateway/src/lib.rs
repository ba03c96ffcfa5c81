//! The aimos gateway: an OpenAI-compatible HTTP server.
//!
//! An application switches to aimos by changing its base URL. A configured model name passes
//! straight through to its model; `aimos/consult` runs the pipeline (the last user message is
//! the problem, everything else the context). Beside `POST /v1/chat/completions` and
//! `GET /v1/models` it serves the advisor routes (`POST /v1/aimos/consult`, an insight for a
//! caller that executes itself, and `POST /v1/aimos/outcomes`), the insights and runs over
//! REST, `GET /metrics`, `/healthz`, `/readyz` and `/openapi.json`. Keys, budgets and rate limits are in [`keys`].
//!
//! The gateway gets its models through [`ModelSource`] and the core traits: it links no model
//! runtime itself.

mod advisor;
mod chat;
pub mod error;
pub mod keys;
mod messages;
pub mod metrics;
pub mod openapi;
mod rest;
mod stream;
pub mod ui;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use aimos_core::{Model, Pipeline, Store};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;
pub use metrics::Metrics;

/// The pipeline model's names: consult on every task, cascade (the cheap model first, checked
/// by the smart model as judge), or let the policy choose per task.
pub const CONSULT: &str = "aimos/consult";
pub const CASCADE: &str = "aimos/cascade";
pub const AUTO: &str = "aimos/auto";
pub const PIPELINE_MODELS: [&str; 3] = [CONSULT, CASCADE, AUTO];

/// How the pipeline models decide: `auto`'s goal, the fraction of runs that get a shadow
/// check in the background, and the embedding model that finds insights by meaning.
#[derive(Clone, Default)]
pub struct Policy {
    pub goal: aimos_core::policy::Goal,
    pub shadow_rate: f64,
    pub embedder: Option<Arc<dyn aimos_core::Embed>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("goal", &self.goal)
            .field("shadow_rate", &self.shadow_rate)
            .field("embedder", &self.embedder.as_ref().map(|e| e.id().to_owned()))
            .finish()
    }
}

/// Where the gateway finds the models it serves by name.
pub trait ModelSource: Send + Sync {
    /// The names `GET /v1/models` lists.
    fn names(&self) -> Vec<String>;

    /// The model called `name`, opened (or loaded) on first use; `Ok(None)` when the name is
    /// not one this gateway serves. May block while a model loads.
    fn open(&self, name: &str) -> Result<Option<Arc<dyn Model>>, String>;

    /// The model called `name` if it is already open, found without blocking; `None` sends
    /// the request to [`ModelSource::open`] on the blocking pool.
    fn opened(&self, _name: &str) -> Option<Arc<dyn Model>> {
        None
    }
}

/// [`ModelSource::open`], answered on the request's own worker when the model is already open,
/// else on the blocking pool (opening may load weights); a failed join is `Err(message)`.
pub(crate) async fn open_model(
    state: &AppState,
    name: &str,
) -> Result<Result<Option<Arc<dyn Model>>, String>, String> {
    if let Some(model) = state.models.opened(name) {
        return Ok(Ok(Some(model)));
    }
    let (models, name) = (Arc::clone(&state.models), name.to_owned());
    tokio::task::spawn_blocking(move || models.open(&name)).await.map_err(|err| err.to_string())
}

/// Limits on what one request may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest time for a whole request, streamed answers included.
    pub request_timeout: Duration,
    /// Most tokens of the brief the smart model sees for `aimos/consult`.
    pub brief_budget: usize,
    /// Most tokens of a pipeline answer when the request names none.
    pub max_result_tokens: u32,
    /// Longest wait for a request's headers, and for an idle connection's next request.
    pub header_read_timeout: Duration,
    /// Longest wait for a request's whole body once its headers are in (then a 408).
    pub body_read_timeout: Duration,
    /// Whether an answer waits until its run is recorded: worth it when the store's
    /// `record_run` makes the run durable (a spooled ledger queue); otherwise the run is
    /// recorded beside the answer, off the request path.
    pub record_before_answer: bool,
    /// Whether the store's `record_run` returns without waiting on the disk or the network (a
    /// ledger queue whose spool is not synced for each run), so that the request's own async
    /// worker calls it rather than handing it to the blocking pool and back.
    pub record_inline: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(600),
            brief_budget: 1024,
            max_result_tokens: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            record_before_answer: true,
            record_inline: false,
        }
    }
}

/// Everything the gateway serves.
pub struct Gateway {
    pub models: Arc<dyn ModelSource>,
    /// The smart and cheap models and the store of `aimos/consult`.
    pub pipeline: Arc<Pipeline>,
    pub limits: Limits,
    pub policy: Policy,
    /// aimos's MCP tools at `/mcp`, over the same pipeline, behind the same keys; `None`
    /// serves no `/mcp`.
    pub mcp: Option<Mcp>,
    /// What the dashboard at `/ui` shows beyond the store.
    pub dashboard: ui::Settings,
    /// The work the gateway starts beside its answers (runs streaming to clients, shadow
    /// checks, ledger writes, charges): keep a clone to wait for it after [`serve`] returns.
    pub tasks: Tasks,
}

/// Every task the gateway starts, so that a shutdown can wait for them before the ledger
/// closes: nothing the gateway began is dropped half done.
#[derive(Debug, Clone, Default)]
pub struct Tasks(tokio_util::task::TaskTracker);

impl Tasks {
    /// Starts `work` on the runtime, tracked.
    pub fn spawn<F>(&self, work: F)
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        drop(self.0.spawn(work));
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until every task has ended; tasks started meanwhile are waited for too.
    pub async fn wait(&self) {
        self.0.close();
        self.0.wait().await;
    }
}

/// How `/mcp` serves the tools. Callers over a network never run commands (`fix` returns
/// unchecked patches).
#[derive(Debug, Clone)]
pub struct Mcp {
    /// Folders on this machine the tools may read; none (the default): callers pass their
    /// material as text.
    pub roots: aimos_mcp::Roots,
    /// Whether the `Host` header must name this machine (when listening on loopback).
    pub loopback_only: bool,
}

pub(crate) struct State {
    pub models: Arc<dyn ModelSource>,
    pub pipeline: Arc<Pipeline>,
    pub store: Arc<dyn Store>,
    pub keys: keys::Keys,
    pub metrics: Metrics,
    pub limits: Limits,
    pub policy: Policy,
    pub tasks: Tasks,
}

pub(crate) type AppState = Arc<State>;

/// Runs blocking `work` (a store call) on Tokio's blocking pool, so that no async worker
/// waits on a database.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, error::ApiError> + Send + 'static,
) -> Result<T, error::ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(join_failed)?
}

/// Drives `work` (a pipeline run, which calls the store between its model calls) to its end on
/// the blocking pool, so that its store calls never hold an async worker. Dropping the
/// returned future (a request timeout) drops `work` at its next await point, as it would if it
/// ran on a worker.
pub(crate) async fn off_workers<F>(work: F) -> Result<F::Output, error::ApiError>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (guard, dropped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Handle::current();
    let joined = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            tokio::select! {
                out = work => Some(out),
                _ = dropped => None,
            }
        })
    });
    let out = joined.await.map_err(join_failed)?;
    drop(guard);
    out.ok_or_else(|| join_failed("the run was dropped"))
}

/// Records a pass-through run: before the answer when [`Limits::record_before_answer`] (a
/// spooled ledger returns once the run is safe) or when recording costs next to nothing
/// ([`Limits::record_inline`]), else beside it, as tracked work.
pub(crate) async fn record_answered(state: &AppState, run: aimos_core::RunRecord) {
    if state.limits.record_before_answer || state.limits.record_inline {
        record(state, run).await;
    } else {
        let recording = Arc::clone(state);
        state.tasks.spawn(async move { record(&recording, run).await });
    }
}

/// Records a run in the ledger, off the async workers unless [`Limits::record_inline`]; a
/// failure is logged, never the request's.
pub(crate) async fn record(state: &AppState, run: aimos_core::RunRecord) {
    if state.limits.record_inline {
        if let Err(err) = state.store.record_run(&run) {
            tracing::error!(error = %err, "could not record a run");
        }
        return;
    }
    let store = Arc::clone(&state.store);
    let recorded =
        blocking(move || store.record_run(&run).map_err(|err| error::ApiError::from_store(&err)))
            .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err.message, "could not record a run");
    }
}

fn join_failed(err: impl std::fmt::Display) -> error::ApiError {
    error::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        err.to_string(),
    )
}

/// The gateway's routes, with its state; serve them with [`serve`] (or call them in process).
pub fn router(gateway: Gateway) -> Router {
    let store = Arc::clone(&gateway.pipeline.store);
    let dashboard = ui::router(Arc::clone(&store), gateway.dashboard);
    let state = Arc::new(State {
        models: gateway.models,
        keys: keys::Keys::new(Arc::clone(&store)),
        store,
        pipeline: gateway.pipeline,
        metrics: Metrics::default(),
        limits: gateway.limits,
        policy: gateway.policy,
        tasks: gateway.tasks,
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/models", get(rest::models))
        .route("/v1/insights", get(rest::insights))
        .route("/v1/insights/{id}", get(rest::insight))
        .route("/v1/insights/{id}/feedback", post(rest::feedback))
        .route("/v1/runs/{id}", get(rest::run))
        .route("/v1/aimos/consult", post(advisor::consult))
        .route("/v1/aimos/outcomes", post(advisor::outcomes))
        .route("/openapi.json", get(openapi::serve))
        .route("/metrics", get(rest::metrics))
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .fallback(rest::not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes));
    let router = match gateway.mcp {
        Some(mcp) => router.merge(mcp_routes(&state, mcp)),
        None => router,
    };
    let limits = state.limits;
    router
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                read_body(limits, request, next)
            },
        ))
        .with_state(state)
        .merge(dashboard)
}

/// Reads a request's whole body within [`Limits::body_read_timeout`] and
/// [`Limits::max_body_bytes`] before any handler runs: a client that sends its body slowly (or
/// not at all) gets a 408, one that sends too much a 413.
async fn read_body(
    limits: Limits,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            let (status, message) = if too_large {
                (
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", limits.max_body_bytes),
                )
            } else {
                (axum::http::StatusCode::BAD_REQUEST, format!("the body could not be read: {err}"))
            };
            return error::ApiError::new(status, "invalid_request_error", message).into_response();
        }
        Err(_) => {
            return error::ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                format!(
                    "the body did not arrive within {} s",
                    limits.body_read_timeout.as_secs_f64()
                ),
            )
            .into_response();
        }
    };
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// `/mcp`: the tools over streamable HTTP, each request authorized as any other.
fn mcp_routes(state: &AppState, mcp: Mcp) -> Router<AppState> {
    let mut settings = aimos_mcp::Settings::new(mcp.roots);
    settings.commands = false;
    settings.run.brief_budget = state.limits.brief_budget;
    settings.run.max_result_tokens = state.limits.max_result_tokens;
    let tools = aimos_mcp::AimosTools::new((*state.pipeline).clone(), settings);
    let service = aimos_mcp::http_service(tools, mcp.loopback_only, state.limits.max_body_bytes);
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(state), mcp_authorized))
}

async fn mcp_authorized(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match keys::authorize(&state, request.headers(), true).await {
        Ok(key) => {
            // A tool call's runs are recorded under the caller's key, and what they spend is
            // charged to it, as a chat completion's is.
            if let Some(key) = key {
                let attribution =
                    aimos_core::Attribution { key: Some(key.name.clone()), ..Default::default() };
                let namespace = key.namespace.clone();
                let state = Arc::clone(&state);
                let charge = move |usd: f64| {
                    let (tasks, state, key) =
                        (state.tasks.clone(), Arc::clone(&state), key.clone());
                    tasks.spawn(async move { keys::charge(&state, &key, usd).await });
                };
                request.extensions_mut().insert(aimos_mcp::Caller {
                    attribution,
                    namespace,
                    charge: Arc::new(charge),
                });
            }
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets the
/// requests in flight finish. A client has [`Limits::header_read_timeout`] to send a request's
/// headers (an idle keep-alive connection the same to start its next request), and
/// [`Limits::body_read_timeout`] for its body; then its connection is closed, or it gets a 408.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, Limits::default().header_read_timeout, shutdown).await
}

/// [`serve`] with a header read timeout of its own.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the connections already open, and try again shortly.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers and SSE events go out at once rather than waiting to fill a packet.
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(
            move |request: axum::http::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                // Who connected: the dashboard answers a keyless store only over loopback.
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
