//! Running a suite: one pipeline run per pair of task and strategy, graded, appended to
//! `results.jsonl` as soon as it is known. Pairs already in the file are not run again, so a
//! killed eval resumes where it stopped.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use aimos_core::pipeline::EditOptions;
use aimos_core::{Pipeline, RunOptions, RunRecord, Strategy, Task};
use serde::{Deserialize, Serialize};

use crate::{EvalTask, Grader, SuiteError};

/// What an eval runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub strategies: Vec<Strategy>,
    /// The options every run starts from (budget, result tokens, reuse, `auto`'s goal, the
    /// judge); the strategy is set per run.
    pub run: RunOptions,
    /// Tries of a bug-fix task's edits before the strategy escalates (`aimos fix --attempts`).
    pub attempts: u32,
}

/// Tokens one model used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
}

/// One graded run: a line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub task: String,
    /// The strategy asked for.
    pub strategy: Strategy,
    /// The strategy that ran (`auto` chooses one).
    pub ran: Strategy,
    pub passed: bool,
    /// Why the grader failed it, or the run's error.
    pub note: String,
    pub run_id: Option<String>,
    pub error: Option<String>,
    pub cost_usd: f64,
    /// What the smart model alone would have cost on the task.
    pub counterfactual_usd: f64,
    pub latency_ms: f64,
    /// Tokens of the task's whole context.
    pub context_tokens: u64,
    /// Prompt tokens sent to the smart model (a judge's included).
    pub smart_prompt_tokens: u64,
    pub tokens: BTreeMap<String, Tokens>,
    /// The tokens of the smart-only counterfactual, so that a report can be re-priced.
    #[serde(default)]
    pub counterfactual_tokens: Tokens,
    /// The run's patch (edit mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// A stored insight stood in for a consultation.
    pub reused: bool,
}

/// The results file of an eval: what is done, and where new rows go.
#[derive(Debug)]
pub struct Results {
    path: PathBuf,
    pub rows: Vec<ResultRow>,
}

impl Results {
    /// Opens (or starts) `results.jsonl` in `out`. A last line cut off by a kill is dropped.
    pub fn open(out: &Path) -> Result<Results, SuiteError> {
        let io = |source| SuiteError::Io { path: out.display().to_string(), source };
        std::fs::create_dir_all(out).map_err(io)?;
        let path = out.join("results.jsonl");
        let mut rows = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut kept = String::new();
            for line in text.lines() {
                if let Ok(row) = serde_json::from_str::<ResultRow>(line) {
                    rows.push(row);
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            if kept.len() != text.len() {
                std::fs::write(&path, kept).map_err(io)?;
            }
        }
        Ok(Results { path, rows })
    }

    /// The pairs of task and strategy still to run, in suite order.
    pub fn pending<'a>(
        &self,
        tasks: &'a [EvalTask],
        strategies: &[Strategy],
    ) -> Vec<(&'a EvalTask, Strategy)> {
        let done: HashSet<(&str, Strategy)> =
            self.rows.iter().map(|r| (r.task.as_str(), r.strategy)).collect();
        tasks
            .iter()
            .flat_map(|t| strategies.iter().map(move |s| (t, *s)))
            .filter(|(t, s)| !done.contains(&(t.id.as_str(), *s)))
            .collect()
    }

    /// Appends a row and syncs it to disk before returning.
    pub fn append(&mut self, row: ResultRow) -> Result<(), SuiteError> {
        let io = |source| SuiteError::Io { path: self.path.display().to_string(), source };
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        let line = serde_json::to_string(&row).map_err(|e| SuiteError::Other(e.to_string()))?;
        writeln!(file, "{line}").map_err(io)?;
        file.sync_data().map_err(io)?;
        self.rows.push(row);
        Ok(())
    }
}

