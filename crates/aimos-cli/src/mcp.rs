//! `aimos mcp`: aimos's tools for an agent that spawns it, over the Model Context Protocol on
//! stdin and stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use aimos_core::Pipeline;
use aimos_mcp::{AimosTools, Roots, Settings};
use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::config::{Config, ConfigArgs};
use crate::open::{PairArgs, open_pair};
use crate::run::ReadingArgs;
use crate::store::{StoreArgs, open_store};

#[derive(Debug, Args)]
#[command(after_help = "Tools: consult (advice from the smart model on a brief; you execute), \
distill (the brief alone), fix (a patch checked in a scratch copy, never applied), \
search_insights, record_outcome.

The server speaks on stdin and stdout; logs go to stderr. It reads only files under its roots,
and writes only to its store. Add it to an agent:
  Claude Code:  claude mcp add aimos -- aimos mcp --root .
  Cursor (.cursor/mcp.json) and other clients:
    {\"mcpServers\": {\"aimos\": {\"command\": \"aimos\", \"args\": [\"mcp\", \"--root\", \"/path/to/project\"]}}}

Examples:
  aimos mcp --root .
  aimos mcp --root ~/src/app --smart anthropic:claude-sonnet-4-5 --cheap local:qwen2.5-coder-1.5b
  aimos mcp --root . --no-commands")]
pub struct McpArgs {
    /// A folder the tools may read (and `fix` may copy); paths outside every root are refused,
    /// symbolic links included. Repeat for several; relative paths in calls start at the first
    /// [default: the working folder]
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    #[command(flatten)]
    models: PairArgs,
    #[command(flatten)]
    reading: ReadingArgs,
    /// Most tokens of a `fix` answer
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    /// Most bytes of text a call may pass as `context` (files named in `paths` are read
    /// within aimos's usual limits instead)
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_context_bytes: usize,
    /// `fix` runs no check command (`test` is refused; patches come back unchecked)
    #[arg(long)]
    no_commands: bool,
    /// Which models get text with its secrets replaced by typed placeholders: external,
    /// all, or off
    #[arg(long, default_value = "external", value_parser = parse_redact)]
    redact: aimos_context::RedactPolicy,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

fn parse_redact(text: &str) -> Result<aimos_context::RedactPolicy, String> {
    text.parse()
}

pub fn run(args: McpArgs) -> Result<ExitCode> {
    let folders = if args.roots.is_empty() {
        vec![std::env::current_dir().context("reading the working folder")?]
    } else {
        args.roots.clone()
    };
    let roots = Roots::new(&folders).map_err(|why| anyhow!(why))?;
    let config = Config::load(&args.config)?;
    let store = open_store(&args.store, &config)?;
    let (smart, cheap) = open_pair(&args.models, &config)?;
    let pipeline = Pipeline { smart, cheap, store };
    let mut settings = Settings::new(roots);
    settings.max_context_bytes = args.max_context_bytes;
    settings.commands = !args.no_commands;
    settings.run = args.reading.apply(aimos_core::RunOptions {
        max_result_tokens: args.max_tokens,
        redact: args.redact,
        ..aimos_core::RunOptions::default()
    })?;
    eprintln!("aimos mcp: serving on stdio; roots: {}", settings.roots.describe());
    let tools = AimosTools::new(pipeline, settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(aimos_mcp::serve_stdio(tools))?;
    Ok(ExitCode::SUCCESS)
}
