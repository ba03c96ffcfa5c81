//! `aimos bench`: prompt-processing and generation speed of embedded models, measured the way
//! llama.cpp's `llama-bench` measures them, so the two can be compared side by side.

use std::process::ExitCode;

use aimos_local::{LoadOptions, LocalOptions, bench};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use crate::progress::Bars;

#[derive(Debug, Args)]
#[command(
    after_help = "For each prompt length P the bench reads P tokens in one pass (ppP), then \
generates N tokens one at a time after them (tgN@dP), like `llama-bench -p P -n N -d P`.
scripts/bench-vs-llama-bench.sh runs this and llama-bench side by side."
)]
pub struct BenchArgs {
    /// Models to measure (catalog names or .gguf paths)
    #[arg(short, long, num_args = 1.., default_values = ["smollm2-135m", "qwen2.5-coder-0.5b"])]
    model: Vec<String>,
    /// Prompt lengths in tokens, comma separated
    #[arg(short, long, value_delimiter = ',', default_value = "512,2048")]
    prompt_tokens: Vec<usize>,
    /// Tokens to generate after each prompt
    #[arg(short = 'n', long, default_value_t = 128)]
    gen_tokens: usize,
    /// Threads (default: the number of physical cores)
    #[arg(short, long)]
    threads: Option<u32>,
    /// Measured runs per test, after one warm-up run
    #[arg(short, long, default_value_t = 3)]
    repetitions: usize,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    model: String,
    threads: u32,
    test: String,
    n_tokens: usize,
    tokens_per_second: f64,
    stddev: f64,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.repetitions == 0 || args.gen_tokens == 0 || args.prompt_tokens.contains(&0) {
        bail!("--repetitions, --gen-tokens and every --prompt-tokens must be at least 1");
    }
    let longest = args.prompt_tokens.iter().copied().max().unwrap_or(512);
    let window =
        u32::try_from(longest + args.gen_tokens).context("--prompt-tokens is too large")?;
    let mut rows = Vec::new();
    eprintln!("llama.cpp: {}", aimos_local::system_info());
    if !args.json {
        println!("| model | threads | test | tokens/s |");
        println!("|---|---:|---|---:|");
    }
    for name in &args.model {
        let options = LoadOptions {
            run: LocalOptions {
                context_window: Some(window),
                threads: args.threads,
                ..LocalOptions::default()
            },
            ..LoadOptions::default()
        };
        let mut bars = Bars::new();
        let model = aimos_local::load(name, &options, &mut bars)
            .with_context(|| format!("loading model `{name}`"))?;
        drop(bars);
        for &n_prompt in &args.prompt_tokens {
            let samples = bench::measure(&model, n_prompt, args.gen_tokens, args.repetitions)?;
            let prompt_rates: Vec<f64> =
                samples.iter().map(|s| s.n_prompt as f64 / s.prompt.as_secs_f64()).collect();
            let gen_rates: Vec<f64> =
                samples.iter().map(|s| s.n_gen as f64 / s.generation.as_secs_f64()).collect();
            for (test, n_tokens, rates) in [
                (format!("pp{n_prompt}"), n_prompt, &prompt_rates),
                (format!("tg{}@d{n_prompt}", args.gen_tokens), args.gen_tokens, &gen_rates),
            ] {
                let (mean, stddev) = mean_and_stddev(rates);
                let row = Row {
                    model: name.clone(),
                    threads: model.threads(),
                    test,
                    n_tokens,
                    tokens_per_second: mean,
                    stddev,
                };
                if !args.json {
                    println!(
                        "| {} | {} | {} | {:.2} ± {:.2} |",
                        row.model, row.threads, row.test, mean, stddev
                    );
                }
                rows.push(row);
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn mean_and_stddev(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}
