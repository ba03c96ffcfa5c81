//! Recall of the distiller on a labelled set: for each task, whether the brief's evidence
//! holds the labelled code (any excerpt of the labelled file overlapping the labelled lines),
//! at several budgets, by kind of task. Tokens are counted with tiktoken (o200k_base).
//!
//! With `--expand MODEL`, the model first guesses what the code is called (query expansion,
//! as `aimos distill --expand` does), and the cost of that is reported too.
//!
//! With `--embedding MODEL`, an embedding model re-ranks the words' best chunks by meaning,
//! as runs do when one is pulled; `RERANK_K` and `RERANK_WEIGHT` override its settings, and
//! `KINDS=a,b` measures only the task kinds named (the tuning halves, while tuning).
//!
//! Misses are listed for every kind except held-out ones: those are there to be measured, not
//! looked at.
//!
//! ```sh
//! python3 scripts/recall-set.py > /tmp/recall.jsonl
//! python3 scripts/plain-reports.py > /tmp/plain.jsonl
//! cargo run --release -p aimos-cli --example distill_recall -- /tmp/recall.jsonl /tmp/plain.jsonl
//! cargo run --release -p aimos-cli --example distill_recall -- --expand qwen2.5-coder-0.5b /tmp/plain.jsonl
//! cargo run --release -p aimos-cli --example distill_recall -- --embedding minilm-l6 /tmp/recall.jsonl /tmp/plain.jsonl
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aimos_context::{DistillOptions, Hints, Index, Limits, Rerank, count_tokens, distill_dense};
use aimos_core::Model;

