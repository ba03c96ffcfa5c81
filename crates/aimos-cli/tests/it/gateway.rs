//! `aimos serve` as a user runs it: the official OpenAI Python SDK and curl against the real
//! binary, keys made with `aimos keys`, and a graceful shutdown mid-answer.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TEST_MODEL, aimos, success, test_model_file};

pub struct Gateway {
    child: Child,
    pub base_url: String,
    /// Everything the server wrote to stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `aimos serve` on a free port with the test model in both roles.
pub fn start(store: &Path) -> Gateway {
    start_with_window(store, 2048)
}

fn start_with_window(store: &Path, ctx: u32) -> Gateway {
    spawn(store, |command| {
        command.args(["--ctx", &ctx.to_string()]);
    })
}

/// Starts `aimos serve` on a free port with the test model in both roles and `more` arguments
/// or environment.
pub fn spawn(store: &Path, more: impl FnOnce(&mut Command)) -> Gateway {
    test_model_file();
    let mut command = aimos();
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--smart", TEST_MODEL, "--cheap", TEST_MODEL])
        .arg("--store")
        .arg(store)
        .env_remove("AIMOS_CONFIG")
        .stderr(Stdio::piped());
    more(&mut command);
    let mut child = command.spawn().expect("aimos serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let base_url = loop {
        let line = lines.next().expect("aimos serve exited early").expect("stderr line");
        log.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.strip_prefix("aimos gateway on ") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "aimos serve did not start");
    };
    // Keep draining stderr so that the server never blocks on a full pipe.
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            kept.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Gateway { child, base_url, log }
}

pub fn key(store: &Path, name: &str, budget: &str) -> String {
    let out = success(
        aimos()
            .args(["keys", "create", "--name", name, "--budget-usd", budget])
            .arg("--store")
            .arg(store),
    );
    out.trim().to_owned()
}

#[test]
fn the_anthropic_python_sdk_works_against_aimos_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("aimos.db");
    let rich = key(&store, "rich", "100");
    let poor = key(&store, "poor", "0");
    let gateway = start(&store);
    crate::sdk_script(
        "anthropic_sdk.py",
        &[
            ("AIMOS_BASE_URL", std::ffi::OsStr::new(gateway.base_url.trim_end_matches("/v1"))),
            ("AIMOS_KEY", std::ffi::OsStr::new(&rich)),
            ("AIMOS_POOR_KEY", std::ffi::OsStr::new(&poor)),
            ("AIMOS_MODEL", std::ffi::OsStr::new(TEST_MODEL)),
        ],
        &[
            "plain",
            "stop reason",
            "streaming",
            "streaming usage",
            "content blocks",
            "pipeline",
            "pipeline streamed",
            "bad request",
            "unknown model",
            "bad key",
            "budget exhausted",
            "budget not retried",
        ],
    );
    // curl with Anthropic's headers: the named events in order.
    let output = Command::new("curl")
        .args(["-sS", "-N", "-H", "content-type: application/json", "-H", "anthropic-version: 2023-06-01"])
        .arg("-H")
        .arg(format!("x-api-key: {rich}"))
        .arg("-d")
        .arg(format!(r#"{{"model":"{TEST_MODEL}","stream":true,"max_tokens":4,"messages":[{{"role":"user","content":"hi"}}]}}"#))
        .arg(format!("{}/messages", gateway.base_url))
        .output()
        .expect("curl runs");
    let body = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{body}");
    assert_eq!(names[1], "content_block_start", "{body}");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{body}"
    );
    assert!(names[2..names.len() - 3].iter().all(|n| *n == "content_block_delta"), "{body}");
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

    crate::sdk_script(
        "openai_sdk.py",
        &[
            ("AIMOS_BASE_URL", std::ffi::OsStr::new(&gateway.base_url)),
            ("AIMOS_KEY", std::ffi::OsStr::new(&rich)),
            ("AIMOS_POOR_KEY", std::ffi::OsStr::new(&poor)),
            ("AIMOS_MODEL", std::ffi::OsStr::new(TEST_MODEL)),
        ],
        &[
            "plain",
            "streaming",
            "pipeline",
            "bad request",
            "bad key",
            "budget exhausted",
            "budget not retried",
            "user and metadata",
            "models",
        ],
    );

    // Pass-through requests are runs in the ledger, under their key, user and tags.
    let spend = |by: &str| -> serde_json::Value {
        let out = success(aimos().args(["stats", "--by", by, "--json"]).arg("--store").arg(&store));
        serde_json::from_str(&out).expect("json")
    };
    let named = |groups: &serde_json::Value, name: &str| -> serde_json::Value {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no group `{name}` in {groups}"))
    };
    let rich_spend = named(&spend("key"), "rich");
    assert!(rich_spend["runs"].as_u64().unwrap() >= 4, "{rich_spend}");
    assert!(rich_spend["cost_usd"].as_f64().unwrap() > 0.0, "{rich_spend}");
    assert_eq!(named(&spend("user"), "alice")["runs"], 1);
    let tags = spend("tag");
    assert_eq!(named(&tags, "team=search")["runs"], 1);
    assert_eq!(named(&tags, "ticket=T-7")["runs"], 1);
    let runs = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store));
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    let direct = runs.as_array().unwrap().iter().filter(|r| r["strategy"] == "direct").count();
    assert!(direct >= 3, "pass-through runs are recorded: {runs}");
    let table = success(aimos().args(["stats", "--by", "user"]).arg("--store").arg(&store));
    assert!(table.contains("alice") && table.contains("(no user)"), "{table}");

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

