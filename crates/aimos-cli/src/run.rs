//! `aimos run`: one task through the pipeline, then its cost table.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use aimos_context::{Limits, ingest};
use aimos_core::{Pipeline, RunOptions, RunRecord, Strategy, Task};
use anyhow::{Context, Result, bail};
use clap::Args;

use crate::config::{Config, ConfigArgs};
use crate::open::{PairArgs, open_pair};
use crate::progress::Bars;
use crate::store::{StoreArgs, open_store};

/// `aimos run --help`'s examples.
pub const RUN_EXAMPLES: &str = "Examples:
  aimos run \"Why does parse_header panic on empty input?\" --context src/
  cargo test 2>&1 | aimos run - --context src/ --strategy consult
  aimos run --problem-file bug.md --context . --json
  aimos run \"Write a JSON summary of the config\" --context . --verify-schema summary.json";

/// `aimos fix --help`'s examples.
pub const FIX_EXAMPLES: &str = "Examples:
  aimos fix \"test_total fails: expected 6, got 3\" --context . --test \"python3 -m pytest -q\"
  cargo test 2>&1 | aimos fix - --context . --test \"cargo test\" --strategy cascade
  aimos fix --problem-file bug.md --context src/ --test \"make check\" --apply
  aimos fix \"rename Helo to Hello in greet.py\" --context greet.py --json

The edits land in a git worktree of HEAD when the context is in a clean git checkout, else in
a copy of the context's files (honouring .gitignore); the test runs there, in the folder the
context paths share. Your files change only with --apply, and only if the check passed.";

#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct RunArgs {
    /// The problem; `-` reads it from stdin (real problems carry long logs)
    problem: Option<String>,
    /// Read the problem from this file
    #[arg(long, value_name = "FILE", conflicts_with = "problem")]
    problem_file: Option<PathBuf>,
    /// A file or folder the task is about (folders are read recursively, honouring
    /// .gitignore); repeat for several
    #[arg(short, long, value_name = "PATH")]
    context: Vec<PathBuf>,
    /// cheap: the cheap model alone; smart: the smart model alone; consult: the smart model
    /// advises on a brief, the cheap model does the work; brief: the smart model does the work
    /// from the brief alone (the baseline for what consulting adds); cascade: the cheap model alone, then
    /// (if the check fails) consult and retry, then the smart model from the brief; auto: the
    /// cheapest of these whose success, predicted from past outcomes on similar tasks, reaches
    /// --target-quality (or the best within --max-cost); the run says why it chose
    #[arg(short, long, default_value = "consult", value_parser = parse_strategy)]
    strategy: Strategy,
    /// For auto: the least predicted chance of success to aim for [default: the config's
    /// [policy] target_quality, else 0.9]
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    target_quality: Option<f64>,
    /// For auto: the most dollars the task may cost; the best predicted strategy within it wins
    #[arg(long, value_name = "USD", value_parser = parse_dollars)]
    max_cost: Option<f64>,
    /// Check the result with a shell command: it passes on exit status 0. The result is on its
    /// stdin and in the file $AIMOS_RESULT_FILE (the problem in $AIMOS_PROBLEM_FILE); it runs
    /// in the current folder. The verdict is recorded, counts for the insight, and drives
    /// `cascade`; a failed final check exits with status 3
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["verify_regex", "verify_schema", "verify_judge"])]
    verify: Option<String>,
    /// Check the result with a regular expression it must match
    #[arg(long, value_name = "PATTERN", conflicts_with_all = ["verify_schema", "verify_judge"])]
    verify_regex: Option<String>,
    /// Check that the result is JSON (alone or in a fenced block) that this JSON Schema file
    /// accepts
    #[arg(long, value_name = "FILE", conflicts_with = "verify_judge")]
    verify_schema: Option<PathBuf>,
    /// Have the smart model judge the result, seeing only the problem and the result (never
    /// the context)
    #[arg(long)]
    verify_judge: bool,
    /// Also run the smart model alone and have it judge whether this run's result holds up
    /// (a shadow check; `[policy] shadow_rate` in the config does this for a fraction of runs).
    /// The verdict teaches auto and calibration, and shows in `aimos stats`
    #[arg(long)]
    shadow: bool,
    /// Seconds a --verify command may run before it is stopped and counts as failed
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    verify_timeout: u64,
    /// Before consulting, a stored insight for a matching problem (the same problem, told in
    /// the same or other words, naming the same things) with a good record may stand in, once confirmed by: cheap (the cheap model
    /// reads the brief and the advice), judge (the smart model does), off (no confirmation),
    /// or never (always consult)
    #[arg(long, default_value = "cheap", value_parser = parse_reuse_check)]
    reuse_check: aimos_core::ReuseCheck,
    /// Least estimated chance of success for a stored insight to be reused: its stated
    /// confidence as a weak prior (a fresh insight that says 1.0 is estimated at 0.75), updated
    /// by its recorded outcomes
    #[arg(long, default_value_t = 0.6, value_name = "P", value_parser = parse_probability)]
    reuse_threshold: f64,
    #[command(flatten)]
    models: PairArgs,
    #[command(flatten)]
    reading: ReadingArgs,
    /// Most tokens of the result
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// Which models get text with its secrets (keys, tokens, passwords, private keys) replaced
    /// by typed placeholders: external (remote models), all, or off
    #[arg(long, default_value = "external", value_parser = parse_redact)]
    redact: aimos_context::RedactPolicy,
    /// Print the whole run record as JSON
    #[arg(long)]
    json: bool,
    /// Edit mode: the model answers with edits, applied in a scratch copy of the context
    /// (never your files), and the run returns a patch; the check runs in that copy.
    /// `aimos fix` is `aimos run --edit`
    #[arg(long)]
    pub edit: bool,
    /// Edit mode's check: a shell command run in the scratch copy (in the folder the context
    /// paths share); its exit status is the verdict and the end of its output the evidence.
    /// The same as --verify in edit mode
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["verify", "verify_regex", "verify_schema", "verify_judge"])]
    test: Option<String>,
    /// Edit mode: tries each model gets, each after the last one's check failed (it sees its
    /// edits and the end of the check's output), before the strategy escalates
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    attempts: u32,
    /// Edit mode: write the final patch into your tree, only if its check passed (or, with no
    /// check, after printing it). Refused on a git checkout with uncommitted changes, and when
    /// the patch no longer applies; nothing is written then
    #[arg(long)]
    apply: bool,
}

