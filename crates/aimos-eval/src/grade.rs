//! Grading an answer: exactly, by the words it holds, by a pattern, by running Python tests on
//! the code in it, or by a command.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How a task's answer is graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Grader {
    /// The answer, trimmed, is this text (ignoring case); or its last line is.
    Exact { answer: String },
    /// The answer holds each of these texts (ignoring case).
    Contains { all: Vec<String> },
    /// The answer matches this regular expression.
    Regex { pattern: String },
    /// The code in the answer (its first fenced block, else all of it), after `prefix`, passes
    /// `tests` in a Python subprocess; `entry_point`, when given, is passed to the tests'
    /// `check` function (HumanEval's convention). With `definitions_only`, only the code's
    /// top-level imports, definitions and assignments run: example calls, prints, asserts and
    /// `if __name__ == "__main__"` blocks an answer adds are dropped (as HumanEval's stop
    /// sequences cut them from a completion).
    Python {
        #[serde(default)]
        prefix: String,
        tests: String,
        #[serde(default)]
        entry_point: Option<String>,
        #[serde(default)]
        definitions_only: bool,
    },
    /// A shell command passes with exit status 0; the answer is on its stdin and in the file
    /// `$AIMOS_RESULT_FILE`.
    Command { command: String },
    /// The run's patch (edit mode) applies to a fresh copy of the task's `context_dir`, and
    /// then `tests` (the check the problem is about) and `full_tests` (the project's whole
    /// suite, which catches a fix that breaks something else) both pass there.
    Patch { tests: String, full_tests: String },
}

/// A grader's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub passed: bool,
    /// Why it failed (briefly), or nothing.
    pub note: String,
}

impl Grade {
    fn pass() -> Grade {
        Grade { passed: true, note: String::new() }
    }

    fn fail(note: impl Into<String>) -> Grade {
        Grade { passed: false, note: note.into() }
    }
}

/// Seconds a Python test or a command may run.
pub const GRADE_TIMEOUT: Duration = Duration::from_secs(20);

/// Most memory a Python test may use, in KiB.
const PYTHON_MEMORY_KIB: u64 = 1 << 20;

impl Grader {
    /// Whether the grader can work at all (a pattern that compiles, tests that are there).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Grader::Regex { pattern } => regex::Regex::new(pattern)
                .map(|_| ())
                .map_err(|e| format!("the grader's pattern is not valid: {e}")),
            Grader::Python { tests, .. } if tests.trim().is_empty() => {
                Err("a python grader needs tests".into())
            }
            Grader::Command { command } if command.trim().is_empty() => {
                Err("a command grader needs a command".into())
            }
            Grader::Patch { tests, full_tests }
                if tests.trim().is_empty() || full_tests.trim().is_empty() =>
            {
                Err("a patch grader needs both tests and full_tests commands".into())
            }
            Grader::Contains { all } if all.is_empty() => {
                Err("a contains grader needs at least one text".into())
            }
            _ => Ok(()),
        }
    }

    /// Grades `answer`, using `scratch` (an empty folder) for files.
    pub fn grade(&self, answer: &str, scratch: &Path) -> Grade {
        self.grade_within(answer, scratch, GRADE_TIMEOUT)
    }

    /// [`grade`](Grader::grade), with programs stopped after `timeout`.
    pub fn grade_within(&self, answer: &str, scratch: &Path, timeout: Duration) -> Grade {
        match self {
            Grader::Exact { answer: wanted } => {
                // Quotes, backticks and a closing full stop around either side do not count.
                let bare = |s: &str| {
                    s.trim().trim_matches(|c: char| "`'\".".contains(c)).trim().to_lowercase()
                };
                let got = answer.trim();
                let last = got.lines().last().unwrap_or_default();
                if bare(got) == bare(wanted) || bare(last) == bare(wanted) {
                    Grade::pass()
                } else {
                    Grade::fail(format!("expected `{}`", wanted.trim()))
                }
            }
            Grader::Contains { all } => {
                let got = answer.to_lowercase();
                match all.iter().find(|w| !got.contains(&w.to_lowercase())) {
                    None => Grade::pass(),
                    Some(missing) => Grade::fail(format!("missing `{missing}`")),
                }
            }
            Grader::Regex { pattern } => match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(answer) => Grade::pass(),
                Ok(_) => Grade::fail(format!("does not match `{pattern}`")),
                Err(e) => Grade::fail(format!("bad pattern: {e}")),
            },
            Grader::Python { prefix, tests, entry_point, definitions_only } => {
                let code = code_in(answer);
                let mut answer_code = prefix.clone();
                let defines = entry_point.as_deref().is_some_and(|name| {
                    code.contains(&format!("def {name}("))
                        || code.contains(&format!("def {name} ("))
                });
                // A whole function replaces the stub; a bare body continues the prefix.
                answer_code.push_str(if defines || prefix.is_empty() { "\n" } else { "" });
                answer_code.push_str(&code);
                let mut program =
                    if *definitions_only { definitions_of(&answer_code) } else { answer_code };
                program.push_str("\n\n");
                program.push_str(tests);
                if let Some(name) = entry_point {
                    program.push_str(&format!("\n\ncheck({name})\n"));
                }
                run_python(&program, scratch, timeout)
            }
            Grader::Command { command } => run_command(command, answer, scratch, timeout),
            Grader::Patch { .. } => {
                Grade::fail("a patch grader grades a run's patch: see Grader::grade_patch")
            }
        }
    }

    /// Grades a run's `patch` on a fresh copy of `tree` made in `scratch`: it must apply, and
    /// both commands must pass with the copy as their working folder. Other graders grade
    /// `answer`.
    pub fn grade_patch(
        &self,
        tree: &crate::Tree,
        patch: Option<&str>,
        answer: &str,
        scratch: &Path,
    ) -> Grade {
        let Grader::Patch { tests, full_tests } = self else {
            return self.grade(answer, scratch);
        };
        let Some(patch) = patch.filter(|p| !p.trim().is_empty()) else {
            return Grade::fail("no patch: the run changed no file");
        };
        let copy = scratch.join("tree");
        if let Err(why) = tree.materialize(&copy) {
            return Grade::fail(why);
        }
        if let Err(why) = git_apply(&copy, patch) {
            return Grade::fail(format!("the patch does not apply: {why}"));
        }
        for (what, command) in [("tests", tests), ("full_tests", full_tests)] {
            let mut run = Command::new("sh");
            run.args(["-c", command]).current_dir(&copy);
            let grade = supervise(run, None, scratch, PATCH_TIMEOUT);
            if !grade.passed {
                return Grade::fail(format!("{what} failed: {}", grade.note));
            }
        }
        Grade::pass()
    }
}