/// Seconds the check of a bug-fix task may run during a run.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `task` under `strategy` through `pipeline`, using `scratch` (an empty folder) for its
/// copy of the task's folder.
///
/// A verifier built from the grader is never given to text tasks: the grade comes after, so
/// that every strategy is judged alike. The options' verifier (the judge) goes to `cascade`,
/// which escalates on it, and to `auto`, which may choose to check; never to the others. A
/// bug-fix task (one with a folder) runs in edit mode with the grader's `tests` as its check,
/// under every strategy, as `aimos fix --test` would: the grade then applies the patch to a
/// fresh copy and runs `full_tests` as well.
pub async fn run(
    pipeline: &Pipeline,
    task: &EvalTask,
    strategy: Strategy,
    options: &EvalOptions,
    scratch: &Path,
) -> Result<RunRecord, String> {
    let judged = matches!(strategy, Strategy::Cascade | Strategy::Auto);
    let mut run_options = RunOptions {
        strategy,
        run_id: None,
        verifier: if judged { options.run.verifier.clone() } else { None },
        ..options.run.clone()
    };
    let mut context = task.context.clone();
    if let (Some(tree), Grader::Patch { tests, .. }) = (&task.tree, &task.grader) {
        // Absolute: edit mode resolves the roots from the folder they are relative to.
        let root = std::path::absolute(scratch.join(&task.id))
            .map_err(|e| format!("the scratch folder {}: {e}", scratch.display()))?;
        tree.materialize(&root)?;
        let ingested =
            aimos_context::ingest(std::slice::from_ref(&root), aimos_context::Limits::default())
                .map_err(|e| e.to_string())?;
        // Paths as a user in the folder would name them.
        let prefix = format!("{}/", root.display());
        context = ingested
            .documents
            .into_iter()
            .map(|mut d| {
                d.path = d.path.strip_prefix(&prefix).unwrap_or(&d.path).to_owned();
                d
            })
            .collect();
        run_options.verifier = Some(Arc::new(aimos_core::CommandVerifier {
            command: tests.clone(),
            timeout: CHECK_TIMEOUT,
            dir: Some(root.clone()),
        }));
        run_options.edit = Some(EditOptions {
            roots: vec![root.clone()],
            cwd: root,
            attempts: options.attempts,
            check_first: true,
        });
    }
    let input = Task { problem: task.problem.clone(), context };
    pipeline.run(&input, &run_options).await.map_err(|e| aimos_core::error_chain(&e))
}

/// Grades a run's result (blocking: a grader may run a program for seconds) into a row.
pub fn grade(
    task: &EvalTask,
    strategy: Strategy,
    outcome: &Result<RunRecord, String>,
    smart_model: &str,
    scratch: &Path,
) -> ResultRow {
    let record = match outcome {
        Ok(record) => record,
        Err(error) => {
            return ResultRow {
                task: task.id.clone(),
                strategy,
                ran: strategy,
                passed: false,
                note: error.clone(),
                run_id: None,
                error: Some(error.clone()),
                cost_usd: 0.0,
                counterfactual_usd: 0.0,
                latency_ms: 0.0,
                context_tokens: 0,
                smart_prompt_tokens: 0,
                tokens: BTreeMap::new(),
                counterfactual_tokens: Tokens::default(),
                patch: None,
                reused: false,
            };
        }
    };
    let grade = match &task.tree {
        Some(tree) => {
            task.grader.grade_patch(tree, record.patch.as_deref(), &record.result, scratch)
        }
        None => task.grader.grade(&record.result, scratch),
    };
    let mut tokens: BTreeMap<String, Tokens> = BTreeMap::new();
    for step in &record.steps {
        if let Some(model) = &step.model {
            let entry = tokens.entry(model.clone()).or_default();
            entry.prompt += step.prompt_tokens;
            entry.completion += step.completion_tokens;
        }
    }
    let smart_prompt_tokens = record
        .steps
        .iter()
        .filter(|s| s.model.as_deref() == Some(smart_model))
        .map(|s| s.prompt_tokens)
        .sum();
    ResultRow {
        task: task.id.clone(),
        strategy,
        ran: record.strategy,
        passed: grade.passed,
        note: grade.note,
        run_id: Some(record.id.clone()),
        error: None,
        cost_usd: record.cost.usd,
        counterfactual_usd: record.counterfactual.cost.usd,
        latency_ms: record.latency_ms,
        context_tokens: record.context_tokens,
        smart_prompt_tokens,
        tokens,
        counterfactual_tokens: Tokens {
            prompt: record.counterfactual.prompt_tokens,
            completion: record.counterfactual.completion_tokens,
        },
        patch: record.patch.clone(),
        reused: aimos_core::quality::reused(record),
    }
}
