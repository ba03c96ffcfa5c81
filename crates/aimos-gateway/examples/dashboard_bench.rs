#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

//! How long each dashboard page takes to draw on the server, over a large ledger.
//!
//! `cargo run --release --example dashboard_bench -- STORE [RUNS] [INSIGHTS] [REPS]`
//!
//! STORE is a SQLite file or a postgres:// URL. An empty store is first filled with RUNS runs
//! (default 100,000; three steps each, spread over 30 days, five keys) and INSIGHTS insights
//! (default 10,000, with outcomes); a filled one is used as it is. Each page is then drawn REPS
//! times (default 5) in process, from the request to the last byte of HTML, and the median,
//! lowest and highest are printed in milliseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use aimos_core::{Insight, Outcome, RunRecord, Store};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt;

const STRATEGIES: [&str; 5] = ["cheap", "consult", "cascade", "smart", "brief"];

fn insight(i: usize) -> Insight {
    serde_json::from_value(json!({
        "id": format!("01b00000-0000-7000-8000-{i:012}"),
        "fingerprint": format!("fp-{i}"),
        "problem": format!("problem {i}: parse_config fails on key {} with an index error", i % 97),
        "brief": format!("Problem: problem {i}\n{}", "src/config.rs:10-40\nfn parse_config() {}\n".repeat(20)),
        "diagnosis": format!("the loop in parse_config reads one past the end for key {}", i % 97),
        "plan": ["find the loop", "bound it by len"],
        "key_facts": ["keys are 0-based"],
        "pitfalls": ["do not change the format"],
        "confidence": 0.5 + (i % 5) as f64 / 10.0,
        "reasoning": "the index equals the length",
        "smart_model": if i.is_multiple_of(2) { "openai:gpt-4.1" } else { "local:qwen2.5-coder-1.5b" },
        "cost": {"usd": 0.002},
        "created_at": format!("2026-11-{:02}T{:02}:00:00.000Z", 1 + i % 28, i % 24),
        "applied": i % 7, "succeeded": i % 4, "failed": i % 3,
    }))
    .unwrap()
}

fn run(i: usize, insights: usize) -> RunRecord {
    let strategy = STRATEGIES[i % STRATEGIES.len()];
    let insight_id = (strategy != "cheap" && strategy != "smart" && insights > 0)
        .then(|| format!("01b00000-0000-7000-8000-{:012}", i % insights));
    let step = |kind: &str, model: Option<&str>, ms: f64| {
        json!({"kind": kind, "model": model, "prompt_tokens": 900, "completion_tokens": 120,
               "cost": {"usd": 0.0004}, "latency_ms": ms, "prompt_digest": "d",
               "note": "brief of 700 tokens", "context_tokens": 800,
               "external": model == Some("openai:gpt-4.1"), "redactions": 0})
    };
    serde_json::from_value(json!({
        "id": format!("01a00000-0000-7000-8000-{i:012}"),
        "created_at": format!("2026-11-{:02}T{:02}:{:02}:00.000Z", 1 + (i / 3600) % 28, (i / 60) % 24, i % 60),
        "strategy": strategy,
        "reason": "chosen by the caller",
        "task_digest": format!("t{}", i % 5000),
        "problem": format!("problem {i}: parse_config fails"),
        "status": if i.is_multiple_of(50) { "failed" } else { "succeeded" },
        "result": "fixed the bound",
        "error": null,
        "insight_id": insight_id,
        "cost": {"usd": 0.0012},
        "counterfactual": {"model": "openai:gpt-4.1", "cost": {"usd": 0.004}, "prompt_tokens": 3000,
                           "completion_tokens": 200, "latency_ms": 4000.0, "latency_measured": false},
        "savings": 0.7,
        "latency_ms": 3000.0,
        "steps": [step("distill", None, 20.0), step("consult", Some("openai:gpt-4.1"), 1500.0),
                  step("execute", Some("local:qwen2.5-coder-0.5b"), 1400.0)],
        "verified": match i % 3 { 0 => json!(true), 1 => json!(false), _ => json!(null) },
        "context_tokens": 5000,
        "attribution": {"key": format!("key-{}", i % 5)},
    }))
    .unwrap()
}

