#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

//! An open-loop load generator: sends requests at a fixed rate, whatever the latency, and
//! reports latency quantiles (so that a slow server cannot slow the load down and hide it).
//!
//! `cargo run --release --example loadgen -- URL RATE SECONDS [BODY]` prints one JSON line.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BODY: &str = r#"{"model":"fixed:m","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":16}"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(rate), Some(seconds)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: loadgen URL RATE SECONDS [BODY]");
        std::process::exit(2);
    };
    let rate: f64 = rate.parse().expect("RATE is requests a second");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let body = args.get(4).cloned().unwrap_or_else(|| BODY.to_owned());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(4096).build().expect("client");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0u64));
    let total = (rate * seconds) as u64;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        ticks.tick().await;
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        let (latencies, errors) = (Arc::clone(&latencies), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            if ok {
                latencies.lock().unwrap().push(sent.elapsed().as_secs_f64() * 1000.0);
            } else {
                *errors.lock().unwrap() += 1;
            }
        }));
    }
    let sending = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if l.is_empty() { f64::NAN } else { l[((l.len() - 1) as f64 * p).round() as usize] }
    };
    println!(
        r#"{{"rate":{rate},"sent":{total},"achieved_rate":{:.0},"ok":{},"errors":{},"p50_ms":{:.3},"p99_ms":{:.3},"max_ms":{:.3}}}"#,
        total as f64 / sending,
        l.len(),
        errors.lock().unwrap(),
        q(0.5),
        q(0.99),
        l.last().copied().unwrap_or(f64::NAN)
    );
}
