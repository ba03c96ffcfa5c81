//! The results of an eval summed up per strategy: pass rate with a 95% interval, dollars and
//! tokens per model, latency, quality retained and savings against `smart`, insight reuse, and
//! the tasks where the strategies disagree. Written as `report.json` and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use aimos_core::Strategy;
use serde::{Deserialize, Serialize};

use crate::SuiteError;
use crate::runner::{ResultRow, Tokens};

/// One strategy's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyReport {
    pub strategy: Strategy,
    pub tasks: u64,
    pub passed: u64,
    pub pass_rate: f64,
    /// Wilson score interval at 95%.
    pub interval: (f64, f64),
    pub cost_usd: f64,
    pub cost_per_task_usd: f64,
    pub tokens: BTreeMap<String, Tokens>,
    /// Prompt tokens sent to the smart model, in all.
    pub smart_prompt_tokens: u64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Pass rate relative to `smart` on the same tasks (when `smart` ran).
    pub quality_retained: Option<f64>,
    /// Cost saved relative to `smart` on the same tasks (when `smart` ran).
    pub savings: Option<f64>,
    /// Runs that reused a stored insight.
    pub reused: u64,
    /// Runs that failed with an error (counted as not passed).
    pub errors: u64,
    /// For `auto`: how often it ran each strategy.
    pub ran: BTreeMap<String, u64>,
}

/// A task on which the strategies did not all agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub task: String,
    pub passed: Vec<Strategy>,
    pub failed: Vec<Strategy>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub suite: String,
    pub smart: String,
    pub cheap: String,
    pub tasks: u64,
    pub strategies: Vec<StrategyReport>,
    pub disagreements: Vec<Disagreement>,
}

/// The Wilson score interval of `k` successes in `n` at 95%.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (n, p, z) = (n as f64, k as f64 / n as f64, 1.959_964);
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z * z / n;
    (((centre - spread) / denominator).max(0.0), ((centre + spread) / denominator).min(1.0))
}

