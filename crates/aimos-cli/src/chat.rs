//! `aimos chat`: one prompt, one streamed answer.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use aimos_core::{ChatRequest, ChatResponse, FinishReason, Message, Model, ResponseFormat};
use aimos_local::{LoadOptions, LocalOptions};
use anyhow::{Context, Result, bail};
use clap::Args;

use crate::config::{Config, ConfigArgs};
use crate::open::{is_remote, open_models};
use crate::progress::Bars;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aimos chat --model qwen2.5-coder-0.5b \"Write a Rust function that reverses a string\"
  git diff | aimos chat --model smollm2-135m --system \"Review this diff\" -
  aimos chat --model smollm2-135m --json-schema person.json --temperature 0 \"Invent a person\"
  OPENAI_BASE_URL=http://127.0.0.1:8080/v1 aimos chat --model openai:any-name \"hi\"")]
pub struct ChatArgs {
    /// The prompt; `-` (or nothing, with input piped in) reads it from stdin
    prompt: Option<String>,
    /// A catalog name (see `aimos models list`), a path to a .gguf file, or PROVIDER:MODEL
    /// (`openai:gpt-4.1`, `anthropic:claude-sonnet-4-5`, or a provider from aimos.toml)
    #[arg(short, long, env = "AIMOS_MODEL", default_value = "qwen2.5-coder-0.5b")]
    model: String,
    /// A system message to put before the prompt
    #[arg(long)]
    system: Option<String>,
    /// Most tokens to generate
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// Sampling temperature; 0 is greedy and repeatable
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probabilities reach this
    #[arg(long)]
    top_p: Option<f32>,
    /// Seed for sampling (temperature above 0)
    #[arg(long)]
    seed: Option<u64>,
    /// Stop before this text; repeat for several
    #[arg(long)]
    stop: Vec<String>,
    /// Constrain the answer to JSON that validates against this JSON Schema file
    #[arg(long, value_name = "FILE")]
    json_schema: Option<PathBuf>,
    /// Context window in tokens (default: the model's, at most 8192)
    #[arg(long)]
    ctx: Option<u32>,
    #[command(flatten)]
    engine: crate::open::EngineArgs,
    /// Threads (default: the number of physical cores)
    #[arg(long)]
    threads: Option<u32>,
    /// Fail instead of pulling a catalog model that is not on this machine yet
    #[arg(long)]
    no_pull: bool,
    /// Print token counts and speeds on stderr when done
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: ChatArgs) -> Result<ExitCode> {
    let prompt = read_prompt(args.prompt.as_deref())?;
    let response_format = match &args.json_schema {
        Some(path) => Some(read_schema(path, !is_remote(&args.model))?),
        None => None,
    };

    let config = Config::load(&args.config)?;
    let (model, threads): (Arc<dyn Model>, Option<u32>) = if is_remote(&args.model) {
        let providers = config.providers();
        let model = open_models(
            std::slice::from_ref(&args.model),
            "chat",
            &config,
            &providers,
            &LoadOptions::default(),
        )?;
        (model, None)
    } else {
        let options = LoadOptions {
            pull_if_missing: !args.no_pull,
            run: LocalOptions { threads: args.threads, ..args.engine.local(args.ctx) },
            price: config.price(&args.model),
            ..LoadOptions::default()
        };
        let mut bars = Bars::new();
        let model = aimos_local::load(&args.model, &options, &mut bars)
            .with_context(|| format!("loading model `{}`", args.model))?;
        drop(bars);
        let threads = model.threads();
        (model, Some(threads))
    };

    let mut messages = Vec::with_capacity(2);
    if let Some(system) = args.system {
        messages.push(Message::system(system));
    }
    messages.push(Message::user(prompt));
    let request = ChatRequest {
        messages,
        max_tokens: Some(args.max_tokens),
        temperature: Some(args.temperature),
        top_p: args.top_p,
        seed: args.seed,
        stop: args.stop,
        response_format,
        ..ChatRequest::default()
    };
    let is_json = request.response_format.is_some();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut stdout = std::io::stdout().lock();
    let response = runtime.block_on(model.chat_stream(request).collect(|piece| {
        // A closed stdout (`| head`) is not an error worth reporting mid-stream.
        let _ = stdout.write_all(piece.as_bytes());
        let _ = stdout.flush();
    }))?;
    if !response.content.ends_with('\n') {
        let _ = writeln!(stdout);
    }
    drop(stdout);

    if args.verbose {
        report(&response, threads);
    }
    if is_json && let Err(err) = serde_json::from_str::<serde_json::Value>(&response.content) {
        if response.finish_reason == FinishReason::Length {
            let field = aimos_local::cut_at(&response.content).unwrap_or_else(|| "$".to_owned());
            bail!(
                "the answer reached --max-tokens {} before its JSON was complete: it was cut inside `{field}`; \
                 raise --max-tokens, or bound that field in the schema (maxLength, maxItems, enum)",
                args.max_tokens
            );
        }
        bail!("the answer is not valid JSON: {err}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_prompt(prompt: Option<&str>) -> Result<String> {
    match prompt {
        Some("-") => read_stdin(),
        Some(text) => Ok(text.to_owned()),
        None if !std::io::stdin().is_terminal() => read_stdin(),
        None => bail!("no prompt: pass it as an argument, or pipe it in with `-`"),
    }
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the prompt from stdin")?;
    if text.trim().is_empty() {
        bail!("the prompt read from stdin is empty");
    }
    Ok(text)
}

fn read_schema(path: &PathBuf, embedded: bool) -> Result<ResponseFormat> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the JSON Schema {}", path.display()))?;
    let schema: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    // Check the schema before spending time on loading a model (remote models check their own).
    if embedded {
        aimos_local::json_schema_to_gbnf(&schema)
            .with_context(|| format!("{} cannot be used as a JSON Schema", path.display()))?;
    }
    let name = path.file_stem().map_or("schema".into(), |s| s.to_string_lossy().into_owned());
    Ok(ResponseFormat::JsonSchema { name, schema })
}

fn report(response: &ChatResponse, threads: Option<u32>) {
    let usage = &response.usage;
    let timings = &response.timings;
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.1} tokens/s"));
    eprintln!(
        "prompt: {} tokens in {:.2} s ({}); generation: {} tokens in {:.2} s ({}); \
         finish: {}; threads: {}; model: {}",
        usage.prompt_tokens,
        timings.prompt.as_secs_f64(),
        rate(timings.prompt_tokens_per_second(usage)),
        usage.completion_tokens,
        timings.generation.as_secs_f64(),
        rate(timings.generation_tokens_per_second(usage)),
        response.finish_reason.as_str(),
        threads.map_or("-".to_owned(), |t| t.to_string()),
        response.model,
    );
}
