//! Recall of the distiller on a labelled set: for each task, whether the brief's evidence
//! holds the labelled code (any excerpt of the labelled file overlapping the labelled lines),
//! at several budgets, by kind of task. Tokens are counted with tiktoken (o200k_base).
//!
//! ```sh
//! python3 scripts/recall-set.py > /tmp/recall.jsonl
//! cargo run --release -p aimos-context --example distill_recall -- /tmp/recall.jsonl
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use aimos_context::{DistillOptions, Index, Limits, count_tokens, distill};

const BUDGETS: [usize; 3] = [512, 1024, 2048];

fn main() {
    let path = std::env::args().nth(1).expect("usage: distill_recall SET.jsonl");
    let text = std::fs::read_to_string(&path).expect("reading the set");
    let tasks: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cache = std::env::temp_dir().join("aimos-recall-bench-cache");
    let mut indexes: BTreeMap<String, Index> = BTreeMap::new();
    // (kind, budget) → (recalled, total)
    let mut table: BTreeMap<(String, usize), (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for task in &tasks {
        let root = task["root"].as_str().unwrap().to_owned();
        let index = indexes.entry(root.clone()).or_insert_with(|| {
            let limits = Limits { max_total_bytes: 1 << 30, ..Limits::default() };
            Index::open(&[PathBuf::from(&root)], limits, Some(&cache)).unwrap().0
        });
        let kind = task["kind"].as_str().unwrap().to_owned();
        let (want, first, last) = (
            task["path"].as_str().unwrap(),
            task["start_line"].as_u64().unwrap() as u32,
            task["end_line"].as_u64().unwrap() as u32,
        );
        for budget in BUDGETS {
            let options = DistillOptions { budget, redact: true };
            let brief = distill(task["problem"].as_str().unwrap(), index, &options, &count_tokens);
            assert!(brief.tokens <= budget);
            let hit = brief
                .evidence
                .iter()
                .any(|e| e.path == want && e.start_line <= last && e.end_line >= first);
            let cell = table.entry((kind.clone(), budget)).or_default();
            cell.0 += hit as usize;
            cell.1 += 1;
            if !hit && budget == 1024 {
                let got: Vec<String> = brief
                    .evidence
                    .iter()
                    .take(3)
                    .map(|e| format!("{}:{}-{}", e.path, e.start_line, e.end_line))
                    .collect();
                misses.push(format!(
                    "  {} ({kind}): got {}",
                    task["label"].as_str().unwrap(),
                    got.join(", ")
                ));
            }
        }
    }
    let files: usize = indexes.values().map(|i| i.files().len()).sum();
    let chunks: usize = indexes.values().map(|i| i.chunk_count()).sum();
    println!("{} tasks over {files} files ({chunks} chunks)\n", tasks.len());
    println!("| task kind | tasks | recall@512 | recall@1024 | recall@2048 |");
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
        println!("\nmissed at 1024 tokens:\n{}", misses.join("\n"));
    }
}