/// `aimos run` consulting a remote smart model (the embedded model behind a real
/// OpenAI-compatible server: `aimos serve`) redacts the secret in the brief and reports what
/// part of the context left the machine, in the table, the ledger and `aimos stats`.
#[test]
fn a_run_with_a_remote_smart_model_reports_its_exposure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_store = dir.path().join("gateway.db");
    let secret = key(&gateway_store, "runner", "100");
    let gateway = start_with_window(&gateway_store, 4096);
    let project = dir.path().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("settings.py"),
        "AWS_ACCESS_KEY_ID = \"AKIAZ7QJ4NFW2KXR5TBM\"\nREGION = \"eu-west-1\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("upload.py"),
        "import settings\n\ndef upload(path):\n    return connect(settings.AWS_ACCESS_KEY_ID, settings.REGION).put(path)\n",
    )
    .unwrap();
    let filler: String =
        (0..60).map(|i| format!("def unrelated_{i}():\n    return {i}\n\n")).collect();
    std::fs::write(project.join("misc.py"), filler).unwrap();
    let store = dir.path().join("aimos.db");
    let out = success(
        aimos()
            .args(["run", "--smart", "openai:smollm2-135m", "--cheap", TEST_MODEL])
            .args(["--ctx", "2048", "--max-tokens", "48", "--budget", "300", "--context", "shop"])
            .arg("--store")
            .arg(&store)
            .arg("upload() fails: is the AWS access key id in settings used with the right region?")
            .current_dir(dir.path())
            .env("OPENAI_BASE_URL", &gateway.base_url)
            .env("OPENAI_API_KEY", &secret)
            .env_remove("AIMOS_CONFIG"),
    );
    assert!(out.contains("exposure: sent "), "{out}");
    assert!(out.contains("context tokens (") && out.contains("to openai in 1 step"), "{out}");
    assert!(out.contains("1 secret redacted"), "{out}");

    let runs = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store));
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    let run = &runs[0];
    let consult = run["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "consult").unwrap();
    assert_eq!(consult["external"], true, "{run}");
    assert_eq!(consult["redactions"], 1, "{run}");
    let sent = consult["context_tokens"].as_u64().unwrap();
    let whole = run["context_tokens"].as_u64().unwrap();
    assert!(sent > 0 && sent < whole, "sent {sent} of {whole}: {run}");
    let execute = run["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "execute").unwrap();
    assert_eq!(execute["external"], false, "{run}");

    let stats = success(aimos().args(["stats", "--json"]).arg("--store").arg(&store));
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["exposure"][0]["model"], "openai:smollm2-135m", "{stats}");
    assert_eq!(stats["exposure"][0]["context_tokens_sent"].as_u64(), Some(sent));
    let table = success(aimos().args(["stats"]).arg("--store").arg(&store));
    assert!(table.contains("to openai in 1 step; 1 secret redacted"), "{table}");
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

/// `curl` with a JSON body; returns the HTTP status and the body.
fn curl_json(url: &str, key: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "-w", "\n%{http_code}", "-H", "content-type: application/json"]);
    if let Some(key) = key {
        command.arg("-H").arg(format!("authorization: Bearer {key}"));
    }
    if let Some(body) = body {
        command.arg("-d").arg(body);
    }
    let output = command.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.trim().parse().expect("status"), body.to_owned())
}

