//! The `aimos` binary: a thin layer of argument parsing and printing over the library crates.
//!
//! Each subcommand lives in its own module; this file only parses and dispatches.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod chat;
mod config;
mod distill;
mod eval;
mod mcp;
mod models;
mod open;
mod progress;
mod run;
mod serve;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// aimos: a smart model consults, a cheap model does the work.
///
/// Runs embedded llama.cpp models out of the box, with nothing to configure.
/// Models are kept under $AIMOS_HOME/models (default: ~/.cache/aimos/models).
#[derive(Debug, Parser)]
#[command(
    name = "aimos",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = EXIT_STATUSES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, fetch and check embedded models
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Chat with a model: the answer streams to stdout as it is generated
    Chat(chat::ChatArgs),
    /// Measure prompt-processing and generation speed of embedded models
    Bench(bench::BenchArgs),
    /// Run a task: the smart model consults on a brief, the cheap model does the work;
    /// prints the result and a cost table against the smart model alone
    #[command(after_help = run::RUN_EXAMPLES)]
    Run(run::RunArgs),
    /// Fix a problem in files: the model answers with edits, which land in a scratch copy of
    /// the context (never your files), where --test checks them; failures go back to it, then
    /// the strategy escalates. Prints the patch and the cost table; --apply writes a patch
    /// that passed into your tree. The same as `aimos run --edit`
    #[command(after_help = run::FIX_EXAMPLES)]
    Fix(run::RunArgs),
    /// Print exactly the brief the smart model would receive: the problem, a map of the
    /// context and its most relevant excerpts, secrets redacted, within a token budget
    Distill(distill::DistillArgs),
    /// Compare strategies on a suite (HumanEval, or your own JSONL): every task under every
    /// strategy, graded; writes report.md, report.json and plots, and resumes when run again
    Eval(eval::EvalArgs),
    /// Write a commented aimos.toml from a preset
    Init(config::InitArgs),
    /// Serve aimos's tools to an agent over the Model Context Protocol on stdio: consult,
    /// distill, fix, search_insights, record_outcome
    Mcp(mcp::McpArgs),
    /// Stored insights
    Insights {
        #[command(subcommand)]
        command: store::InsightsCommand,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(flatten)]
        config: config::ConfigArgs,
    },
    /// Serve the OpenAI-compatible gateway: models by name, and the pipeline as aimos/consult,
    /// aimos/cascade and aimos/auto
    Serve(serve::ServeArgs),
    /// Open the dashboard on a store (spend against the smart model alone, quality, insights,
    /// calibration, keys, evals) without serving models; `aimos serve` serves it too, at /ui
    Ui(serve::UiArgs),
    /// API keys of the gateway, with budgets and rate limits
    Keys {
        #[command(subcommand)]
        command: serve::KeysCommand,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(flatten)]
        config: config::ConfigArgs,
    },
    /// Runs, spend, the smart-only counterfactual and savings, by day and by model; pass rates
    /// per strategy, insight reuse and wrong reuse, shadow checks, calibration
    Stats {
        /// Print JSON instead of tables
        #[arg(long)]
        json: bool,
        /// Sum spend per gateway key, per request user, or per tag (`name=value`, from the
        /// request's metadata) instead
        #[arg(long, value_name = "key|user|tag", value_parser = parse_spend_by)]
        by: Option<aimos_core::SpendBy>,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(flatten)]
        config: config::ConfigArgs,
    },
    /// Refit how each smart model's stated confidence maps to the chance its advice works,
    /// from the recorded outcomes (verifier verdicts, feedback, shadow checks); prints the
    /// Brier score and expected calibration error before and after
    Calibrate {
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(flatten)]
        config: config::ConfigArgs,
    },
    /// The ledger of runs
    Runs {
        #[command(subcommand)]
        command: store::RunsCommand,
        #[command(flatten)]
        store: store::StoreArgs,
        #[command(flatten)]
        config: config::ConfigArgs,
    },
}

/// The exit status of a run or fix whose check failed, or whose edits did not apply: apart from
/// errors (1) and usage errors (2, clap's), so that a script can tell them apart.
pub const CHECK_FAILED: u8 = 3;

const EXIT_STATUSES: &str = "\
Exit statuses:
  0  success
  1  an error (the message says what to do)
  2  a usage error: a wrong flag or argument
  3  a check failed: `run` or `fix` whose result or patch failed its check, or whose edits
     did not apply";

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    if let Err(err) = check_trace() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Models(command) => models::run(command),
        Command::Chat(args) => chat::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Run(args) => run::run(args),
        Command::Fix(args) => run::fix(args),
        Command::Distill(args) => distill::run(args),
        Command::Eval(args) => eval::eval(args),
        Command::Init(args) => config::init(&args),
        Command::Mcp(args) => mcp::run(args),
        Command::Insights { command, store, config } => store::insights(command, &store, &config),
        Command::Runs { command, store, config } => store::runs(command, &store, &config),
        Command::Stats { json, by, store, config } => match by {
            Some(by) => store::spend_by(by, json, &store, &config),
            None => store::stats(json, &store, &config),
        },
        Command::Calibrate { json, store, config } => store::calibrate(json, &store, &config),
        Command::Serve(args) => serve::serve(args),
        Command::Ui(args) => serve::ui(args),
        Command::Keys { command, store, config } => serve::keys(command, &store, &config),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_spend_by(text: &str) -> Result<aimos_core::SpendBy, String> {
    text.parse()
}

/// `AIMOS_TRACE` names a file every model call of a pipeline run is appended to; the pipeline
/// skips a line it cannot write, so the file is checked once here.
fn check_trace() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(aimos_core::TRACE_ENV).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    std::fs::OpenOptions::new().create(true).append(true).open(&path).map(drop).map_err(|err| {
        anyhow::anyhow!(
            "{} names {}, which cannot be appended to ({err}): name a file in a folder you can \
             write, or unset it",
            aimos_core::TRACE_ENV,
            path.to_string_lossy()
        )
    })
}

/// Logs go to stderr; `AIMOS_LOG` sets the filter (`info`, `debug`, `aimos_local=trace`, …).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIMOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
