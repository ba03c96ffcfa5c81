//! `aimos fix` end to end: real processes, real git checkouts, real test commands.
//!
//! Two kinds of model answer them. The real smollm2-135m, which rarely writes a usable edit,
//! shows what holds whatever a model writes: the user's tree stays byte for byte as it was,
//! and nothing fails to apply silently. A test double of an OpenAI-compatible server, which
//! answers with edits written here, shows the logic above the model: the check runs in the
//! changed copy, and `--apply` writes exactly the patch that passed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TEST_MODEL, aimos, failure, run, test_model_file};

const CALC: &str = "def add(a, b):\n    return a - b\n";

/// A git checkout with one committed Python file and a test for it.
fn repository(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("calc.py"), CALC).expect("write");
    std::fs::write(
        dir.join("test_calc.py"),
        "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
    )
    .expect("write");
    std::fs::write(dir.join(".gitignore"), "__pycache__/\n").expect("write");
    git(dir, &["init", "--quiet"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "start"]);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file under `dir` (outside `.git`) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// A test double of an OpenAI-compatible server: answers each chat request with the next of
/// `answers` (streamed or whole, as the request asks), and keeps the requests' bodies.
fn scripted_upstream(answers: &[&str]) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answers: Vec<String> = answers.iter().map(|a| (*a).to_owned()).collect();
    let requests = Arc::clone(&seen);
    std::thread::spawn(move || {
        for answer in answers {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let streamed = body.contains(r#""stream":true"#);
            requests.lock().expect("lock").push(body);
            let usage = serde_json::json!({"prompt_tokens": 120, "completion_tokens": 30});
            let out = if streamed {
                let delta = serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]});
                let usage = serde_json::json!({"choices": [], "usage": usage});
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
                     data: {delta}\n\ndata: {usage}\n\ndata: [DONE]\n\n"
                )
            } else {
                let whole = serde_json::json!({"id": "scripted", "object": "chat.completion", "model": "scripted", "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}], "usage": usage}).to_string();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{whole}",
                    whole.len()
                )
            };
            let mut stream = stream;
            let _ = stream.write_all(out.as_bytes());
        }
    });
    (url, seen)
}

/// The edit block that fixes `calc.py`.
const FIX: &str =
    "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n";

/// `aimos fix` in `dir` with the scripted upstream as both models.
fn scripted_fix(dir: &Path, store: &Path, url: &str) -> Command {
    let mut command = aimos();
    command
        .current_dir(dir)
        .args(["fix", "--smart", "openai:scripted", "--cheap", "openai:scripted"])
        .args(["--strategy", "cheap", "--context", "."])
        .arg("--store")
        .arg(store)
        .env("OPENAI_BASE_URL", url)
        .env_remove("OPENAI_API_KEY")
        .env_remove("AIMOS_CONFIG");
    command
}

