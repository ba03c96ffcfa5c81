//! Insight recall (text search) latency at scale, on SQLite and PostgreSQL.
//!
//! ```sh
//! cargo run --release -p aimos-store --features postgres --example recall_bench -- /tmp/bench.db
//! cargo run --release -p aimos-store --features postgres --example recall_bench -- postgres://postgres@127.0.0.1:5432/test
//! ```
//! Replaces the store's earlier benchmark insights (ids `bench-…`; nothing else is touched) with
//! N synthetic insights (default 100,000; `N=…`) by bulk SQL in the real
//! schema, then times Q searches (default 1,000; `Q=…`) through the `Store` trait and prints
//! p50/p99/max. Words come from a vocabulary of 5,000, so a three-word search matches a few
//! hundred insights, as a real search over a large store would.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let location = std::env::args().nth(1).expect("usage: recall_bench SQLITE_PATH|POSTGRES_URL");
    let (n, q) = (env("N", 100_000), env("Q", 1_000));
    let store = aimos_store::open(&location).unwrap();
    let filled = Instant::now();
    if location.starts_with("postgres") {
        let mut client = postgres::Client::connect(&location, postgres::NoTls).unwrap();
        client.batch_execute("DELETE FROM insights WHERE id LIKE 'bench-%'").unwrap();
        client
            .execute(
                "INSERT INTO insights (id, fingerprint, problem, brief, diagnosis, plan, key_facts, pitfalls, confidence, reasoning, smart_model, cost_usd, created_at) \
                 SELECT 'bench-' || lpad(i::text, 8, '0'), 'fp' || i, \
                   'error in w' || (random() * 4999)::int || ' w' || (random() * 4999)::int || ' w' || (random() * 4999)::int || ' w' || (random() * 4999)::int, \
                   'brief', 'because w' || (random() * 4999)::int || ' w' || (random() * 4999)::int, '[]', \
                   '[\"w' || (random() * 4999)::int || '\"]', '[]', 0.5, 'r', 'bench', 0.0, '2026-11-26T00:00:00Z' \
                 FROM generate_series(1, $1::bigint) i",
                &[&(n as i64)],
            )
            .unwrap();
        // Merge the GIN index's pending list, as autovacuum would in a store at rest.
        client.batch_execute("VACUUM ANALYZE insights").unwrap();
    } else {
        drop(store);
        let conn = rusqlite::Connection::open(&location).unwrap();
        conn.execute_batch("DELETE FROM insights WHERE id LIKE 'bench-%';").unwrap();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO insights (id, fingerprint, problem, brief, diagnosis, plan, key_facts, pitfalls, confidence, reasoning, smart_model, cost_usd, created_at) \
             SELECT printf('bench-%08d', i), 'fp' || i, \
               'error in w' || (abs(random()) % 5000) || ' w' || (abs(random()) % 5000) || ' w' || (abs(random()) % 5000) || ' w' || (abs(random()) % 5000), \
               'brief', 'because w' || (abs(random()) % 5000) || ' w' || (abs(random()) % 5000), '[]', \
               '[\"w' || (abs(random()) % 5000) || '\"]', '[]', 0.5, 'r', 'bench', 0.0, '2026-11-26T00:00:00Z' FROM n",
            [n as i64],
        )
        .unwrap();
    }
    let store = aimos_store::open(&location).unwrap();
    eprintln!("filled {n} insights in {:.1} s", filled.elapsed().as_secs_f64());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut word = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("w{}", seed % 5000)
    };
    let mut times = Vec::with_capacity(q);
    let mut found = 0;
    for _ in 0..q {
        let query = format!("why does {} fail with {} and {}", word(), word(), word());
        let started = Instant::now();
        found += store.insights(Some(&query), 10, 0).unwrap().len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "{location}: {n} insights, {q} searches (top 10, {:.1} found on average): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        found as f64 / q as f64,
        at(0.5),
        at(0.99),
        times[times.len() - 1]
    );
}