const BUDGETS: [usize; 3] = [512, 1024, 2048];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let expand = args.iter().position(|a| a == "--expand").map(|at| {
        args.remove(at);
        assert!(at < args.len(), "--expand needs a model name");
        args.remove(at)
    });
    let embedding = args.iter().position(|a| a == "--embedding").map(|at| {
        args.remove(at);
        assert!(at < args.len(), "--embedding needs a model name");
        args.remove(at)
    });
    assert!(
        !args.is_empty(),
        "usage: distill_recall [--expand MODEL] [--embedding MODEL] SET.jsonl…"
    );
    let embedder = embedding.as_deref().map(|name| {
        let options = aimos_local::LoadOptions::default();
        aimos_local::load_embedder(name, &options, &mut aimos_local::NoProgress).expect("loading")
    });
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let rerank = embedder.as_deref().map(|embedder| {
        let mut rerank = Rerank::new(embedder);
        if let Some(k) = env("RERANK_K") {
            rerank.candidates = k.parse().expect("RERANK_K is a number");
        }
        if let Some(h) = env("RERANK_HEAD") {
            rerank.head_chars = h.parse().expect("RERANK_HEAD is a number");
        }
        if let Some(w) = env("RERANK_WEIGHT") {
            rerank.weight = w.parse().expect("RERANK_WEIGHT is a number");
        }
        println!(
            "re-ranking {} candidates by meaning ({} characters of each), weight {}",
            rerank.candidates, rerank.head_chars, rerank.weight
        );
        rerank
    });
    let kinds_wanted: Option<Vec<String>> =
        env("KINDS").map(|k| k.split(',').map(str::to_owned).collect());
    let mut tasks: Vec<serde_json::Value> = Vec::new();
    for path in &args {
        let text = std::fs::read_to_string(path).expect("reading the set");
        tasks.extend(
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()),
        );
    }
    let model: Option<Arc<dyn Model>> = expand.as_deref().map(|name| {
        let options = aimos_local::LoadOptions::default();
        let model: Arc<dyn Model> =
            aimos_local::load(name, &options, &mut aimos_local::NoProgress).expect("loading");
        model
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cache = std::env::temp_dir().join("aimos-recall-bench-cache");
    let mut indexes: BTreeMap<String, Index> = BTreeMap::new();
    // (kind, budget) → (recalled, total)
    let mut table: BTreeMap<(String, usize), (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let (mut expand_seconds, mut expand_tokens) = (Vec::new(), Vec::new());
    let mut distill_ms = Vec::new();
    for task in &tasks {
        let root = task["root"].as_str().unwrap().to_owned();
        let index = indexes.entry(root.clone()).or_insert_with(|| {
            let limits = Limits { max_total_bytes: 1 << 30, ..Limits::default() };
            Index::open(&[PathBuf::from(&root)], limits, Some(&cache)).unwrap().0
        });
        let kind = task["kind"].as_str().unwrap().to_owned();
        if kinds_wanted.as_ref().is_some_and(|wanted| !wanted.contains(&kind)) {
            continue;
        }
        let problem = task["problem"].as_str().unwrap();
        let hints = match &model {
            Some(model) => {
                let started = Instant::now();
                let answer =
                    runtime.block_on(model.chat(aimos_core::expand::request(problem))).unwrap();
                expand_seconds.push(started.elapsed().as_secs_f64());
                expand_tokens.push(answer.usage.total_tokens());
                aimos_core::expand::read(&answer.content)
            }
            None => Hints::default(),
        };
        let (want, first, last) = (
            task["path"].as_str().unwrap(),
            task["start_line"].as_u64().unwrap() as u32,
            task["end_line"].as_u64().unwrap() as u32,
        );
        for budget in BUDGETS {
            let options = DistillOptions { budget, redact: true };
            let started = Instant::now();
            let brief = distill_dense(problem, &hints, index, &options, &count_tokens, rerank);
            distill_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(brief.tokens <= budget);
            let hit = brief
                .evidence
                .iter()
                .any(|e| e.path == want && e.start_line <= last && e.end_line >= first);
            let cell = table.entry((kind.clone(), budget)).or_default();
            cell.0 += hit as usize;
            cell.1 += 1;
            if !hit && budget == 1024 && !kind.contains("held-out") {
                let got: Vec<String> = brief
                    .evidence
                    .iter()
                    .take(3)
                    .map(|e| format!("{}:{}-{}", e.path, e.start_line, e.end_line))
                    .collect();
                misses.push(format!(
                    "  {} ({kind}): got {}{}",
                    task["label"].as_str().unwrap(),
                    got.join(", "),
                    if hints.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", aimos_core::expand::describe(&hints))
                    }
                ));
            }
        }
    }
    let files: usize = indexes.values().map(|i| i.files().len()).sum();
    let chunks: usize = indexes.values().map(|i| i.chunk_count()).sum();
    println!("{} tasks over {files} files ({chunks} chunks)", tasks.len());
    distill_ms.sort_by(f64::total_cmp);
    println!(
        "distill (ranking and packing, index in memory): median {:.0} ms, 90th percentile {:.0} ms",
        distill_ms[distill_ms.len() / 2],
        distill_ms[distill_ms.len() * 9 / 10]
    );
    if let Some(name) = &expand {
        expand_seconds.sort_by(f64::total_cmp);
        let tokens: u64 = expand_tokens.iter().sum();
        println!(
            "query expansion by {name}: median {:.2} s a report ({:.2}–{:.2}), {:.0} tokens a report",
            expand_seconds[expand_seconds.len() / 2],
            expand_seconds[0],
            expand_seconds[expand_seconds.len() - 1],
            tokens as f64 / expand_tokens.len() as f64
        );
    }
    println!("\n| task kind | tasks | recall@512 | recall@1024 | recall@2048 |");
    println!("|---|---:|---:|---:|---:|");
    let kinds: Vec<String> = {
        let mut k: Vec<String> = table.keys().map(|(k, _)| k.clone()).collect();
        k.dedup();
        k
    };
    for kind in kinds {
        let cells: Vec<String> = BUDGETS
            .iter()
            .map(|b| {
                let (hit, total) = table[&(kind.clone(), *b)];
                format!("{:.0}% ({hit}/{total})", hit as f64 * 100.0 / total as f64)
            })
            .collect();
        let total = table[&(kind.clone(), 1024)].1;
        println!("| {kind} | {total} | {} |", cells.join(" | "));
    }
    if !misses.is_empty() {
        println!("\nmissed at 1024 tokens (held-out kinds not shown):\n{}", misses.join("\n"));
    }
}