#[test]
fn the_check_runs_in_the_changed_copy_and_apply_writes_the_patch_that_passed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    repository(&repo);
    let marker = dir.path().join("where.txt");
    let (url, requests) = scripted_upstream(&["calc.py adds wrongly.", FIX]);
    let check = format!("pwd > {marker}; python3 -m unittest -q 2>&1", marker = marker.display());
    let (output, stdout, stderr) = run(scripted_fix(&repo, &dir.path().join("a.db"), &url)
        .args(["--test", &check, "--apply"])
        .arg("add(2, 3) returns -1; it should return 5"));
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    // The first answer held no edit, so the check ran once, on the second answer's patch.
    let ran_in = std::fs::read_to_string(&marker).expect("the check ran");
    assert_ne!(Path::new(ran_in.trim()), repo, "the check ran in a scratch copy, not the tree");
    assert!(stdout.contains("-    return a - b\n+    return a + b"), "{stdout}");
    assert!(stdout.contains("check: passed"), "{stdout}");
    assert!(stdout.contains("failed: no edit applied: the answer held no search/replace block"));
    assert!(stderr.contains("applied to") && stderr.contains("calc.py"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(repo.join("calc.py")).expect("read"),
        CALC.replace('-', "+")
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "M calc.py");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1, "no worktree left behind");
    // The retry told the model what went wrong.
    let second = &requests.lock().expect("lock")[1];
    assert!(second.contains("Your previous answer:"), "{second}");

    // Now the tree has an uncommitted change: --apply refuses and writes nothing.
    let before = snapshot(&repo);
    let swap =
        "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return b + a\n>>>>>>> REPLACE\n";
    let (url, _) = scripted_upstream(&[swap]);
    let stderr = failure(
        scripted_fix(&repo, &dir.path().join("a.db"), &url)
            .args(["--apply", "--json"])
            .arg("make add add"),
    );
    assert!(stderr.contains("uncommitted changes (calc.py)"), "{stderr}");
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_folder_outside_git_is_copied_and_a_hanging_check_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("plain");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("calc.py"), CALC).expect("write");
    let before = snapshot(&folder);
    let (url, _) = scripted_upstream(&[FIX]);
    let started = Instant::now();
    let (output, stdout, stderr) = run(scripted_fix(&folder, &dir.path().join("a.db"), &url)
        .args(["--test", "sleep 60", "--verify-timeout", "2", "--attempts", "1", "--json"])
        .arg("add is wrong"));
    assert!(started.elapsed() < Duration::from_secs(40), "{:?}", started.elapsed());
    assert_eq!(output.status.code(), Some(3), "stdout: {stdout}\nstderr: {stderr}");
    let record: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(record["files_changed"], serde_json::json!(["calc.py"]));
    assert_eq!(record["verified"], false);
    // The check runs once before any edit (and hangs then too), and once on the edit.
    let first = record["steps"][0]["note"].as_str().unwrap_or_default();
    assert!(first.starts_with("before any edit: failed command: sleep 60"), "{first}");
    let note = record["steps"][2]["note"].as_str().unwrap_or_default();
    assert!(note.contains("did not finish within 2 s"), "{note}");
    assert!(
        stderr.contains("failed its check (see the verify steps above); it was not applied"),
        "{stderr}"
    );
    assert_eq!(snapshot(&folder), before, "the user's folder is untouched");
}

#[test]
fn the_real_model_never_touches_the_tree_and_a_failed_patch_is_not_applied() {
    test_model_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    repository(&repo);
    let before = snapshot(&repo);
    let (output, stdout, stderr) = run(aimos()
        .current_dir(&repo)
        .args(["fix", "--smart", TEST_MODEL, "--cheap", TEST_MODEL, "--strategy", "cheap"])
        .args(["--ctx", "2048", "--max-tokens", "64", "--attempts", "2", "--context", "."])
        .args(["--test", "python3 -m unittest -q", "--apply", "--json"])
        .arg("--store")
        .arg(dir.path().join("a.db"))
        .arg("test_add fails: add(2, 3) returns -1, expected 5"));
    assert_eq!(output.status.code(), Some(3), "stdout: {stdout}\nstderr: {stderr}");
    let record: Value = serde_json::from_str(&stdout).expect("JSON");
    let kinds: Vec<&str> = record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    // The check before any edit, then one per attempt.
    assert_eq!(kinds.iter().filter(|k| **k == "verify").count(), 3, "{kinds:?}");
    assert_eq!(kinds[0], "verify", "{kinds:?}");
    assert_eq!(record["verified"], false);
    assert!(stderr.contains("was not applied") || stderr.contains("nothing to apply"), "{stderr}");
    assert_eq!(snapshot(&repo), before, "the user's tree is byte-identical");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1, "no worktree left behind");
}

#[test]
fn edit_mode_refuses_what_it_cannot_do_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr = failure(aimos().current_dir(dir.path()).args(["fix", "fix the bug"]));
    assert!(stderr.contains("--context PATH"), "{stderr}");
    let stderr = failure(aimos().current_dir(dir.path()).args(["run", "--apply", "x", "-c", "."]));
    assert!(stderr.contains("use `aimos fix`"), "{stderr}");
    let stderr =
        failure(aimos().current_dir(dir.path()).args(["fix", "x", "--context", "missing-folder"]));
    assert!(stderr.contains("missing-folder") && stderr.contains("does not exist"), "{stderr}");
}