/// Seconds each command of a patch grader may run (a project's whole test suite).
pub const PATCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Applies `patch` in `dir` with `git apply`, as a plain patch tool: paths are relative to
/// `dir` even when it lies inside a git checkout (where `git apply` would otherwise read them
/// from the checkout's top and skip those outside `dir` without a word).
pub fn git_apply(dir: &Path, patch: &str) -> Result<(), String> {
    use std::io::Write;
    let ceiling = dir.parent().unwrap_or(dir);
    let mut child = Command::new("git")
        .args(["apply", "--whitespace=nowarn", "-"])
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run git: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(patch.as_bytes()).map_err(|e| format!("writing to git apply: {e}"))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("waiting for git apply: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// A program that runs only the top-level imports, definitions and assignments of `code`
/// (parsed by Python's `ast`, so a syntax error still fails the grade, with its line).
fn definitions_of(code: &str) -> String {
    let literal = serde_json::to_string(code).unwrap_or_default();
    format!(
        "import ast as _ast\n\
         _tree = _ast.parse({literal}, 'answer.py')\n\
         _kept = (_ast.Import, _ast.ImportFrom, _ast.FunctionDef, _ast.AsyncFunctionDef, \
         _ast.ClassDef, _ast.Assign, _ast.AnnAssign)\n\
         _tree.body = [_n for _n in _tree.body if isinstance(_n, _kept)]\n\
         exec(compile(_tree, 'answer.py', 'exec'))\n\
         del _ast, _tree, _kept\n"
    )
}

/// The code in an answer: its first fenced block (```python or plain), else the whole text.
pub fn code_in(answer: &str) -> String {
    let Some(start) = answer.find("```") else { return answer.to_owned() };
    let after = &answer[start + 3..];
    let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
    let body = &after[body_start..];
    match body.find("```") {
        Some(end) => body[..end].to_owned(),
        None => body.to_owned(),
    }
}

/// Whether `unshare -rn` can cut a child off the network here (user namespaces allowed).
fn can_isolate_network() -> bool {
    static ABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ABLE.get_or_init(|| {
        Command::new("unshare")
            .args(["-rn", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs `program` with `python3 -I` in `scratch`: CPU time, memory and wall time limited, no
/// network where the kernel allows a network namespace, no environment but `PATH`.
fn run_python(program: &str, scratch: &Path, timeout: Duration) -> Grade {
    let file = scratch.join("program.py");
    if let Err(e) = std::fs::write(&file, program) {
        return Grade::fail(format!("writing the program: {e}"));
    }
    let limits = format!(
        "ulimit -t {}; ulimit -v {PYTHON_MEMORY_KIB}; exec python3 -I -B program.py",
        timeout.as_secs().max(1)
    );
    let mut command = if can_isolate_network() {
        let mut c = Command::new("unshare");
        c.args(["-rn", "sh", "-c", &limits]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &limits]);
        c
    };
    command
        .current_dir(scratch)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    supervise(command, None, scratch, timeout)
}

fn run_command(command_line: &str, answer: &str, scratch: &Path, timeout: Duration) -> Grade {
    let file = scratch.join("result.txt");
    if let Err(e) = std::fs::write(&file, answer) {
        return Grade::fail(format!("writing the result: {e}"));
    }
    let mut command = Command::new("sh");
    command.args(["-c", command_line]).env("AIMOS_RESULT_FILE", &file);
    supervise(command, Some(answer), scratch, timeout)
}

/// Runs `command` to the end or the timeout; passes on exit status 0; the end of its output is
/// the note of a failure.
fn supervise(
    mut command: Command,
    stdin: Option<&str>,
    scratch: &Path,
    timeout: Duration,
) -> Grade {
    let output_path = scratch.join("output.txt");
    let Ok(output) = std::fs::File::create(&output_path) else {
        return Grade::fail("could not create the output file");
    };
    let Ok(errors) = output.try_clone() else { return Grade::fail("could not share the output") };
    command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(output)
        .stderr(errors);
    // A group of its own, so that a timeout stops everything the command started.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Grade::fail(format!("could not start the grader: {e}")),
    };
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        let _ = pipe.write_all(text.as_bytes());
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => {
                aimos_core::verify::kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Grade::fail(format!("waiting for the grader: {e}")),
        }
    };
    let mut printed = String::new();
    let _ = std::fs::File::open(&output_path).and_then(|mut f| f.read_to_string(&mut printed));
    let tail: String = {
        let lines: Vec<&str> = printed.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
    };
    match status {
        Some(s) if s.success() => Grade::pass(),
        Some(s) => Grade::fail(format!("{s}: {}", tail.chars().take(300).collect::<String>())),
        None => Grade::fail(format!("did not finish within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(grader: &Grader, answer: &str) -> Grade {
        let dir = tempfile::tempdir().expect("tempdir");
        grader.grade_within(answer, dir.path(), Duration::from_secs(3))
    }

    #[test]
    fn text_graders_pass_and_fail_as_they_say() {
        let exact = Grader::Exact { answer: "42".into() };
        assert!(grade(&exact, "The answer is:\n`42`").passed);
        assert!(!grade(&exact, "43").passed);
        let quoted = Grader::Exact { answer: "'utf-8'".into() };
        for answer in ["'utf-8'", "\"utf-8\"", "utf-8", "`'utf-8'`."] {
            assert!(grade(&quoted, answer).passed, "{answer}");
        }
        assert!(!grade(&quoted, "utf-16").passed);
        let contains = Grader::Contains { all: vec!["Foo".into(), "bar".into()] };
        assert!(grade(&contains, "foo and BAR").passed);
        assert_eq!(grade(&contains, "foo").note, "missing `bar`");
        let re = Grader::Regex { pattern: r"^\d+$".into() };
        assert!(grade(&re, "123").passed && !grade(&re, "12a").passed);
        assert!(Grader::Regex { pattern: "(".into() }.check().is_err());
    }

    #[test]
    fn python_tests_run_the_code_in_the_answer_with_limits() {
        let grader = Grader::Python {
            prefix: "def add(a, b):\n    \"\"\"Adds.\"\"\"\n".into(),
            tests: "def check(f):\n    assert f(2, 3) == 5\n".into(),
            entry_point: Some("add".into()),
            definitions_only: false,
        };
        assert!(grade(&grader, "```python\ndef add(a, b):\n    return a + b\n```").passed);
        // A bare body continues the stub.
        assert!(grade(&grader, "    return a + b\n").passed);
        let wrong = grade(&grader, "```python\ndef add(a, b):\n    return a - b\n```");
        assert!(!wrong.passed && wrong.note.contains("AssertionError"), "{wrong:?}");
        let forever = grade(&grader, "def add(a, b):\n    while True: pass\n");
        assert!(!forever.passed, "{forever:?}");
        if can_isolate_network() {
            let net = Grader::Python {
                prefix: String::new(),
                tests: "import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=2)\n"
                    .into(),
                entry_point: None,
                definitions_only: false,
            };
            assert!(!grade(&net, "").passed, "the tests reached the network");
        }
    }

    #[test]
    fn definitions_only_drops_the_example_calls_an_answer_adds() {
        let grader = |definitions_only| Grader::Python {
            prefix: "def add(a, b):\n    \"\"\"Adds.\"\"\"\n".into(),
            tests: "def check(f):\n    assert f(2, 3) == 5\n".into(),
            entry_point: Some("add".into()),
            definitions_only,
        };
        // A right function followed by a self-test with a wrong expectation, and a print.
        let answer = "```python\nimport math\nLIMIT = 10\ndef add(a, b):\n    return a + b\n\n\
                      assert add(1, 1) == 3\nprint(add(2, 2))\nif __name__ == '__main__':\n    \
                      raise SystemExit(1)\n```";
        let plain = grade(&grader(false), answer);
        assert!(!plain.passed && plain.note.contains("AssertionError"), "{plain:?}");
        assert!(grade(&grader(true), answer).passed);
        // The function itself is still what is judged, and a syntax error still fails.
        assert!(!grade(&grader(true), "def add(a, b):\n    return a - b\n").passed);
        let broken = grade(&grader(true), "def add(a, b) return a + b\n");
        assert!(!broken.passed && broken.note.contains("SyntaxError"), "{broken:?}");
    }

    #[test]
    fn a_command_sees_the_answer() {
        let grader = Grader::Command { command: "grep -q yes \"$AIMOS_RESULT_FILE\"".into() };
        assert!(grade(&grader, "yes").passed);
        assert!(!grade(&grader, "no").passed);
    }
}