/// The `q` quantile (0 to 1) of `values`, nearest rank.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Sums `rows` up, strategies in the order given.
pub fn summarize(
    suite: &str,
    smart: &str,
    cheap: &str,
    strategies: &[Strategy],
    rows: &[ResultRow],
) -> Report {
    let of = |s: Strategy| rows.iter().filter(move |r| r.strategy == s);
    let smart_rows: BTreeMap<&str, &ResultRow> =
        of(Strategy::Smart).map(|r| (r.task.as_str(), r)).collect();
    let mut out = Vec::new();
    for &strategy in strategies {
        let mine: Vec<&ResultRow> = of(strategy).collect();
        if mine.is_empty() {
            continue;
        }
        let n = mine.len() as u64;
        let passed = mine.iter().filter(|r| r.passed).count() as u64;
        let cost: f64 = mine.iter().map(|r| r.cost_usd).sum();
        let mut tokens: BTreeMap<String, Tokens> = BTreeMap::new();
        let mut ran: BTreeMap<String, u64> = BTreeMap::new();
        for r in &mine {
            for (model, t) in &r.tokens {
                let entry = tokens.entry(model.clone()).or_default();
                entry.prompt += t.prompt;
                entry.completion += t.completion;
            }
            *ran.entry(r.ran.to_string()).or_default() += 1;
        }
        let latencies: Vec<f64> = mine.iter().map(|r| r.latency_ms).collect();
        // Against smart on the tasks both ran.
        let paired: Vec<(&&ResultRow, &&ResultRow)> =
            mine.iter().filter_map(|r| smart_rows.get(r.task.as_str()).map(|s| (r, s))).collect();
        let (quality_retained, savings) = if paired.is_empty() {
            (None, None)
        } else {
            let mine_passed = paired.iter().filter(|(r, _)| r.passed).count() as f64;
            let smart_passed = paired.iter().filter(|(_, s)| s.passed).count() as f64;
            let mine_cost: f64 = paired.iter().map(|(r, _)| r.cost_usd).sum();
            let smart_cost: f64 = paired.iter().map(|(_, s)| s.cost_usd).sum();
            (
                (smart_passed > 0.0).then(|| mine_passed / smart_passed),
                (smart_cost > 0.0).then(|| 1.0 - mine_cost / smart_cost),
            )
        };
        out.push(StrategyReport {
            strategy,
            tasks: n,
            passed,
            pass_rate: passed as f64 / n as f64,
            interval: wilson(passed, n),
            cost_usd: cost,
            cost_per_task_usd: cost / n as f64,
            tokens,
            smart_prompt_tokens: mine.iter().map(|r| r.smart_prompt_tokens).sum(),
            latency_p50_ms: quantile(&latencies, 0.5),
            latency_p95_ms: quantile(&latencies, 0.95),
            quality_retained,
            savings,
            reused: mine.iter().filter(|r| r.reused).count() as u64,
            errors: mine.iter().filter(|r| r.error.is_some()).count() as u64,
            ran: if strategy == Strategy::Auto { ran } else { BTreeMap::new() },
        });
    }
    let mut task_ids: Vec<&str> = rows.iter().map(|r| r.task.as_str()).collect();
    task_ids.dedup();
    let mut seen = std::collections::HashSet::new();
    task_ids.retain(|t| seen.insert(*t));
    let disagreements = task_ids
        .iter()
        .filter_map(|&task| {
            let verdicts: Vec<&ResultRow> = rows.iter().filter(|r| r.task == task).collect();
            let passed: Vec<Strategy> =
                verdicts.iter().filter(|r| r.passed).map(|r| r.strategy).collect();
            let failed: Vec<Strategy> =
                verdicts.iter().filter(|r| !r.passed).map(|r| r.strategy).collect();
            (!passed.is_empty() && !failed.is_empty()).then(|| Disagreement {
                task: task.to_owned(),
                passed,
                failed,
            })
        })
        .collect();
    Report {
        suite: suite.to_owned(),
        smart: smart.to_owned(),
        cheap: cheap.to_owned(),
        tasks: task_ids.len() as u64,
        strategies: out,
        disagreements,
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The report as Markdown: the table first, then the plots and the disagreements.
pub fn markdown(report: &Report, command: &str, png: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# aimos eval: {}\n", report.suite);
    let _ = writeln!(
        md,
        "{} tasks; smart model `{}`, cheap model `{}`.\n\nProduced by:\n\n```sh\n{command}\n```\n",
        report.tasks, report.smart, report.cheap
    );
    let _ = writeln!(
        md,
        "| strategy | passed | pass rate (95% CI) | cost | cost/task | smart-model prompt tokens | latency p50 / p95 | quality retained | savings | reused |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for s in &report.strategies {
        let _ = writeln!(
            md,
            "| {} | {}/{} | {} ({}–{}) | ${:.6} | ${:.6} | {} | {:.1} s / {:.1} s | {} | {} | {} |",
            s.strategy,
            s.passed,
            s.tasks,
            percent(s.pass_rate),
            percent(s.interval.0),
            percent(s.interval.1),
            s.cost_usd,
            s.cost_per_task_usd,
            s.smart_prompt_tokens,
            s.latency_p50_ms / 1000.0,
            s.latency_p95_ms / 1000.0,
            s.quality_retained.map_or("-".into(), percent),
            s.savings.map_or("-".into(), percent),
            s.reused
        );
    }
    let _ = writeln!(md, "\nTokens per model:\n");
    for s in &report.strategies {
        let each: Vec<String> = s
            .tokens
            .iter()
            .map(|(m, t)| format!("`{m}` {} prompt + {} completion", t.prompt, t.completion))
            .collect();
        let _ = writeln!(md, "- {}: {}", s.strategy, each.join("; "));
        if !s.ran.is_empty() {
            let ran: Vec<String> = s.ran.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            let _ = writeln!(md, "  - auto ran: {}", ran.join(", "));
        }
        if s.errors > 0 {
            let _ = writeln!(md, "  - {} runs failed with an error (counted as failed)", s.errors);
        }
    }
    let _ = writeln!(
        md,
        "\nQuality retained and savings compare each strategy with `smart` on the same tasks.\n"
    );
    let ext = if png { "png" } else { "svg" };
    for (name, title) in crate::plot::PLOTS.iter().zip([
        "Quality against cost",
        "Tokens sent to the smart model",
        "Latency",
    ]) {
        let _ = writeln!(md, "![{title}]({name}.{ext})\n");
    }
    if !png {
        let _ = writeln!(
            md,
            "(SVG only: PNG copies need `rsvg-convert`, from Debian's `librsvg2-bin`.)\n"
        );
    }
    let _ = writeln!(md, "## Where the strategies disagree ({})\n", report.disagreements.len());
    for d in &report.disagreements {
        let names =
            |list: &[Strategy]| list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let _ =
            writeln!(md, "- {}: passed {}; failed {}", d.task, names(&d.passed), names(&d.failed));
    }
    md
}

/// Writes `report.json` and `report.md` into `out`.
pub fn write(report: &Report, command: &str, png: bool, out: &Path) -> Result<(), SuiteError> {
    write_as("report", report, command, png, out)
}

/// Writes `STEM.json` and `STEM.md` into `out`.
pub fn write_as(
    stem: &str,
    report: &Report,
    command: &str,
    png: bool,
    out: &Path,
) -> Result<(), SuiteError> {
    let io = |source| SuiteError::Io { path: out.display().to_string(), source };
    let json =
        serde_json::to_string_pretty(report).map_err(|e| SuiteError::Other(e.to_string()))?;
    std::fs::write(out.join(format!("{stem}.json")), json).map_err(io)?;
    std::fs::write(out.join(format!("{stem}.md")), markdown(report, command, png)).map_err(io)?;
    Ok(())
}

/// Prices per million tokens for the two roles of a re-priced eval, read from a TOML file:
/// `[smart]` and `[cheap]`, each with `input_per_mtok` and `output_per_mtok`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSheet {
    pub smart: RolePrice,
    pub cheap: RolePrice,
}

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl RolePrice {
    fn cost(self, tokens: Tokens) -> f64 {
        (tokens.prompt as f64 * self.input_per_mtok
            + tokens.completion as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// The rows of a finished eval with their dollars (cost and counterfactual) recomputed from
/// their token counts at `sheet`'s prices; nothing is rerun.
pub fn reprice(
    rows: &[ResultRow],
    smart: &str,
    cheap: &str,
    sheet: &PriceSheet,
) -> Result<Vec<ResultRow>, String> {
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
            let mut cost = 0.0;
            for (model, tokens) in &row.tokens {
                let price = if model == smart {
                    sheet.smart
                } else if model == cheap {
                    sheet.cheap
                } else {
                    return Err(format!(
                        "task {} ({}) used `{model}`, which is neither the smart model `{smart}` \
                         nor the cheap model `{cheap}`",
                        row.task, row.strategy
                    ));
                };
                cost += price.cost(*tokens);
            }
            let counted = row.counterfactual_tokens != Tokens::default();
            if !counted && row.counterfactual_usd > 0.0 {
                return Err(format!(
                    "task {} ({}) was run before results held the counterfactual's tokens: rerun \
                     the eval into a new folder to re-price it",
                    row.task, row.strategy
                ));
            }
            row.cost_usd = cost;
            row.counterfactual_usd = sheet.smart.cost(row.counterfactual_tokens);
            Ok(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_matches_known_values() {
        let (lo, hi) = wilson(40, 50);
        assert!((lo - 0.6696).abs() < 1e-3 && (hi - 0.8876).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{hi}");
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 10.0);
        assert_eq!(quantile(&v, 0.95), 19.0);
    }

    fn row(task: &str, strategy: Strategy, passed: bool, cost: f64) -> ResultRow {
        ResultRow {
            task: task.into(),
            strategy,
            ran: strategy,
            passed,
            note: String::new(),
            run_id: None,
            error: None,
            cost_usd: cost,
            counterfactual_usd: 0.0,
            latency_ms: 1000.0,
            context_tokens: 100,
            smart_prompt_tokens: 0,
            tokens: BTreeMap::new(),
            counterfactual_tokens: Tokens::default(),
            patch: None,
            reused: false,
        }
    }

    #[test]
    fn strategies_are_compared_with_smart_on_the_same_tasks() {
        let rows = vec![
            row("a", Strategy::Smart, true, 1.0),
            row("a", Strategy::Consult, true, 0.2),
            row("b", Strategy::Smart, true, 1.0),
            row("b", Strategy::Consult, false, 0.2),
        ];
        let report = summarize("s", "big", "small", &[Strategy::Smart, Strategy::Consult], &rows);
        let consult = &report.strategies[1];
        assert_eq!(consult.quality_retained, Some(0.5));
        assert!((consult.savings.unwrap_or_default() - 0.8).abs() < 1e-9);
        assert_eq!(report.disagreements.len(), 1);
        assert_eq!(report.disagreements[0].task, "b");
        let md = markdown(&report, "aimos eval …", false);
        assert!(md.contains("| consult | 1/2 | 50.0%"), "{md}");
    }

    #[test]
    fn a_report_is_repriced_from_its_tokens() {
        let mut run = row("t1", Strategy::Consult, true, 0.5);
        run.tokens.insert("smart".into(), Tokens { prompt: 1_000_000, completion: 0 });
        run.tokens.insert("cheap".into(), Tokens { prompt: 2_000_000, completion: 1_000_000 });
        run.counterfactual_usd = 9.0;
        run.counterfactual_tokens = Tokens { prompt: 1_000_000, completion: 1_000_000 };
        let sheet = PriceSheet {
            smart: RolePrice { input_per_mtok: 3.0, output_per_mtok: 15.0 },
            cheap: RolePrice { input_per_mtok: 0.15, output_per_mtok: 0.6 },
        };
        let priced = reprice(&[run.clone()], "smart", "cheap", &sheet).expect("prices");
        assert!((priced[0].cost_usd - (3.0 + 0.3 + 0.6)).abs() < 1e-9, "{}", priced[0].cost_usd);
        assert!((priced[0].counterfactual_usd - 18.0).abs() < 1e-9);
        // A third model, and a row without the counterfactual's tokens, are refused by name.
        let err = reprice(&[run.clone()], "other", "cheap", &sheet).expect_err("unknown model");
        assert!(err.contains("`smart`, which is neither"), "{err}");
        run.counterfactual_tokens = Tokens::default();
        let err = reprice(&[run], "smart", "cheap", &sheet).expect_err("old row");
        assert!(err.contains("rerun the eval"), "{err}");
    }
}