/// How much of the context each model reads, shared by `aimos run` and `aimos eval`.
#[derive(Debug, Args)]
pub struct ReadingArgs {
    /// Most tokens of the brief the smart model sees
    #[arg(long, default_value_t = 1024)]
    pub budget: usize,
    /// When an insight guides the cheap model, it reads the distiller's excerpts of the
    /// context within this many tokens instead of whole files: faster and cheaper on large
    /// contexts, the insight having pointed at what matters [default: whole files, as many as
    /// its window holds]
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u32).range(64..))]
    pub guided_context: Option<u32>,
    /// When the problem names no code (no trace, path, identifier or quoted message), the cheap
    /// model first guesses what the code is called, and the brief searches for its guesses
    /// too. Off by default: with the embedded 0.5B model it costs seconds and found nothing
    /// more on the recall benchmark (docs/distill.md); a stronger cheap model may do better
    #[arg(long)]
    pub expand_query: bool,
    /// The sentence-embedding model that finds stored insights by what problems mean, not only
    /// by their words, and re-ranks the brief's best excerpts by meaning: a catalog name, a
    /// .gguf path, or `off` [default: minilm-l6 when it is pulled (`aimos models pull
    /// minilm-l6`); words alone otherwise]
    #[arg(long, value_name = "MODEL", env = "AIMOS_EMBEDDING")]
    pub embedding: Option<String>,
}

impl ReadingArgs {
    /// `options` with the brief's budget, the guided executor's reading and the embedding
    /// model set from these.
    pub fn apply(&self, options: RunOptions) -> anyhow::Result<RunOptions> {
        Ok(RunOptions {
            brief_budget: self.budget,
            guided_context: self.guided_context.map(|t| t as usize),
            expand_query: self.expand_query,
            embedder: embedder(self.embedding.as_deref())?,
            ..options
        })
    }
}

