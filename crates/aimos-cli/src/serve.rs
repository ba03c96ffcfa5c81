//! `aimos serve`: the OpenAI-compatible gateway; `aimos keys`: its API keys.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aimos_core::{Model, Pipeline, Store};
use aimos_gateway::{Gateway, Limits, ModelSource};
use aimos_local::LoadOptions;
use aimos_providers::Providers;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::config::{Config, ConfigArgs, DEFAULT_CHEAP, DEFAULT_SMART};
use crate::open::{is_remote, open_models};
use crate::store::{StoreArgs, open_store};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aimos serve --smart smollm2-135m --cheap smollm2-135m
  aimos serve --bind 0.0.0.0:8080 --config aimos.toml
Then point any OpenAI client at it:
  OPENAI_BASE_URL=http://127.0.0.1:8080/v1 python3 app.py   (models \"aimos/consult\", \"aimos/cascade\" and \"aimos/auto\" run the pipeline)
Agents reach the same consultant at http://127.0.0.1:8080/mcp (MCP over streamable HTTP, behind
the same keys), and any client at POST /v1/aimos/consult; /openapi.json lists the routes.")]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The smart model of the pipeline models [default: the config's, else qwen2.5-coder-1.5b]
    #[arg(long, env = "AIMOS_SMART")]
    smart: Option<String>,
    /// The cheap model of the pipeline models [default: the config's, else qwen2.5-coder-0.5b]
    #[arg(long, env = "AIMOS_CHEAP")]
    cheap: Option<String>,
    /// Context window of embedded models (default: the model's, at most 8192)
    #[arg(long)]
    ctx: Option<u32>,
    #[command(flatten)]
    engine: crate::open::EngineArgs,
    /// Largest request body, in MiB
    #[arg(long, default_value_t = 16)]
    max_body_mib: usize,
    /// Longest time for one request, in seconds (streamed answers included)
    #[arg(long, default_value_t = 600)]
    request_timeout: u64,
    /// A folder on this machine whose files the MCP tools at /mcp may read (repeat for
    /// several); without it, /mcp callers pass their material as text. /mcp never runs
    /// commands: `fix` returns unchecked patches
    #[arg(long = "mcp-root", value_name = "DIR")]
    mcp_roots: Vec<std::path::PathBuf>,
    /// Serve without the ledger's local spool: the runs still queued for the ledger are lost if
    /// the process is killed. By default every answered run is written to the spool (beside a
    /// SQLite store, or under $AIMOS_HOME/spool for PostgreSQL) before its answer goes out, and
    /// the next start on the same store writes what a killed process left
    #[arg(long, conflicts_with = "sync_spool")]
    no_spool: bool,
    /// Make every answer also wait until its run is synced to the disk (fdatasync), so that a
    /// power loss or a kernel crash loses no answered run either. Without it, a run in the
    /// spool is safe from the process being killed, and a power loss can lose the few
    /// milliseconds of runs not yet written to the store
    #[arg(long)]
    sync_spool: bool,
    /// The sentence-embedding model that finds stored insights by what problems mean and
    /// re-ranks the pipeline models' briefs: a catalog name, a .gguf path, or `off` [default:
    /// minilm-l6 when it is pulled]
    #[arg(long, value_name = "MODEL", env = "AIMOS_EMBEDDING")]
    embedding: Option<String>,
    #[command(flatten)]
    dashboard: DashboardArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

/// `aimos ui`: the dashboard alone, over a store, with no models loaded.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Address to listen on. While the store holds no key, the dashboard answers only
    /// connections from this machine; with keys, it needs an admin key
    /// (`aimos keys create --name NAME --admin`)
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    #[command(flatten)]
    dashboard: DashboardArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

/// What the dashboard shows beyond the store, for `aimos serve` and `aimos ui`.
#[derive(Debug, clap::Args)]
struct DashboardArgs {
    /// An `aimos eval --out` folder the dashboard's evals page shows (repeat for several)
    #[arg(long = "eval", value_name = "DIR")]
    evals: Vec<std::path::PathBuf>,
}

