//! The store options every subcommand shares, and `aimos insights` / `aimos runs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aimos_core::{Insight, Outcome, Stats, Store};
use aimos_store::SqliteStore;
use anyhow::{Context, Result, bail};

use crate::config::{Config, ConfigArgs};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store: a SQLite file (default: $AIMOS_HOME/aimos.db, else
    /// ~/.local/share/aimos/aimos.db) or a postgres://USER@HOST:PORT/DATABASE URL
    #[arg(long, env = "AIMOS_STORE", value_name = "PATH", global = true)]
    store: Option<PathBuf>,
}

impl StoreArgs {
    /// Whether `--store` or `AIMOS_STORE` names a store.
    pub fn is_set(&self) -> bool {
        self.store.is_some()
    }
}

/// The store named by `--store`/`AIMOS_STORE`, else by the config file, else the default.
pub fn open_store(args: &StoreArgs, config: &Config) -> Result<Arc<dyn Store>> {
    open_location(&store_location(args, config)?)
}

/// The store `--store`/`AIMOS_STORE` names, else the config's, else the default file.
pub fn store_location(args: &StoreArgs, config: &Config) -> Result<PathBuf> {
    match args.store.clone().or_else(|| config.store.clone()) {
        Some(path) => Ok(path),
        None => aimos_store::default_path()
            .context("no folder for the store: set AIMOS_HOME, or pass --store"),
    }
}

/// The store named by `--store`/`AIMOS_STORE`, else `default` (the config's store is not
/// used: the caller wants a store of its own).
pub fn open_store_at(args: &StoreArgs, default: &Path) -> Result<Arc<dyn Store>> {
    open_location(&args.store.clone().unwrap_or_else(|| default.to_path_buf()))
}