/// The embedding model `choice` names (`off` for none), or the catalog's default when it is
/// pulled and nothing is named.
pub fn embedder(
    choice: Option<&str>,
) -> anyhow::Result<Option<std::sync::Arc<dyn aimos_core::Embed>>> {
    use anyhow::Context as _;
    let options = aimos_local::LoadOptions { pull_if_missing: false, ..Default::default() };
    let name = match choice.map(str::trim) {
        Some("off" | "none" | "") => return Ok(None),
        Some(name) => name,
        None => {
            let entry = aimos_local::catalog::find(aimos_local::DEFAULT_EMBEDDING)?;
            let pulled = aimos_local::catalog_path(&entry)
                .is_some_and(|path| path.metadata().is_ok_and(|m| m.len() == entry.size));
            if !pulled {
                return Ok(None);
            }
            aimos_local::DEFAULT_EMBEDDING
        }
    };
    let embedder = aimos_local::load_embedder(name, &options, &mut aimos_local::NoProgress)
        .with_context(|| {
            format!("loading the embedding model {name} (`--embedding off` runs without one)")
        })?;
    // Vectors already computed (the heads of a codebase's chunks, problems seen before) are
    // read back from $AIMOS_HOME/vectors rather than computed again.
    Ok(Some(match aimos_local::paths::aimos_home() {
        Some(home) => std::sync::Arc::new(aimos_context::dense::Remembered::new(
            embedder,
            &home.join("vectors"),
        )),
        None => embedder,
    }))
}

/// Files of the context that were not read, named on stderr: each of the first few, then how
/// many more and why (`where_listed` says where the whole list is, if anywhere).
pub fn note_skipped(skipped: &[aimos_context::Skipped], where_listed: &str) {
    const NAMED: usize = 5;
    for skip in skipped.iter().take(NAMED) {
        eprintln!("note: skipped {} ({})", skip.path, skip.reason);
    }
    let rest = skipped.get(NAMED..).unwrap_or_default();
    if rest.is_empty() {
        return;
    }
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for skip in rest {
        let kind = if skip.reason.ends_with("limit per file") {
            "over the size limit per file"
        } else if skip.reason.ends_with("limit for all context") {
            "over the size limit for all context"
        } else if skip.reason == "binary" || skip.reason == "not UTF-8 text" {
            skip.reason.as_str()
        } else {
            "unreadable"
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    eprintln!("note: skipped {} more files: {}{where_listed}", rest.len(), kinds.join(", "));
}

fn parse_redact(text: &str) -> Result<aimos_context::RedactPolicy, String> {
    text.parse()
}

pub fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a probability; give a number from 0 to 1, such as 0.6")),
    }
}

fn parse_dollars(text: &str) -> Result<f64, String> {
    match text.trim_start_matches('$').parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
        _ => Err(format!("`{text}` is not an amount of dollars; give a number such as 0.01")),
    }
}

fn parse_reuse_check(text: &str) -> Result<aimos_core::ReuseCheck, String> {
    text.parse()
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.parse()
}