fn fill(store: &dyn Store, runs: usize, insights: usize) {
    let started = Instant::now();
    for i in 0..insights {
        store.put_insight(&insight(i)).unwrap();
    }
    for i in 0..insights.min(2000) {
        let outcome = Outcome {
            insight_id: insight(i).id,
            run_id: None,
            passed: i % 3 != 0,
            source: "bench".into(),
            note: None,
            created_at: "2026-11-20T00:00:00.000Z".into(),
        };
        store.record_outcome(&outcome).unwrap();
    }
    for chunk in (0..runs).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<RunRecord> = chunk.iter().map(|&i| run(i, insights)).collect();
        store.record_runs(&batch).unwrap();
    }
    for k in 0..5 {
        aimos_gateway::keys::create(store, &format!("key-{k}"), Some(10.0), Some(600)).unwrap();
    }
    eprintln!(
        "filled {runs} runs and {insights} insights in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(location) = args.get(1) else {
        eprintln!("usage: dashboard_bench STORE [RUNS] [INSIGHTS] [REPS]");
        std::process::exit(2);
    };
    let number =
        |i: usize, default: usize| args.get(i).map_or(default, |v| v.parse().expect("a number"));
    let (runs, insights, reps) = (number(2, 100_000), number(3, 10_000), number(4, 5));
    let store = aimos_store::open(location).expect("the store opens");
    if store.runs(1, 0).unwrap().is_empty() {
        fill(&*store, runs, insights);
    }
    // The keys would require an admin key; the bench looks as this machine with none.
    let keys: Vec<String> = store.keys().unwrap().iter().map(|k| k.name.clone()).collect();
    for key in &keys {
        store.revoke_key(key).unwrap();
    }
    let total = store.stats().unwrap().total.runs;
    let run_id = store.runs(1, 500).unwrap()[0].id.clone();
    let insight_id = store.insights(None, 1, 100).unwrap()[0].id.clone();
    let eval =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval-results/bugfix-heldout");
    let router = aimos_gateway::ui::router(
        Arc::clone(&store),
        aimos_gateway::ui::Settings { evals: vec![eval] },
    );
    let pages = [
        "/ui".to_owned(),
        "/ui/runs".to_owned(),
        "/ui/runs?page=100".to_owned(),
        "/ui/runs?strategy=cascade&verdict=failed".to_owned(),
        "/ui/runs?key=key-3&since=2026-11-20".to_owned(),
        "/ui/runs?model=local%3Aqwen2.5-coder-0.5b".to_owned(),
        format!("/ui/runs/{run_id}"),
        "/ui/insights".to_owned(),
        "/ui/insights?q=parse_config+index".to_owned(),
        format!("/ui/insights/{insight_id}"),
        "/ui/calibration".to_owned(),
        "/ui/keys".to_owned(),
        "/ui/evals".to_owned(),
    ];
    println!(
        "{total} runs in {location}; each page drawn {reps} times (ms: median, lowest, highest)"
    );
    // The store is opened and filled first: PostgreSQL's client starts a runtime of its own.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(draw(router, &pages, reps));
}

async fn draw(router: axum::Router, pages: &[String], reps: usize) {
    for page in pages {
        let mut times = Vec::new();
        for _ in 0..reps {
            let mut request = Request::builder()
                .uri(page)
                .header("host", "127.0.0.1")
                .body(Body::empty())
                .unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo("127.0.0.1:1".parse::<SocketAddr>().unwrap()));
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(status.is_success(), "{page}: {status}: {}", String::from_utf8_lossy(&body));
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{page:<48} {:>8.1} {:>8.1} {:>8.1}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}