impl DashboardArgs {
    /// The dashboard's settings; a `--eval` folder that `aimos eval` did not write is refused
    /// before anything starts.
    fn settings(&self) -> Result<aimos_gateway::ui::Settings> {
        check_evals(&self.evals)?;
        Ok(aimos_gateway::ui::Settings { evals: self.evals.clone() })
    }
}

fn check_evals(dirs: &[std::path::PathBuf]) -> Result<()> {
    for dir in dirs {
        if !dir.join("report.json").is_file() {
            anyhow::bail!(
                "{} holds no report.json: --eval takes a folder that `aimos eval --out DIR` wrote",
                dir.display()
            );
        }
    }
    Ok(())
}

pub fn ui(args: UiArgs) -> Result<ExitCode> {
    let settings = args.dashboard.settings()?;
    let config = Config::load(&args.config)?;
    let store = open_store(&args.store, &config)?;
    let keys = store.keys()?;
    let live = |admin: bool| keys.iter().any(|k| k.revoked_at.is_none() && (k.admin || !admin));
    if !args.bind.ip().is_loopback() && !live(false) {
        eprintln!(
            "note: the store holds no key, so the dashboard answers only this machine; to open it from elsewhere, `aimos keys create --name admin --admin`"
        );
    } else if live(false) && !live(true) {
        eprintln!(
            "note: the store holds keys but no admin key, so no one can open the dashboard; `aimos keys create --name admin --admin` makes one"
        );
    }
    let router = aimos_gateway::ui::standalone(store, settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let address = listener.local_addr()?;
        eprintln!("aimos dashboard on http://{address}/ui; Ctrl-C stops it");
        aimos_gateway::serve(listener, router, aimos_gateway::shutdown_signal())
            .await
            .context("the dashboard stopped with an error")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The models the gateway serves by name: embedded catalog models, the configured ones, and
/// `PROVIDER:MODEL` for every configured provider. Opened once, then shared.
struct Served {
    config: Config,
    providers: Providers,
    local: LoadOptions,
    configured: Vec<String>,
    opened: Mutex<HashMap<String, Arc<dyn Model>>>,
}

impl ModelSource for Served {
    fn names(&self) -> Vec<String> {
        let mut names = self.configured.clone();
        for name in aimos_local::catalog::names() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        names
    }

    fn opened(&self, name: &str) -> Option<Arc<dyn Model>> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner()).get(name).map(Arc::clone)
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn Model>>, String> {
        if let Some(model) = self.opened(name) {
            return Ok(Some(model));
        }
        let servable = if is_remote(name) {
            self.providers.is_remote(name)
        } else {
            // Clients name catalog models or configured ones, never arbitrary files.
            let bare = name.strip_prefix("local:").unwrap_or(name);
            self.configured.iter().any(|c| c == name) || aimos_local::catalog::find(bare).is_ok()
        };
        if !servable {
            return Ok(None);
        }
        let model = open_models(
            &[name.to_owned()],
            "requested",
            &self.config,
            &self.providers,
            &self.local,
        )
        .map_err(|err| format!("{err:#}"))?;
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Arc::clone(&model));
        Ok(Some(model))
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let dashboard = args.dashboard.settings()?;
    let mcp_roots = if args.mcp_roots.is_empty() {
        aimos_mcp::Roots::none()
    } else {
        aimos_mcp::Roots::new(&args.mcp_roots).map_err(|why| anyhow::anyhow!(why))?
    };
    let config = Config::load(&args.config)?;
    let location = crate::store::store_location(&args.store, &config)?;
    let store = open_store(&args.store, &config)?;
    let providers = config.providers();
    let local = LoadOptions {
        // A request never waits for a download: pull models before serving them.
        pull_if_missing: false,
        run: args.engine.local(args.ctx),
        ..LoadOptions::default()
    };
    let smart_names =
        Config::model_names(args.smart.as_ref(), config.smart.as_ref(), DEFAULT_SMART);
    let cheap_names =
        Config::model_names(args.cheap.as_ref(), config.cheap.as_ref(), DEFAULT_CHEAP);
    let pull_first = |err: anyhow::Error| {
        err.context("the pipeline's models must be on this machine before serving (`aimos models pull NAME`)")
    };
    let cheap =
        open_models(&cheap_names, "cheap", &config, &providers, &local).map_err(pull_first)?;
    let smart =
        open_models(&smart_names, "smart", &config, &providers, &local).map_err(pull_first)?;
    let mut configured: Vec<String> = Vec::new();
    for name in smart_names.iter().chain(&cheap_names) {
        if !configured.contains(name) {
            configured.push(name.clone());
        }
    }
    // A single model is already open under its name; a fallback list has no one name.
    let mut opened: HashMap<String, Arc<dyn Model>> = HashMap::new();
    for (names, model) in [(&smart_names, &smart), (&cheap_names, &cheap)] {
        if let [name] = names.as_slice() {
            opened.insert(name.clone(), Arc::clone(model));
        }
    }
    let policy = aimos_gateway::Policy {
        goal: config.goal,
        shadow_rate: config.shadow_rate,
        embedder: crate::run::embedder(args.embedding.as_deref())?,
    };
    let served = Served { config, providers, local, configured, opened: Mutex::new(opened) };
    // Runs are written by a background thread, off the request path, after a local append (and
    // with --sync-spool, a sync); closed (and so written out) when the server has stopped.
    let capacity = aimos_store::queue::DEFAULT_CAPACITY;
    let ledger = if args.no_spool {
        aimos_store::LedgerQueue::new(store, capacity)
    } else {
        let sync = if args.sync_spool {
            aimos_store::SpoolSync::Synced
        } else {
            aimos_store::SpoolSync::Written
        };
        let root = aimos_store::spool_root(&location.to_string_lossy())
            .context("no folder for the ledger's spool: set AIMOS_HOME, or pass --no-spool")?;
        let (ledger, replayed) = aimos_store::LedgerQueue::spooled(store, capacity, &root, sync)
            .context("opening the ledger's spool (--no-spool serves without one)")?;
        if replayed.written + replayed.present + replayed.torn > 0 {
            eprintln!(
                "the ledger's spool held {} runs of a process that stopped unexpectedly: {} written now, {} already in the store{}",
                replayed.written + replayed.present,
                replayed.written,
                replayed.present,
                if replayed.torn > 0 {
                    format!(", {} cut short mid-write (never answered)", replayed.torn)
                } else {
                    String::new()
                }
            );
        }
        ledger
    };
    let ledger = Arc::new(ledger);
    let tasks = aimos_gateway::Tasks::default();
    let gateway = Gateway {
        models: Arc::new(served),
        pipeline: Arc::new(Pipeline { smart, cheap, store: ledger.clone() }),
        limits: Limits {
            max_body_bytes: args.max_body_mib.max(1) << 20,
            request_timeout: Duration::from_secs(args.request_timeout.max(1)),
            // Without a spool, waiting for the queue would make answers slower and no run
            // safer.
            record_before_answer: !args.no_spool,
            // The ledger's queue takes a run with a write to the spool file and a send, so the
            // request's own worker calls it; a sync to the disk is left to the blocking pool.
            record_inline: !args.sync_spool,
            ..Limits::default()
        },
        policy,
        mcp: Some(aimos_gateway::Mcp {
            roots: mcp_roots,
            loopback_only: args.bind.ip().is_loopback(),
        }),
        dashboard,
        tasks: tasks.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let address = listener.local_addr()?;
        eprintln!(
            "aimos gateway on http://{address}/v1 (aimos/consult, aimos/cascade, aimos/auto: smart {}, cheap {}; MCP at /mcp; dashboard at http://{address}/ui); Ctrl-C stops it",
            smart_names.join(" > "),
            cheap_names.join(" > ")
        );
        aimos_gateway::serve(listener, aimos_gateway::router(gateway), aimos_gateway::shutdown_signal())
            .await
            .context("the gateway stopped with an error")?;
        // Runs still streaming to clients that left, shadow checks and charges finish and are
        // recorded before the ledger closes.
        if !tasks.is_empty() {
            eprintln!("waiting for {} runs and checks still in flight", tasks.len());
        }
        tasks.wait().await;
        anyhow::Ok(())
    })?;
    let queued = ledger.pending();
    ledger.close();
    eprintln!("aimos gateway stopped ({queued} queued runs written to the ledger)");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key; it is printed once and only its hash is stored
    Create {
        /// A name to tell it by (unique)
        #[arg(long)]
        name: String,
        /// Most dollars it may spend
        #[arg(long, value_name = "USD")]
        budget_usd: Option<f64>,
        /// Most requests a minute, across every gateway replica sharing the store
        #[arg(long)]
        rpm: Option<u32>,
        /// An insight namespace for the key (keys may share one): its requests recall that
        /// namespace's insights and the shared ones, store the insights they pay for there,
        /// and see no other namespace's [default: the shared namespace]
        #[arg(long, value_name = "NAME")]
        namespace: Option<String>,
        /// The key may also open the dashboard (`/ui` of `aimos serve`), which shows every
        /// key's runs and every namespace's insights
        #[arg(long)]
        admin: bool,
    },
    /// Show every key: name, budget, spend, rate limit, whether revoked
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by name: requests with it are refused from now on
    Revoke { name: String },
}

