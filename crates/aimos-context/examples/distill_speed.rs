//! Time to a brief over a large tree: cold (no cache), then warm (cache on disk).
//!
//! `cargo run --release -p aimos-context --example distill_speed -- TREE [RUNS]`

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use aimos_context::{DistillOptions, Index, Limits, distill, estimate_tokens};

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().expect("usage: distill_speed TREE [RUNS]"));
    let runs: usize = args.next().map_or(5, |n| n.parse().expect("RUNS is a number"));
    let cache = tempfile::tempdir().unwrap();
    let problem = "Traceback (most recent call last):\n  File \"/usr/lib/python3.11/json/decoder.py\", line 353, in raw_decode\n    obj, end = self.scan_once(s, idx)\njson.decoder.JSONDecodeError: Expecting property name enclosed in double quotes";
    let limits = Limits { max_total_bytes: 1 << 30, ..Limits::default() };
    let options = DistillOptions { budget: 1024, redact: true };
    let mut timings = Vec::new();
    for run in 0..=runs {
        let started = Instant::now();
        let (index, report) =
            Index::open(std::slice::from_ref(&root), limits, Some(cache.path())).unwrap();
        let opened = started.elapsed();
        let brief = distill(problem, &index, &options, &estimate_tokens);
        let total = started.elapsed();
        let lines: usize =
            index.files().iter().map(|f| f.chunks.last().map_or(0, |c| c.end_line as usize)).sum();
        println!(
            "{} files={} lines~{} chunks={} parsed={} cached={} open={:.0}ms brief={:.0}ms total={:.0}ms first={}:{}",
            if run == 0 { "cold" } else { "warm" },
            index.files().len(),
            lines,
            index.chunk_count(),
            report.parsed,
            report.cached,
            opened.as_secs_f64() * 1e3,
            (total - opened).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            brief.evidence.first().map_or("-", |e| e.path.as_str()),
            brief.evidence.first().map_or(0, |e| e.start_line),
        );
        if run > 0 {
            timings.push(total.as_secs_f64() * 1e3);
        }
    }
    timings.sort_by(f64::total_cmp);
    println!("warm median {:.0} ms over {runs} runs", timings[timings.len() / 2]);
}