/// `aimos fix`: `aimos run --edit`.
pub fn fix(mut args: RunArgs) -> Result<ExitCode> {
    args.edit = true;
    run(args)
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let problem = read_problem(args.problem.as_ref(), args.problem_file.as_ref())?;
    if !args.edit && (args.test.is_some() || args.apply) {
        bail!("--test and --apply belong to edit mode: use `aimos fix`, or add --edit");
    }
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let edit = if args.edit {
        let roots: Vec<PathBuf> =
            args.context.iter().filter(|p| p.as_os_str() != "-").cloned().collect();
        if roots.is_empty() {
            bail!(
                "edit mode changes files: name them with --context PATH (a folder or files), \
                 for example --context ."
            );
        }
        Some(aimos_core::pipeline::EditOptions {
            roots,
            cwd: cwd.clone(),
            attempts: args.attempts,
            check_first: true,
        })
    } else {
        None
    };
    let has_check = args.test.is_some()
        || args.verify.is_some()
        || args.verify_regex.is_some()
        || args.verify_schema.is_some()
        || args.verify_judge;
    if args.strategy == Strategy::Cascade && !has_check {
        bail!(
            "the cascade strategy needs a check to decide when to escalate: pass --verify COMMAND (for example --verify \"cargo test\"), --verify-regex PATTERN, --verify-schema FILE or --verify-judge"
        );
    }
    if (args.target_quality.is_some() || args.max_cost.is_some()) && args.strategy != Strategy::Auto
    {
        bail!("--target-quality and --max-cost steer --strategy auto; add --strategy auto");
    }
    // Checked before any model loads; the judge needs the smart model and comes later.
    let verifier = verifier(&args)?;
    let ingested = ingest(&args.context, Limits::default())?;
    note_skipped(&ingested.skipped, "");
    let config = Config::load(&args.config)?;
    let store = open_store(&args.store, &config)?;
    // The smart model is opened for every strategy: the counterfactual needs its tokenizer
    // and price.
    let (smart, cheap) = open_pair(&args.models, &config)?;
    let verifier = verifier.or_else(|| {
        args.verify_judge.then(|| {
            let model = std::sync::Arc::clone(&smart);
            std::sync::Arc::new(aimos_core::JudgeVerifier { model })
                as std::sync::Arc<dyn aimos_core::Verifier>
        })
    });
    let pipeline = Pipeline { smart, cheap, store };
    let task = Task { problem, context: ingested.documents };
    let run_options = RunOptions {
        strategy: args.strategy,
        max_result_tokens: args.max_tokens,
        redact: args.redact,
        verifier,
        reuse: aimos_core::ReusePolicy {
            check: args.reuse_check,
            min_success: args.reuse_threshold,
            ..aimos_core::ReusePolicy::default()
        },
        goal: aimos_core::policy::Goal {
            target_quality: args.target_quality.or(config.goal.target_quality),
            max_cost: args.max_cost.or(config.goal.max_cost),
        },
        edit,
        ..args.reading.apply(RunOptions::default())?
    };

    let spinner = Bars::spinner(&format!("running the {} strategy", args.strategy));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let record = runtime.block_on(pipeline.run(&task, &run_options));
    drop(spinner);
    let record = record?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else if args.edit {
        match &record.patch {
            Some(patch) => print_patch(patch, std::io::stdout().is_terminal()),
            None => println!("no change: no edit applied (see the notes below)\n"),
        }
        print_table(&record);
    } else {
        println!("{}\n", record.result.trim_end());
        print_table(&record);
    }
    if args.edit {
        return finish_edit(&args, &record, &cwd);
    }
    if args.shadow || aimos_core::pipeline::shadow_sampled(&record.id, config.shadow_rate) {
        let spinner = Bars::spinner("shadow check: the smart model alone, then a comparison");
        let shadow = runtime.block_on(pipeline.shadow(&task, &record, &run_options));
        drop(spinner);
        match shadow {
            Ok(Some(shadow)) => eprintln!(
                "shadow check (run {}, {}): {}",
                shadow.id,
                shadow.cost,
                shadow.steps.last().and_then(|s| s.note.as_deref()).unwrap_or_default()
            ),
            Ok(None) => eprintln!("shadow check skipped: the smart model did this run itself"),
            Err(err) => eprintln!("shadow check failed (the run above stands): {err:#}"),
        }
    }
    if record.verified == Some(false) {
        eprintln!("the result failed its check (see the verify steps above)");
        return Ok(ExitCode::from(crate::CHECK_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Edit mode's ending: the patch into the user's tree when asked and allowed, and the exit
/// status.
fn finish_edit(args: &RunArgs, record: &RunRecord, cwd: &std::path::Path) -> Result<ExitCode> {
    let Some(patch) = &record.patch else {
        eprintln!("nothing to apply: no edit applied (see the notes above)");
        return Ok(ExitCode::from(crate::CHECK_FAILED));
    };
    if record.verified == Some(false) {
        eprintln!("the patch failed its check (see the verify steps above); it was not applied");
        return Ok(ExitCode::from(crate::CHECK_FAILED));
    }
    if !args.apply {
        eprintln!("not applied: run again with --apply, or save the patch and `git apply` it");
        return Ok(ExitCode::SUCCESS);
    }
    let root = aimos_context::workspace::root_of(&args.context, cwd)?;
    let files = aimos_context::workspace::apply_patch(&root, patch).with_context(|| {
        format!("applying the patch of run {} to {}", record.id, root.display())
    })?;
    eprintln!("applied to {}: {}", root.display(), files.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// A unified diff, coloured when `colour` (additions green, removals red, hunks cyan).
fn print_patch(patch: &str, colour: bool) {
    for line in patch.lines() {
        let code = match line.as_bytes().first() {
            _ if !colour => None,
            _ if line.starts_with("+++")
                || line.starts_with("---")
                || line.starts_with("diff ") =>
            {
                Some("1")
            }
            Some(b'+') => Some("32"),
            Some(b'-') => Some("31"),
            Some(b'@') => Some("36"),
            _ => None,
        };
        match code {
            Some(code) => println!("\x1b[{code}m{line}\x1b[0m"),
            None => println!("{line}"),
        }
    }
    println!();
}

fn verifier(args: &RunArgs) -> Result<Option<std::sync::Arc<dyn aimos_core::Verifier>>> {
    if let Some(command) = args.test.as_ref().or(args.verify.as_ref()) {
        if command.trim().is_empty() {
            bail!("--verify and --test need a command, such as --test \"cargo test\"");
        }
        return Ok(Some(std::sync::Arc::new(aimos_core::CommandVerifier {
            command: command.clone(),
            timeout: std::time::Duration::from_secs(args.verify_timeout.max(1)),
            dir: None,
        })));
    }
    if let Some(pattern) = &args.verify_regex {
        let pattern = regex::Regex::new(pattern).with_context(|| {
            format!("--verify-regex `{pattern}` is not a valid regular expression")
        })?;
        return Ok(Some(std::sync::Arc::new(aimos_core::RegexVerifier { pattern })));
    }
    if let Some(path) = &args.verify_schema {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the --verify-schema file {}", path.display()))?;
        let schema: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let name = path.display().to_string();
        let verifier = aimos_core::SchemaVerifier::new(&name, schema)
            .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
        return Ok(Some(std::sync::Arc::new(verifier)));
    }
    Ok(None)
}

/// The problem from an argument, a file, or stdin (`-`, or nothing with stdin not a terminal).
pub fn read_problem(problem: Option<&String>, file: Option<&PathBuf>) -> Result<String> {
    let text = match (problem, file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the problem from {}", path.display()))?,
        (Some(text), None) if text == "-" => read_stdin()?,
        (Some(text), None) => text.clone(),
        (None, None) if !std::io::stdin().is_terminal() => read_stdin()?,
        (None, None) => {
            bail!("no problem: pass it as an argument, with --problem-file, or on stdin with `-`")
        }
    };
    if text.trim().is_empty() {
        bail!("the problem is empty; say what you need done");
    }
    Ok(text)
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the problem from stdin")?;
    Ok(text)
}

/// The per-step cost table, the total, the smart-only counterfactual and the savings.
pub fn print_table(record: &RunRecord) {
    let latency = |ms: f64| {
        if ms >= 1000.0 { format!("{:.1} s", ms / 1000.0) } else { format!("{ms:.0} ms") }
    };
    println!(
        "{:<9} {:<28} {:>8} {:>10} {:>11} {:>9}",
        "STEP", "MODEL", "PROMPT", "COMPLETION", "COST", "LATENCY"
    );
    for step in &record.steps {
        println!(
            "{:<9} {:<28} {:>8} {:>10} {:>11} {:>9}",
            step.kind.as_str(),
            step.model.as_deref().unwrap_or("-"),
            step.prompt_tokens,
            step.completion_tokens,
            step.cost.to_string(),
            latency(step.latency_ms)
        );
    }
    let prompt: u64 = record.steps.iter().map(|s| s.prompt_tokens).sum();
    let completion: u64 = record.steps.iter().map(|s| s.completion_tokens).sum();
    println!(
        "{:<9} {:<28} {:>8} {:>10} {:>11} {:>9}",
        "total",
        "",
        prompt,
        completion,
        record.cost.to_string(),
        latency(record.latency_ms)
    );
    let cf = &record.counterfactual;
    println!(
        "{:<9} {:<28} {:>8} {:>10} {:>11} {:>9}  ({})",
        "smart-only",
        cf.model,
        cf.prompt_tokens,
        cf.completion_tokens,
        cf.cost.to_string(),
        latency(cf.latency_ms),
        if cf.latency_measured { "measured" } else { "latency estimated" }
    );
    println!("savings: {:.0}% of the smart-only cost · run {}", record.savings * 100.0, record.id);
    if let Some(verified) = record.verified {
        println!("check: {}", if verified { "passed" } else { "FAILED" });
    }
    let exposure: Vec<aimos_core::Exposure> = record
        .steps
        .iter()
        .filter(|s| s.external)
        .map(|s| aimos_core::Exposure {
            model: s.model.clone().unwrap_or_default(),
            steps: 1,
            context_tokens_sent: s.context_tokens,
            context_tokens_total: record.context_tokens,
            redactions: s.redactions,
        })
        .collect();
    for line in crate::store::exposure_lines(&exposure) {
        println!("{line}");
    }
    for step in &record.steps {
        if let Some(note) = &step.note {
            println!("note ({}): {note}", step.kind.as_str());
        }
    }
}