fn open_location(path: &Path) -> Result<Arc<dyn Store>> {
    let location = path.to_string_lossy();
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        // The error names host and database, never the password.
        return aimos_store::open(&location).context("opening the PostgreSQL store");
    }
    let store =
        SqliteStore::open(path).with_context(|| format!("opening the store {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Paging and output options of the list subcommands.
#[derive(Debug, Args)]
pub struct Page {
    /// Most rows to show
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Rows to skip first
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum InsightsCommand {
    /// Newest insights first
    List(Page),
    /// One insight in full
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Say whether following an insight worked; the counts feed calibration
    Feedback {
        id: String,
        /// It worked
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        passed: bool,
        /// It did not work
        #[arg(long)]
        failed: bool,
        /// What happened, in a few words
        #[arg(long)]
        note: Option<String>,
        /// The run it was applied in
        #[arg(long)]
        run: Option<String>,
    },
    /// Insights whose problem, diagnosis or key facts share words with TEXT, best first
    Search {
        text: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Newest runs first
    List(Page),
    /// One run with its steps and cost table
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn insights(
    command: InsightsCommand,
    store_args: &StoreArgs,
    config: &ConfigArgs,
) -> Result<ExitCode> {
    let store = open_store(store_args, &Config::load(config)?)?;
    let (found, json) = match command {
        InsightsCommand::List(Page { limit, offset, json }) => {
            (store.insights(None, limit, offset)?, json)
        }
        InsightsCommand::Search { text, limit, json } => {
            (store.insights(Some(&text), limit, 0)?, json)
        }
        InsightsCommand::Feedback { id, passed, failed: _, note, run } => {
            let outcome = Outcome {
                insight_id: id.clone(),
                run_id: run,
                passed,
                source: "user".into(),
                note,
                created_at: aimos_core::ids::now_rfc3339(),
            };
            let Some(insight) = store.record_outcome(&outcome)? else {
                bail!("no insight with id {id}; `aimos insights list` shows the stored ones");
            };
            println!(
                "recorded: {id} has succeeded {} and failed {} times",
                insight.succeeded, insight.failed
            );
            for (aged, reason) in aimos_core::reuse::age(&*store, &insight, passed)? {
                println!("insight {aged} is no longer recalled: {reason}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        InsightsCommand::Show { id, json } => {
            let Some(insight) = store.insight(&id)? else {
                bail!("no insight with id {id}; `aimos insights list` shows the stored ones");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&insight)?);
            } else {
                show_insight(&insight);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        eprintln!("no insights yet; `aimos run --strategy consult` stores one per consultation");
    } else {
        for insight in &found {
            println!(
                "{}  {:.2}  {}  {}{}",
                insight.id,
                insight.draft.confidence,
                insight.created_at,
                if insight.invalidated.is_some() { "[invalidated] " } else { "" },
                one_line(&insight.problem, 70)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_insight(insight: &Insight) {
    println!("id:          {}", insight.id);
    println!("created:     {}", insight.created_at);
    println!("smart model: {} ({})", insight.smart_model, insight.cost);
    println!("confidence:  {:.2} (as stated)", insight.draft.confidence);
    println!(
        "applied:     {} (succeeded {}, failed {})",
        insight.applied, insight.succeeded, insight.failed
    );
    if let Some(invalid) = &insight.invalidated {
        println!("invalidated: {} ({}); no longer recalled", invalid.at, invalid.reason);
    }
    println!("\nproblem:\n{}\n", insight.problem.trim());
    println!("{}", insight.as_guidance());
    println!("reasoning: {}", insight.draft.reasoning.trim());
}

pub fn runs(command: RunsCommand, store_args: &StoreArgs, config: &ConfigArgs) -> Result<ExitCode> {
    let store = open_store(store_args, &Config::load(config)?)?;
    match command {
        RunsCommand::List(Page { limit, offset, json }) => {
            let runs = store.runs(limit, offset)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else if runs.is_empty() {
                eprintln!("no runs yet; `aimos run` records one per task");
            }
            if !json {
                for run in &runs {
                    println!(
                        "{}  {:<8} {:<9} {:>11}  saved {:>4.0}%  {}",
                        run.id,
                        run.strategy.as_str(),
                        if run.error.is_none() { "ok" } else { "failed" },
                        run.cost.to_string(),
                        run.savings * 100.0,
                        one_line(&run.problem, 50)
                    );
                }
            }
        }
        RunsCommand::Show { id, json } => {
            let Some(run) = store.run(&id)? else {
                bail!("no run with id {id}; `aimos runs list` shows the recorded ones");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                println!("problem: {}\n", one_line(&run.problem, 200));
                if let Some(error) = &run.error {
                    println!("failed: {error}\n");
                }
                println!("{}\n", run.result.trim_end());
                crate::run::print_table(&run);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max_chars {
        line
    } else {
        format!("{}…", line.chars().take(max_chars.saturating_sub(1)).collect::<String>())
    }
}

/// `aimos stats`: runs, spend, the smart-only counterfactual and savings, by day and by model.
/// `aimos stats --by key|user|tag`: runs and money per key, user or tag.
pub fn spend_by(
    by: aimos_core::SpendBy,
    json: bool,
    store_args: &StoreArgs,
    config: &ConfigArgs,
) -> Result<ExitCode> {
    let store = open_store(store_args, &Config::load(config)?)?;
    let spend = store.spend_by(by)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&spend)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (title, none) = match by {
        aimos_core::SpendBy::Key => ("KEY", "(no key)"),
        aimos_core::SpendBy::User => ("USER", "(no user)"),
        aimos_core::SpendBy::Tag => ("TAG", "(untagged)"),
    };
    println!("{title:<28} {:>6} {:>12} {:>12}", "RUNS", "COST", "SMART-ONLY");
    for group in &spend {
        println!(
            "{:<28} {:>6} {:>12} {:>12}",
            group.name.as_deref().unwrap_or(none),
            group.runs,
            aimos_core::Cost { usd: group.cost_usd }.to_string(),
            aimos_core::Cost { usd: group.counterfactual_usd }.to_string(),
        );
    }
    if matches!(by, aimos_core::SpendBy::Tag) {
        println!("\na run with several tags counts under each of them");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn stats(json: bool, store_args: &StoreArgs, config: &ConfigArgs) -> Result<ExitCode> {
    let store = open_store(store_args, &Config::load(config)?)?;
    let stats: Stats = store.stats()?;
    let quality = aimos_core::quality::summarize(
        &store.runs(QUALITY_HISTORY, 0)?,
        &store.outcome_points(QUALITY_HISTORY)?,
        &store.calibrations()?,
    );
    if json {
        let mut value = serde_json::to_value(&stats)?;
        value["quality"] = serde_json::to_value(&quality)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let line = |label: &str, t: &aimos_core::Totals| {
        println!(
            "{:<12} {:>6} {:>7} {:>12} {:>12} {:>8.0}%",
            label,
            t.runs,
            t.failed,
            t.cost.to_string(),
            t.counterfactual.to_string(),
            t.savings() * 100.0
        );
    };
    println!(
        "{:<12} {:>6} {:>7} {:>12} {:>12} {:>9}",
        "DAY", "RUNS", "FAILED", "COST", "SMART-ONLY", "SAVINGS"
    );
    for (day, totals) in &stats.by_day {
        line(day, totals);
    }
    line("total", &stats.total);
    println!();
    println!("{:<28} {:>6} {:>10} {:>11} {:>12}", "MODEL", "CALLS", "PROMPT", "COMPLETION", "COST");
    for usage in &stats.by_model {
        println!(
            "{:<28} {:>6} {:>10} {:>11} {:>12}",
            usage.model,
            usage.calls,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cost.to_string()
        );
    }
    println!();
    for line in exposure_lines(&stats.exposure) {
        println!("{line}");
    }
    println!();
    for line in quality_lines(&quality) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

use aimos_core::quality::HISTORY as QUALITY_HISTORY;

fn rate(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.0}%", 100.0 * part as f64 / whole as f64) }
}

/// The quality side of `aimos stats`: pass rates, reuse, shadow checks, calibration.
fn quality_lines(q: &aimos_core::quality::Quality) -> Vec<String> {
    let mut out = Vec::new();
    if q.by_strategy.is_empty() {
        out.push(
            "quality: no judged runs yet (add --verify…, feedback, or shadow checks)".to_owned(),
        );
    } else {
        out.push(format!("{:<12} {:>7} {:>7} {:>9}", "STRATEGY", "JUDGED", "PASSED", "PASS RATE"));
        for s in &q.by_strategy {
            out.push(format!(
                "{:<12} {:>7} {:>7} {:>9}",
                s.strategy.as_str(),
                s.judged,
                s.passed,
                rate(s.passed, s.judged)
            ));
        }
    }
    let r = &q.reuse;
    out.push(format!(
        "reuse: {} of {} advised runs reused a stored insight ({}); wrong reuse: {} of {} judged ({})",
        r.reused,
        r.advised,
        rate(r.reused, r.advised),
        r.wrong,
        r.reused_judged,
        rate(r.wrong, r.reused_judged)
    ));
    let sh = &q.shadow;
    if sh.checks > 0 {
        out.push(format!(
            "shadow checks: {} of {} live results held up against the smart model alone ({} quality retained; checks cost ${:.6})",
            sh.held_up,
            sh.checks,
            rate(sh.held_up, sh.checks),
            sh.cost_usd
        ));
    } else {
        out.push("shadow checks: none yet ([policy] shadow_rate, or aimos run --shadow)".into());
    }
    for m in &q.calibration {
        out.push(String::new());
        let fitted = match (&m.calibration, &m.calibrated) {
            (Some(c), Some(after)) => format!(
                "; calibrated (slope {:.2}, intercept {:.2}, {} outcomes): Brier {:.3}, ECE {:.3}",
                c.slope, c.intercept, c.points, after.brier, after.ece
            ),
            _ => "; not calibrated yet (`aimos calibrate`)".into(),
        };
        out.push(format!(
            "calibration of {} on {} outcomes: stated confidence Brier {:.3}, ECE {:.3}{fitted}",
            m.smart_model, m.stated.points, m.stated.brier, m.stated.ece
        ));
        let bins = m.calibrated.as_ref().unwrap_or(&m.stated);
        out.push(format!(
            "  {:<11} {:>6} {:>10} {:>9}",
            if m.calibrated.is_some() { "CALIBRATED" } else { "STATED" },
            "COUNT",
            "PREDICTED",
            "OBSERVED"
        ));
        for b in &bins.bins {
            out.push(format!(
                "  {:.1}–{:.1}     {:>6} {:>10.2} {:>9.2}",
                b.low, b.high, b.count, b.mean_predicted, b.observed
            ));
        }
    }
    out
}

/// `aimos calibrate`: refits each smart model's confidence mapping on the recorded outcomes.
pub fn calibrate(json: bool, store_args: &StoreArgs, config: &ConfigArgs) -> Result<ExitCode> {
    let store = open_store(store_args, &Config::load(config)?)?;
    let points = store.outcome_points(QUALITY_HISTORY)?;
    if points.is_empty() {
        bail!(
            "no outcomes to calibrate on yet: they come from runs with --verify…, from `aimos insights feedback`, from the gateway's feedback endpoint and from shadow checks"
        );
    }
    let fitted = aimos_core::calibration::fit_all(&points, &aimos_core::ids::now_rfc3339());
    for calibration in &fitted {
        store.put_calibration(calibration)?;
    }
    let quality = aimos_core::quality::summarize(&[], &points, &fitted);
    if json {
        println!("{}", serde_json::to_string_pretty(&quality.calibration)?);
        return Ok(ExitCode::SUCCESS);
    }
    for m in &quality.calibration {
        let after = m.calibrated.as_ref().unwrap_or(&m.stated);
        let c = m.calibration.as_ref();
        println!(
            "{}: fitted on {} outcomes (slope {:.2}, intercept {:.2}); Brier {:.3} → {:.3}, ECE {:.3} → {:.3}; a stated 0.9 now reads as {:.2}",
            m.smart_model,
            m.stated.points,
            c.map_or(1.0, |c| c.slope),
            c.map_or(0.0, |c| c.intercept),
            m.stated.brier,
            after.brier,
            m.stated.ece,
            after.ece,
            aimos_core::calibration::apply(c, 0.9)
        );
    }
    eprintln!(
        "(scored on the outcomes they were fitted on; reuse and auto use the new mappings from now on)"
    );
    Ok(ExitCode::SUCCESS)
}

/// "sent 1,020 of 182,400 context tokens (0.56%) to anthropic in 3 steps; 2 secrets redacted",
/// one line per provider (the part of a model's name before `:`).
pub fn exposure_lines(exposure: &[aimos_core::Exposure]) -> Vec<String> {
    if exposure.is_empty() {
        return vec!["exposure: no context was sent to a model outside this machine".into()];
    }
    let mut by_provider: Vec<aimos_core::Exposure> = Vec::new();
    for e in exposure {
        let provider = e.model.split(':').next().unwrap_or(&e.model).to_owned();
        match by_provider.iter_mut().find(|p| p.model == provider) {
            Some(p) => {
                p.steps += e.steps;
                p.context_tokens_sent += e.context_tokens_sent;
                p.context_tokens_total += e.context_tokens_total;
                p.redactions += e.redactions;
            }
            None => by_provider.push(aimos_core::Exposure { model: provider, ..e.clone() }),
        }
    }
    by_provider
        .iter()
        .map(|p| {
            format!(
                "exposure: sent {} of {} context tokens ({}) to {} in {} step{}{}",
                thousands(p.context_tokens_sent),
                thousands(p.context_tokens_total),
                percent(p.context_tokens_sent, p.context_tokens_total),
                p.model,
                p.steps,
                if p.steps == 1 { "" } else { "s" },
                match p.redactions {
                    0 => String::new(),
                    1 => "; 1 secret redacted".into(),
                    n => format!("; {n} secrets redacted"),
                }
            )
        })
        .collect()
}

/// `182400` → `182,400`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "of an empty context".into();
    }
    let p = part as f64 / whole as f64 * 100.0;
    if p < 10.0 { format!("{p:.2}%") } else { format!("{p:.0}%") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_is_summed_per_provider_and_worded_plainly() {
        let e = |model: &str, sent, total, redactions| aimos_core::Exposure {
            model: model.into(),
            steps: 1,
            context_tokens_sent: sent,
            context_tokens_total: total,
            redactions,
        };
        let lines = exposure_lines(&[
            e("anthropic:claude-sonnet-4-5", 1_020, 182_400, 2),
            e("anthropic:claude-haiku-4-5", 0, 0, 0),
            e("openai:gpt-4.1", 900, 900, 0),
        ]);
        assert_eq!(
            lines,
            [
                "exposure: sent 1,020 of 182,400 context tokens (0.56%) to anthropic in 2 steps; 2 secrets redacted",
                "exposure: sent 900 of 900 context tokens (100%) to openai in 1 step",
            ]
        );
        assert_eq!(exposure_lines(&[]).len(), 1);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
