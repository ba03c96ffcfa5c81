//! Verifiers: whether a result does what the task asked, decided without the user — a command
//! (the project's tests, say) or a pattern. The pipeline records each verdict as a step, feeds
//! it to the insight that guided the result, and `cascade` escalates on a failure.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::BoxFuture;

/// Most characters of a failure's output kept as evidence (its end, where errors are).
const EVIDENCE_CHARS: usize = 2000;

/// What a verifier found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    /// Why it failed (the end of a command's output, the pattern that did not match); what a
    /// passing check printed, briefly.
    pub evidence: String,
}

/// A verifier that could not run at all (not a failed check).
#[derive(Debug, thiserror::Error)]
#[error("the verifier `{verifier}` could not run: {message}")]
pub struct VerifyError {
    pub verifier: String,
    pub message: String,
}

/// Checks a result.
pub trait Verifier: Send + Sync {
    /// A short description for the ledger (`command: cargo test`).
    fn describe(&self) -> String;

    /// Checks `result`, the answer to `problem`.
    fn verify<'a>(
        &'a self,
        problem: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>>;
}

/// Runs a shell command; it passes when the command exits with status 0 within the timeout.
/// The result reaches it on stdin and as a file named by `AIMOS_RESULT_FILE`; the problem as
/// `AIMOS_PROBLEM_FILE`.
#[derive(Debug, Clone)]
pub struct CommandVerifier {
    pub command: String,
    pub timeout: Duration,
    /// Where the command runs (the current folder when `None`).
    pub dir: Option<PathBuf>,
}

impl Verifier for CommandVerifier {
    fn describe(&self) -> String {
        format!("command: {}", self.command)
    }

    fn verify<'a>(
        &'a self,
        problem: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        let this = self.clone();
        let (problem, result) = (problem.to_owned(), result.to_owned());
        Box::pin(crate::pipeline::on_thread(move || this.run(&problem, &result)))
    }
}

impl CommandVerifier {
    fn run(&self, problem: &str, result: &str) -> Result<Verdict, VerifyError> {
        let fail = |message: String| VerifyError { verifier: self.describe(), message };
        let scratch = std::env::temp_dir().join(format!("aimos-verify-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&scratch).map_err(|e| fail(format!("a scratch folder: {e}")))?;
        let _cleanup = RemoveOnDrop(scratch.clone());
        let (result_file, problem_file) = (scratch.join("result.txt"), scratch.join("problem.txt"));
        std::fs::write(&result_file, result).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&problem_file, problem).map_err(|e| fail(e.to_string()))?;
        let output_file = scratch.join("output.txt");
        let output = std::fs::File::create(&output_file).map_err(|e| fail(e.to_string()))?;
        let errors = output.try_clone().map_err(|e| fail(e.to_string()))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env("AIMOS_RESULT_FILE", &result_file)
            .env("AIMOS_PROBLEM_FILE", &problem_file)
            .stdin(Stdio::piped())
            .stdout(output)
            .stderr(errors);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| fail(format!("starting sh: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input closes the pipe early: not a failure.
            let _ = stdin.write_all(result.as_bytes());
        }
        let started = Instant::now();
        let status = loop {
            match child.try_wait().map_err(|e| fail(e.to_string()))? {
                Some(status) => break Some(status),
                None if started.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let mut printed = String::new();
        let _ = std::fs::File::open(&output_file).and_then(|mut f| f.read_to_string(&mut printed));
        let tail = tail(&printed, EVIDENCE_CHARS);
        Ok(match status {
            Some(status) if status.success() => Verdict { passed: true, evidence: tail },
            Some(status) => Verdict {
                passed: false,
                evidence: format!("`{}` failed ({status}):\n{tail}", self.command),
            },
            None => Verdict {
                passed: false,
                evidence: format!(
                    "`{}` did not finish within {} s and was stopped:\n{tail}",
                    self.command,
                    self.timeout.as_secs()
                ),
            },
        })
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Passes when the result matches a regular expression.
#[derive(Debug, Clone)]
pub struct RegexVerifier {
    pub pattern: regex::Regex,
}

impl Verifier for RegexVerifier {
    fn describe(&self) -> String {
        format!("regex: {}", self.pattern.as_str())
    }

    fn verify<'a>(
        &'a self,
        _: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        let passed = self.pattern.is_match(result);
        let evidence = if passed {
            String::new()
        } else {
            format!("the result does not match the pattern `{}`", self.pattern.as_str())
        };
        Box::pin(std::future::ready(Ok(Verdict { passed, evidence })))
    }
}

/// The last `max` characters of `text`, on a character boundary.
fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let skip = count - max;
    format!("[…]{}", text.chars().skip(skip).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;

    fn command(text: &str, timeout: u64) -> CommandVerifier {
        CommandVerifier { command: text.into(), timeout: Duration::from_secs(timeout), dir: None }
    }

    #[test]
    fn a_command_sees_the_result_and_its_exit_status_decides() {
        let verdict =
            block_on(command("grep -q 'answer is 42'", 10).verify("q", "the answer is 42"))
                .expect("runs");
        assert!(verdict.passed, "{verdict:?}");
        let check =
            "test \"$(cat \"$AIMOS_RESULT_FILE\")\" = yes || { echo expected yes >&2; exit 3; }";
        let verdict = block_on(command(check, 10).verify("q", "no")).expect("runs");
        assert!(!verdict.passed);
        assert!(verdict.evidence.contains("expected yes"), "{verdict:?}");
        assert!(verdict.evidence.contains("exit status: 3"), "{verdict:?}");
    }

    #[test]
    fn a_command_that_runs_too_long_is_stopped_and_fails() {
        let started = Instant::now();
        let verdict =
            block_on(command("echo started; sleep 30", 1).verify("q", "r")).expect("runs");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(!verdict.passed);
        assert!(verdict.evidence.contains("did not finish within 1 s"), "{verdict:?}");
        assert!(verdict.evidence.contains("started"), "{verdict:?}");
    }

    #[test]
    fn a_pattern_passes_or_says_what_it_wanted() {
        let verifier = RegexVerifier { pattern: regex::Regex::new(r"fn \w+\(").expect("valid") };
        assert!(block_on(verifier.verify("q", "pub fn peek(&self)")).expect("ok").passed);
        let verdict = block_on(verifier.verify("q", "no code")).expect("ok");
        assert!(!verdict.passed && verdict.evidence.contains(r"fn \w+\("), "{verdict:?}");
        assert_eq!(tail("abcdef", 3), "[…]def");
    }
}
