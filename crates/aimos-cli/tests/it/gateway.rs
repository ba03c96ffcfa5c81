//! `aimos serve` as a user runs it: the official OpenAI Python SDK and curl against the real
//! binary, keys made with `aimos keys`, and a graceful shutdown mid-answer.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TEST_MODEL, aimos, success, test_model_file};

struct Gateway {
    child: Child,
    base_url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `aimos serve` on a free port with the test model in both roles.
fn start(store: &Path) -> Gateway {
    test_model_file();
    let mut child = aimos()
        .args(["serve", "--bind", "127.0.0.1:0", "--ctx", "2048"])
        .args(["--smart", TEST_MODEL, "--cheap", TEST_MODEL])
        .arg("--store")
        .arg(store)
        .env_remove("AIMOS_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("aimos serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let base_url = loop {
        let line = lines.next().expect("aimos serve exited early").expect("stderr line");
        if let Some(rest) = line.strip_prefix("aimos gateway on ") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "aimos serve did not start");
    };
    // Keep draining stderr so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Gateway { child, base_url }
}

fn python() -> PathBuf {
    let venv = std::env::var_os("AIMOS_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/aimos/test-venv")
    });
    let python = venv.join("bin/python");
    assert!(python.exists(), "no test environment at {}: run scripts/test-env.sh", venv.display());
    python
}

fn key(store: &Path, name: &str, budget: &str) -> String {
    let out = success(
        aimos()
            .args(["keys", "create", "--name", name, "--budget-usd", budget])
            .arg("--store")
            .arg(store),
    );
    out.trim().to_owned()
}

#[test]
fn the_openai_python_sdk_and_curl_work_against_aimos_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("aimos.db");
    let rich = key(&store, "rich", "100");
    let poor = key(&store, "poor", "0");
    let listed = success(aimos().args(["keys", "list", "--json"]).arg("--store").arg(&store));
    assert!(
        !listed.contains(&rich) && listed.contains("\"poor\""),
        "only hashes are stored: {listed}"
    );
    let gateway = start(&store);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/openai_sdk.py");
    let output = Command::new(python())
        .arg(&script)
        .env("AIMOS_BASE_URL", &gateway.base_url)
        .env("AIMOS_KEY", &rich)
        .env("AIMOS_POOR_KEY", &poor)
        .env("AIMOS_MODEL", TEST_MODEL)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for check in [
        "plain",
        "streaming",
        "pipeline",
        "bad request",
        "bad key",
        "budget exhausted",
        "budget not retried",
        "models",
    ] {
        assert!(stdout.contains(&format!("ok {check}\n")), "{check} missing:\n{stdout}");
    }

    // curl, streaming.
    let output = Command::new("curl")
        .args(["-sS", "-N", "-H", "content-type: application/json"])
        .arg("-H")
        .arg(format!("authorization: Bearer {rich}"))
        .arg("-d")
        .arg(format!(r#"{{"model":"{TEST_MODEL}","stream":true,"max_tokens":4,"messages":[{{"role":"user","content":"hi"}}]}}"#))
        .arg(format!("{}/chat/completions", gateway.base_url))
        .output()
        .expect("curl runs");
    let body = String::from_utf8_lossy(&output.stdout);
    assert!(body.starts_with("data: {") && body.ends_with("data: [DONE]\n\n"), "{body}");

    // The rich key was charged for what it used.
    let listed = success(aimos().args(["keys", "list", "--json"]).arg("--store").arg(&store));
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let spent = keys.as_array().unwrap().iter().find(|k| k["name"] == "rich").unwrap()["spent_usd"]
        .as_f64()
        .unwrap();
    assert!(spent > 0.0, "{listed}");
}

#[test]
fn a_graceful_shutdown_finishes_the_answer_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateway = start(&dir.path().join("aimos.db"));
    let url = format!("{}/chat/completions", gateway.base_url);
    let curl = std::thread::spawn(move || {
        Command::new("curl")
            .args(["-sS", "-N", "-H", "content-type: application/json", "-d"])
            .arg(format!(r#"{{"model":"{TEST_MODEL}","stream":true,"max_tokens":160,"temperature":0,"messages":[{{"role":"user","content":"Write a long story about a dragon."}}]}}"#))
            .arg(url)
            .output()
            .expect("curl runs")
    });
    std::thread::sleep(Duration::from_millis(400));
    let pid = gateway.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let signalled = Instant::now();
    let output = curl.join().expect("curl thread");
    let body = String::from_utf8_lossy(&output.stdout);
    assert!(body.ends_with("data: [DONE]\n\n"), "the answer in flight was cut: {body}");
    // 160 tokens take seconds: the answer went on well after the signal, to its end.
    assert!(body.contains("\"finish_reason\":\"length\""), "{body}");
    assert!(signalled.elapsed() > Duration::from_millis(500), "{:?}", signalled.elapsed());
    let status = gateway.child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
}
