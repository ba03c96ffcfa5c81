//! The `aimos` binary as a user runs it: real processes, real model files, real exit codes.

#![allow(clippy::panic, clippy::unwrap_used)]

mod chat;
mod dashboard;
mod distill;
mod eval;
mod fix;
mod gateway;
mod mcp;
mod models;
mod remote;
mod run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const TEST_MODEL: &str = "smollm2-135m";

/// A command for the `aimos` binary built with these tests. It uses no embedding model unless a
/// test names one (`AIMOS_EMBEDDING`), whatever the user's models folder holds.
pub fn aimos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aimos"));
    command
        .stdin(Stdio::null())
        .env_remove("AIMOS_MODEL")
        .env_remove("AIMOS_LOG")
        .env("AIMOS_EMBEDDING", "off");
    command
}

/// Runs `command` and returns its output, with stdout and stderr as text.
pub fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("aimos runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Runs `command`, failing the test with its stderr unless it succeeds; returns stdout.
pub fn success(command: &mut Command) -> String {
    let (output, stdout, stderr) = run(command);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    stdout
}

/// Runs `command`, failing the test unless it exits with status 1 and no panic; returns stderr.
pub fn failure(command: &mut Command) -> String {
    let (output, stdout, stderr) = run(command);
    assert_eq!(output.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The test model's file in the user's models folder, pulled once if needed.
pub fn test_model_file() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        success(aimos().args(["models", "pull", TEST_MODEL]));
        let path = success(aimos().args(["models", "path", TEST_MODEL]));
        PathBuf::from(path.trim())
    })
}

/// The embedding model in the user's models folder, pulled once if needed; returns its name.
pub fn embedding_model() -> &'static str {
    static PULLED: OnceLock<()> = OnceLock::new();
    PULLED.get_or_init(|| {
        success(aimos().args(["models", "pull", "minilm-l6"]));
    });
    "minilm-l6"
}

/// The Python of the test environment `scripts/test-env.sh` prepares.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("AIMOS_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/aimos/test-venv")
    });
    let python = venv.join("bin/python");
    assert!(python.exists(), "no test environment at {}: run scripts/test-env.sh", venv.display());
    python
}

/// Runs `tests/sdk/SCRIPT` with the test environment's Python and `envs`; fails the test unless
/// it succeeds and printed `ok CHECK` for each of `checks`. Returns its stdout.
pub fn sdk_script(script: &str, envs: &[(&str, &std::ffi::OsStr)], checks: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(script);
    let output = Command::new(python())
        .arg(&path)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    for check in checks {
        assert!(stdout.contains(&format!("ok {check}\n")), "{script}: {check} missing:\n{stdout}");
    }
    stdout
}

/// A fresh, empty AIMOS_HOME.
pub fn empty_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A fresh AIMOS_HOME that holds a copy of the test model (without its verification stamp).
pub fn home_with_test_model() -> tempfile::TempDir {
    let home = empty_home();
    let source = test_model_file();
    let models = home.path().join("models");
    std::fs::create_dir_all(&models).expect("models folder");
    std::fs::copy(source, models.join(source.file_name().expect("file name"))).expect("copy model");
    home
}
