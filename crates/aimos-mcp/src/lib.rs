//! aimos as tools for agents, over the Model Context Protocol.
//!
//! An agent that holds the full context is already an executor; what it lacks is the smart
//! model's judgement. [`AimosTools`] gives it that as tool calls on the official Rust SDK
//! (`rmcp`): `consult` (the brief, a stored insight or a consultation, recorded in the ledger),
//! `distill` (the brief alone), `fix` (edit mode: a patch checked in a scratch copy, never
//! applied), `search_insights` and `record_outcome`.
//!
//! Tools read only files under the server's roots (`--root`, the working folder by default).
//! A tool's failure comes back as a tool result with `isError` set and a sentence saying what
//! to do; only an unknown tool name is a protocol error.

mod args;
mod paths;
mod tools;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aimos_context::Limits;
use aimos_core::{Pipeline, RunOptions};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};

pub use paths::Roots;
pub use tools::TOOL_NAMES;

/// What the server may read and how much, and the defaults of its runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folders whose files the tools may read; every path a tool is given must lie under
    /// one of them once symbolic links are resolved.
    pub roots: Roots,
    /// Most bytes of the `context` text a call may carry.
    pub max_context_bytes: usize,
    /// How much of the named files is read.
    pub limits: Limits,
    /// Whether `fix` may run a check command (a stdio server runs as the user who started
    /// it; a server reached over a network must not run commands its callers write).
    pub commands: bool,
    /// The template of every run: redaction, reuse, the brief's default budget, result tokens.
    pub run: RunOptions,
}

impl Settings {
    /// Defaults for `roots`: 1 MiB of text context, aimos's usual file limits, commands on.
    pub fn new(roots: Roots) -> Settings {
        Settings {
            roots,
            max_context_bytes: 1 << 20,
            limits: Limits::default(),
            commands: true,
            run: RunOptions::default(),
        }
    }
}

/// Who makes a call, for a server over HTTP: it puts one in the request's extensions before
/// the request reaches the tools (the gateway: its key). The tools record the runs under
/// `attribution` in its `namespace`, and call `charge` with the run's dollars once the call is over, whether or
/// not the client waited.
#[derive(Clone)]
pub struct Caller {
    pub attribution: aimos_core::Attribution,
    /// The insight namespace the caller works in (`None`: the shared one): what it recalls
    /// and finds, and where its insights go.
    pub namespace: Option<String>,
    pub charge: Arc<dyn Fn(f64) + Send + Sync>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("attribution", &self.attribution).finish_non_exhaustive()
    }
}

/// The tools over one pipeline. Cheap to clone: clones share the pipeline and the count of
/// calls in flight.
#[derive(Clone)]
pub struct AimosTools {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Pipeline,
    settings: Settings,
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl std::fmt::Debug for AimosTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AimosTools").field("settings", &self.inner.settings).finish()
    }
}

/// What the server tells a client about itself when it connects.
const INSTRUCTIONS: &str = "aimos is a consultant: a smart model that reads a short brief of a \
problem (never the whole codebase) and answers with a diagnosis, a plan, key facts, pitfalls \
and its confidence. You remain the executor. Call `consult` with the problem (error output \
included) and the paths it is about; follow the plan; then call `record_outcome` with the \
insight's id and whether it worked, so that later problems like it reuse good advice and \
drop bad advice. `search_insights` finds advice already paid for; `distill` shows the brief \
without consulting; `fix` has aimos's own models write a patch, checked by a command, which \
it returns without applying.";

impl AimosTools {
    pub fn new(pipeline: Pipeline, settings: Settings) -> AimosTools {
        AimosTools {
            inner: Arc::new(Inner {
                pipeline,
                settings,
                in_flight: AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Calls tool `name` with `arguments`. The work runs on the blocking pool (the store's
    /// calls block), to its end: a client that goes away mid-call does not stop a
    /// consultation that is being paid for; it finishes and is recorded, and its answer is
    /// dropped.
    pub async fn call(
        &self,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        caller: Option<Caller>,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        if !TOOL_NAMES.contains(&name) {
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`; the tools are: {}", TOOL_NAMES.join(", ")),
                None,
            ));
        }
        let this = self.clone();
        let name = name.to_owned();
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        // On the blocking pool, as the gateway runs its pipelines: the store's calls block.
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let inner = &this.inner;
            let who = tools::Who {
                attribution: caller.as_ref().map(|c| c.attribution.clone()).unwrap_or_default(),
                namespace: caller.as_ref().and_then(|c| c.namespace.clone()),
            };
            let result = runtime.block_on(tools::call(
                &inner.pipeline,
                &inner.settings,
                &name,
                arguments,
                who,
            ));
            let spent = result.structured_content.as_ref().and_then(|v| v["cost"]["usd"].as_f64());
            if let (Some(caller), Some(usd)) = (caller, spent.filter(|usd| *usd > 0.0)) {
                let _entered = runtime.enter();
                (caller.charge)(usd);
            }
            if inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.idle.notify_waiters();
            }
            result
        });
        task.await.map_err(|err| {
            McpError::internal_error(format!("the tool call stopped unexpectedly: {err}"), None)
        })
    }

    /// Waits until no tool call is running: a server whose client disconnected calls this
    /// before exiting, so runs in flight are recorded.
    pub async fn drain(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl ServerHandler for AimosTools {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("aimos", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::definitions(&self.inner.settings)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        #[cfg(feature = "http")]
        let caller = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned());
        #[cfg(not(feature = "http"))]
        let caller = {
            let _ = context;
            None
        };
        self.call(&request.name, arguments, caller).await.map(CallToolResponse::from)
    }
}

/// Serves the tools on stdin and stdout until the client closes them, then waits for calls in
/// flight to be recorded. Logs must go to stderr: stdout carries the protocol.
pub async fn serve_stdio(tools: AimosTools) -> Result<(), std::io::Error> {
    let service = tools
        .clone()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| std::io::Error::other(format!("starting the MCP session: {err}")))?;
    let ended = service.waiting().await;
    tools.drain().await;
    ended.map(drop).map_err(|err| std::io::Error::other(format!("the MCP session failed: {err}")))
}

/// The tools over streamable HTTP, as a tower service to nest at `/mcp`. Stateless: every
/// request is answered on its own (JSON, no session), so any replica behind a load balancer
/// can take any request and no stream outlives its answer. `loopback_only` keeps rmcp's check
/// that the `Host` header names this machine (against DNS rebinding when the server listens on
/// loopback); a server listening on other addresses relies on its keys instead.
#[cfg(feature = "http")]
pub fn http_service(
    tools: AimosTools,
    loopback_only: bool,
    max_body_bytes: usize,
) -> rmcp::transport::StreamableHttpService<
    AimosTools,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    let mut config = rmcp::transport::StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(max_body_bytes);
    if !loopback_only {
        config = config.disable_allowed_hosts();
    }
    rmcp::transport::StreamableHttpService::new(
        move || Ok(tools.clone()),
        std::sync::Arc::default(),
        config,
    )
}

/// The working folder, as the default root.
pub fn default_roots() -> Result<Vec<PathBuf>, std::io::Error> {
    Ok(vec![std::env::current_dir()?])
}