/// A schema of its own in the machine's PostgreSQL, dropped at the end.
struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    fn new() -> PgSchema {
        let base = std::env::var("AIMOS_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name =
            format!("aimos_cli_{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|err| {
            panic!("PostgreSQL at {base} is needed (see docs/services.md): {err}")
        });
        client.batch_execute(&format!("CREATE SCHEMA {name}")).expect("schema");
        PgSchema { url: format!("{base}?options=-c%20search_path%3D{name}"), name }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = self.url.split('?').next().unwrap_or_default().to_owned();
        if let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

#[test]
fn two_gateways_on_one_postgres_share_one_rate_limit() {
    let db = PgSchema::new();
    let store = Path::new(&db.url);
    let limited = success(
        aimos()
            .args(["keys", "create", "--name", "limited", "--budget-usd", "100", "--rpm", "3"])
            .arg("--store")
            .arg(store),
    )
    .trim()
    .to_owned();
    let a = start(store);
    let b = start(store);
    let ask = format!(
        r#"{{"model":"{TEST_MODEL}","max_tokens":1,"messages":[{{"role":"user","content":"Hi"}}]}}"#
    );
    let send = |gateway: &Gateway| {
        curl_json(&format!("{}/chat/completions", gateway.base_url), Some(&limited), Some(&ask))
    };
    // Three requests a minute for the key, whichever replica takes them.
    for gateway in [&a, &b, &a] {
        let (status, body) = send(gateway);
        assert_eq!(status, 200, "{body}");
    }
    for gateway in [&b, &a] {
        let (status, body) = send(gateway);
        assert_eq!(status, 429, "the shared limit holds on every replica: {body}");
        assert!(body.contains("limited to 3 requests a minute"), "{body}");
    }
}

#[test]
fn two_gateways_on_one_postgres_share_insights_feedback_and_a_budget() {
    let db = PgSchema::new();
    let store = Path::new(&db.url);
    let team = key(store, "team", "100");
    let a = start(store);
    let b = start(store);

    // The same cold problem on both replicas at once: one pays for the consultation, the other
    // waits for its insight.
    let consult = r#"{"model":"aimos/consult","max_tokens":60,"messages":[{"role":"system","content":"You help with Python code."},{"role":"user","content":"def add(a, b): return a - b\n\nWhy does add(2, 3) return -1? Fix it."}]}"#;
    let both: Vec<_> = [&a.base_url, &b.base_url]
        .into_iter()
        .map(|base| {
            let (url, team) = (format!("{base}/chat/completions"), team.clone());
            std::thread::spawn(move || curl_json(&url, Some(&team), Some(consult)))
        })
        .collect();
    let answers: Vec<serde_json::Value> = both
        .into_iter()
        .map(|t| {
            let (status, body) = t.join().unwrap();
            assert_eq!(status, 200, "{body}");
            serde_json::from_str(&body).unwrap()
        })
        .collect();
    let kinds = |answer: &serde_json::Value| -> Vec<String> {
        let steps = answer["aimos"]["steps"].as_array().unwrap();
        steps.iter().map(|s| s["kind"].as_str().unwrap().to_owned()).collect()
    };
    let mut seen: Vec<Vec<String>> = answers.iter().map(kinds).collect();
    seen.sort();
    assert_eq!(
        seen,
        [["distill", "consult", "execute"], ["distill", "recall", "execute"]],
        "one consultation for both"
    );
    assert_eq!(answers[0]["aimos"]["insight_id"], answers[1]["aimos"]["insight_id"]);

    // An insight stored through one replica is served by the other.
    let answer = &answers[0];
    let insight = answer["aimos"]["insight_id"].as_str().unwrap().to_owned();
    let run = answer["aimos"]["run_id"].as_str().unwrap().to_owned();
    let (status, body) =
        curl_json(&format!("{}/insights/{insight}", b.base_url), Some(&team), None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = curl_json(&format!("{}/runs/{run}", b.base_url), Some(&team), None);
    assert_eq!(status, 200);

    // Feedback through both counts on the one insight.
    let feedback = |gateway: &Gateway, passed: bool| {
        curl_json(
            &format!("{}/insights/{insight}/feedback", gateway.base_url),
            Some(&team),
            Some(&format!(r#"{{"passed":{passed}}}"#)),
        )
    };
    assert_eq!(feedback(&a, true).0, 200);
    let (status, body) = feedback(&b, false);
    assert_eq!(status, 200, "{body}");
    let updated: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((updated["succeeded"].as_u64(), updated["failed"].as_u64()), (Some(1), Some(1)));

    // A budget spent through both replicas under concurrent load holds within what was in flight.
    let ask = format!(
        r#"{{"model":"{TEST_MODEL}","max_tokens":4,"temperature":0,"messages":[{{"role":"user","content":"Name a colour."}}]}}"#
    );
    let (status, body) =
        curl_json(&format!("{}/chat/completions", a.base_url), Some(&team), Some(&ask));
    assert_eq!(status, 200, "{body}");
    let usage = &serde_json::from_str::<serde_json::Value>(&body).unwrap()["usage"];
    let price = aimos_local::catalog::find(TEST_MODEL).unwrap().price;
    let one = price.cost(&aimos_core::Usage {
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap(),
        completion_tokens: usage["completion_tokens"].as_u64().unwrap(),
        ..aimos_core::Usage::default()
    });
    let budget = one.usd * 5.5;
    let small = key(store, "small", &format!("{budget:.12}"));
    let mut ok = 0;
    for _ in 0..3 {
        let calls: Vec<_> = (0..6)
            .map(|i| {
                let url = format!(
                    "{}/chat/completions",
                    if i % 2 == 0 { &a.base_url } else { &b.base_url }
                );
                let (small, ask) = (small.clone(), ask.clone());
                std::thread::spawn(move || curl_json(&url, Some(&small), Some(&ask)).0)
            })
            .collect();
        ok += calls.into_iter().map(|c| c.join().unwrap()).filter(|s| *s == 200).count();
    }
    assert_eq!(ok, 6, "one wave of six fits under the budget; after it, nothing more");
    let listed = success(aimos().args(["keys", "list", "--json"]).arg("--store").arg(store));
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let spent =
        keys.as_array().unwrap().iter().find(|k| k["name"] == "small").unwrap()["spent_usd"]
            .as_f64()
            .unwrap();
    assert!(spent > budget && spent <= budget + 6.0 * one.usd + 1e-12, "spent {spent} of {budget}");
}

/// A gateway killed with -9 while its ledger cannot write (another process holds the store's
/// write lock) loses none of the runs it answered: they are in its spool, and the next
/// `aimos serve` on the store writes them. By default an answer waits for its run's write to
/// the spool file; with --sync-spool, for its sync to the disk as well.
#[test]
fn runs_answered_before_a_kill_9_reach_the_ledger() {
    kill_9_loses_no_answered_run(&[]);
}

#[test]
fn runs_answered_before_a_kill_9_reach_the_ledger_with_a_synced_spool() {
    kill_9_loses_no_answered_run(&["--sync-spool"]);
}

fn kill_9_loses_no_answered_run(serve_args: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("aimos.db");
    success(aimos().args(["stats"]).arg("--store").arg(&store));
    let mut gateway = spawn(&store, |command| {
        command.args(["--ctx", "2048"]).args(serve_args);
    });
    let mut blocker = rusqlite::Connection::open(&store).expect("opens the store");
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("takes the write lock");
    let body = format!(
        r#"{{"model":"{TEST_MODEL}","max_tokens":2,"temperature":0,"messages":[{{"role":"user","content":"Hi"}}]}}"#
    );
    let url = format!("{}/chat/completions", gateway.base_url);
    for _ in 0..5 {
        let (status, answer) = curl_json(&url, None, Some(&body));
        assert_eq!(status, 200, "{answer}");
    }
    let pid = gateway.child.id().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
    let _ = gateway.child.wait();
    lock.rollback().expect("releases the lock");
    drop(blocker);
    let runs = |store: &Path| -> usize {
        let out = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(store));
        serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len()
    };
    assert_eq!(runs(&store), 0, "the ledger could not write before the kill");

    let next = start(&store);
    let log = next.log.lock().unwrap().clone();
    assert!(
        log.contains("held 5 runs of a process that stopped unexpectedly: 5 written now"),
        "{log}"
    );
    drop(next);
    assert_eq!(runs(&store), 5);
    // Nothing is left to replay.
    let again = start(&store);
    assert!(!again.log.lock().unwrap().contains("held"), "{}", again.log.lock().unwrap());
}

/// A pipeline run whose client left goes on; a shutdown waits for it, and it is in the ledger.
#[test]
fn a_shutdown_waits_for_a_run_whose_client_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("aimos.db");
    let mut gateway = start(&store);
    let output = Command::new("curl")
        .args(["-sS", "-N", "-m", "2", "-H", "content-type: application/json", "-d"])
        .arg(r#"{"model":"aimos/consult","stream":true,"max_tokens":48,"messages":[{"role":"user","content":"Why would a list index be off by one in a loop over range(1, n)?"}]}"#)
        .arg(format!("{}/chat/completions", gateway.base_url))
        .output()
        .expect("curl runs");
    assert_eq!(output.status.code(), Some(28), "curl gave up after 2 s, before the end");
    let pid = gateway.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let status = gateway.child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    let waited = Instant::now();
    while !gateway.log.lock().unwrap().contains("aimos gateway stopped")
        && waited.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = gateway.log.lock().unwrap().clone();
    assert!(log.contains("still in flight"), "{log}");
    let out = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store));
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["strategy"], "consult", "{runs}");
}