pub fn keys(command: KeysCommand, store: &StoreArgs, config: &ConfigArgs) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store: Arc<dyn Store> = open_store(store, &config)?;
    match command {
        KeysCommand::Create { name, budget_usd, rpm, namespace, admin } => {
            let (record, secret) = aimos_gateway::keys::create_in(
                &*store,
                &name,
                budget_usd,
                rpm,
                namespace.as_deref(),
                admin,
            )
            .map_err(anyhow::Error::msg)?;
            println!("{secret}");
            eprintln!(
                "created {}key `{}` (budget {}, {}, insights {}); it is shown only this once",
                if record.admin { "admin " } else { "" },
                record.name,
                record.budget_usd.map_or("unlimited".to_owned(), |b| format!("${b}")),
                record.rpm.map_or("no rate limit".to_owned(), |r| format!("{r} requests a minute")),
                record
                    .namespace
                    .as_ref()
                    .map_or("shared".to_owned(), |n| format!("in namespace `{n}` and shared")),
            );
        }
        KeysCommand::List { json } => {
            let keys = store.keys()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:<20} {:>12} {:>12} {:>8} {:<16} {:<20} STATUS",
                    "NAME", "BUDGET", "SPENT", "RPM", "NAMESPACE", "CREATED"
                );
                for k in keys {
                    println!(
                        "{:<20} {:>12} {:>12} {:>8} {:<16} {:<20} {}",
                        k.name,
                        k.budget_usd.map_or("-".to_owned(), |b| format!("${b:.6}")),
                        format!("${:.6}", k.spent_usd),
                        k.rpm.map_or("-".to_owned(), |r| r.to_string()),
                        k.namespace.as_deref().unwrap_or("(shared)"),
                        &k.created_at[..k.created_at.len().min(19)],
                        if k.revoked_at.is_some() { "revoked" } else { "active" }
                    );
                }
            }
        }
        KeysCommand::Revoke { name } => {
            if !store.revoke_key(&name)? {
                bail!("no active key named `{name}` (`aimos keys list` shows them)");
            }
            eprintln!("revoked key `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
