//! What an MCP tool call adds to the pipeline's own work: `consult` called N times through the
//! protocol over a child process's stdin and stdout (as an agent spawns `aimos mcp`), each
//! call's round trip minus the pipeline's own time for it (the run's `latency_ms`). The models
//! are test doubles that answer at once (`ScriptedModel`), so what is left is the protocol,
//! the argument checks, reading the named file and the JSON of the answer.
//!
//!   cargo run --release -p aimos-mcp --example overhead -- [CALLS]

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use aimos_core::Pipeline;
use aimos_core::testing::{MemoryStore, ScriptedModel};
use aimos_mcp::{AimosTools, Roots, Settings};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const GOOD: &str = r#"{"diagnosis":"total() skips the last item: the loop stops one early","plan":["loop over every item"],"key_facts":["range(len(items) - 1)"],"pitfalls":[],"confidence":0.8,"reasoning":"the test expects 6 and gets 3"}"#;
const WARMUP: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let calls: usize = args[3].parse().unwrap();
        runtime.block_on(serve(&args[2], calls));
        return;
    }
    let calls: usize = args.get(1).map_or(2000, |n| n.parse().expect("CALLS is a number"));
    runtime.block_on(measure(calls));
}

async fn serve(root: &str, calls: usize) {
    let answers = vec![GOOD; calls + WARMUP];
    let pipeline = Pipeline {
        smart: ScriptedModel::new("smart", 3.0, &answers),
        cheap: ScriptedModel::new("cheap", 0.1, &[]),
        store: Arc::new(MemoryStore::default()),
    };
    let settings = Settings::new(Roots::new(&[root.into()]).unwrap());
    aimos_mcp::serve_stdio(AimosTools::new(pipeline, settings)).await.unwrap();
}

async fn measure(calls: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cart.py"),
        "def total(items):\n    s = 0\n    for i in range(len(items) - 1):\n        s += items[i]\n    return s\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .arg(dir.path())
        .arg(calls.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = ().serve(transport).await.unwrap();
    let Value::Object(arguments) = json!({
        "problem": "test_total fails: expected 6, got 3",
        "paths": ["cart.py"],
        "reuse": false,
    }) else {
        unreachable!()
    };
    let mut overhead = Vec::with_capacity(calls);
    let mut round_trip = Vec::with_capacity(calls);
    for i in 0..calls + WARMUP {
        let request = CallToolRequestParams::new("consult").with_arguments(arguments.clone());
        let started = Instant::now();
        let result = client.call_tool(request).await.unwrap();
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(result.is_error, Some(false), "{result:?}");
        let work = result.structured_content.unwrap()["cost"]["latency_ms"].as_f64().unwrap();
        if i >= WARMUP {
            overhead.push(elapsed - work);
            round_trip.push(elapsed);
        }
    }
    client.cancel().await.unwrap();
    let _ = child.wait().await;
    println!("calls: {calls} (after {WARMUP} to warm up), consult through stdio pipes");
    println!("round trip      {}", summary(&mut round_trip));
    println!("MCP overhead    {}", summary(&mut overhead));
}

fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    format!("p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms", at(0.5), at(0.99), values[values.len() - 1])
}