/// Secrets never reach the logs, the store or /metrics: a gateway's own keys, a wrong key, and
/// the key of the provider it forwards to, through a day of requests at debug logging.
#[test]
fn keys_and_provider_secrets_stay_out_of_logs_store_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The provider: another gateway, whose key is the provider secret.
    let upstream_store = dir.path().join("upstream.db");
    let provider_secret = key(&upstream_store, "provider", "100");
    let upstream = start(&upstream_store);
    let config = dir.path().join("aimos.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.up]\napi = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"UP_SECRET\"\n",
            upstream.base_url
        ),
    )
    .unwrap();
    let store = dir.path().join("aimos.db");
    let own = key(&store, "app", "100");
    let gateway = spawn(&store, |command| {
        command
            .args(["--ctx", "2048", "--config"])
            .arg(&config)
            .env("UP_SECRET", &provider_secret)
            .env("AIMOS_LOG", "debug");
    });
    let url = format!("{}/chat/completions", gateway.base_url);
    let wrong = "aimos-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    for (model, secret, expected) in [
        ("up:smollm2-135m", own.as_str(), 200),
        (TEST_MODEL, own.as_str(), 200),
        (TEST_MODEL, wrong, 401),
    ] {
        let body = format!(
            r#"{{"model":"{model}","max_tokens":2,"temperature":0,"messages":[{{"role":"user","content":"Hi"}}]}}"#
        );
        let (status, answer) = curl_json(&url, Some(secret), Some(&body));
        assert_eq!(status, expected, "{model}: {answer}");
    }
    let (status, metrics) = curl_json(
        &format!("{}/metrics", gateway.base_url.trim_end_matches("/v1")),
        Some(&own),
        None,
    );
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("aimos_key_requests_total"), "{metrics}");
    let log = gateway.log.lock().unwrap().clone();
    assert!(log.contains("DEBUG") || log.contains("debug"), "debug logging is on: {log}");
    drop(gateway);
    let mut places: Vec<(String, Vec<u8>)> =
        vec![("/metrics".into(), metrics.into_bytes()), ("the log".into(), log.into_bytes())];
    let prefix = dir.path().join("aimos.db").display().to_string();
    for file in walk(dir.path()) {
        if file.display().to_string().starts_with(&prefix) {
            places.push((file.display().to_string(), std::fs::read(&file).unwrap()));
        }
    }
    assert!(places.len() >= 3, "the store's files were read");
    for (place, bytes) in &places {
        for secret in [own.as_str(), provider_secret.as_str(), wrong] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is in {place}"
            );
        }
    }
}

/// Every file under `dir`, folders followed.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
