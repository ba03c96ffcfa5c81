//! Insight reuse on a labelled set of problem pairs (`scripts/reuse-pairs.py`): every stored
//! problem gets an insight in a fresh SQLite store, then each new problem looks for candidates
//! exactly as a run does (the same problem's insights and the store's best text matches,
//! through the matching and the default bars). Reports, per half:
//! - paraphrases whose insight is among the candidates, and the first one;
//! - near-misses whose insight is a candidate at all (it should never be);
//! - with `--confirm MODEL`, the model's confirmation of each first candidate, as a run asks
//!   it: wrong reuses after confirmation, and paraphrases still reused.
//!
//! With `--embedding MODEL`, every stored problem is kept with its embedding and candidates are
//! matched by meaning, as runs do when the model is pulled; `MIN_SIMILARITY` overrides the bar.
//!
//! `HALF=tuning` (or `held-out`) measures one half only.
//!
//! ```sh
//! python3 scripts/reuse-pairs.py > /tmp/pairs.jsonl
//! cargo run --release -p aimos-cli --example reuse_pairs -- /tmp/pairs.jsonl
//! cargo run --release -p aimos-cli --example reuse_pairs -- --confirm qwen2.5-coder-0.5b /tmp/pairs.jsonl
//! cargo run --release -p aimos-cli --example reuse_pairs -- --embedding minilm-l6 --confirm qwen2.5-coder-0.5b /tmp/pairs.jsonl
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use aimos_core::reuse::{self, ReusePolicy};
use aimos_core::{Cost, Insight, InsightDraft, Model, Store};

#[derive(Default)]
struct Tally {
    paraphrases: usize,
    found: usize,
    first: usize,
    near_misses: usize,
    near_candidates: usize,
    /// Pairs whose first candidate is another problem's insight.
    wrong_first: usize,
    confirmed_wrong: usize,
    confirmed_right: usize,
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let confirm = args.iter().position(|a| a == "--confirm").map(|at| {
        args.remove(at);
        assert!(at < args.len(), "--confirm needs a model name");
        args.remove(at)
    });
    let embedding = args.iter().position(|a| a == "--embedding").map(|at| {
        args.remove(at);
        assert!(at < args.len(), "--embedding needs a model name");
        args.remove(at)
    });
    let embedder: Option<Arc<dyn aimos_core::Embed>> = embedding.as_deref().map(|name| {
        let options = aimos_local::LoadOptions::default();
        let embedder: Arc<dyn aimos_core::Embed> =
            aimos_local::load_embedder(name, &options, &mut aimos_local::NoProgress)
                .expect("loading the embedding model");
        embedder
    });
    let path =
        args.first().expect("usage: reuse_pairs [--embedding MODEL] [--confirm MODEL] PAIRS.jsonl");
    let pairs: Vec<serde_json::Value> = std::fs::read_to_string(path)
        .expect("reading the pairs")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = aimos_store::SqliteStore::open(&dir.path().join("pairs.db")).unwrap();
    let mut stored: Vec<String> = Vec::new();
    for pair in &pairs {
        let problem = pair["stored"].as_str().unwrap().to_owned();
        if !stored.contains(&problem) {
            let insight = insight(&problem);
            store.put_insight(&insight).unwrap();
            if let Some(embedder) = &embedder {
                let vector = embedder.embed(&[&problem]).unwrap().pop().unwrap();
                store.put_insight_embedding(&insight.id, embedder.id(), &vector).unwrap();
            }
            stored.push(problem);
        }
    }
    let model: Option<Arc<dyn Model>> = confirm.as_deref().map(|name| {
        let model: Arc<dyn Model> = aimos_local::load(
            name,
            &aimos_local::LoadOptions::default(),
            &mut aimos_local::NoProgress,
        )
        .expect("loading the model");
        model
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut policy = ReusePolicy::default();
    if let Some(bar) = std::env::var("MIN_SIMILARITY").ok().filter(|v| !v.is_empty()) {
        policy.min_similarity = bar.parse().expect("MIN_SIMILARITY is a number");
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut shown = Vec::new();
    for pair in &pairs {
        let (kind, half) = (pair["kind"].as_str().unwrap(), pair["half"].as_str().unwrap());
        if std::env::var("HALF").is_ok_and(|only| only != half) {
            continue;
        }
        let (old, new) = (pair["stored"].as_str().unwrap(), pair["new"].as_str().unwrap());
        let candidates = reuse::find_with(&store, new, &policy, None, embedder.as_deref()).unwrap();
        let tally = tallies.entry(half.to_owned()).or_default();
        let listed = candidates.iter().any(|c| c.insight.problem == old);
        let first = candidates.first();
        let first_right = kind == "paraphrase" && first.is_some_and(|c| c.insight.problem == old);
        if kind == "paraphrase" {
            tally.paraphrases += 1;
            tally.found += listed as usize;
            tally.first += first_right as usize;
        } else {
            tally.near_misses += 1;
            tally.near_candidates += listed as usize;
        }
        if first.is_some() && !first_right {
            tally.wrong_first += 1;
        }
        let confirmed = match (&model, first) {
            (Some(model), Some(first)) => {
                let brief = format!("Problem:\n{new}\n");
                let request = reuse::confirmation_request(&brief, &first.insight);
                let answer = runtime.block_on(model.chat(request)).unwrap();
                reuse::read_confirmation(&answer.content).0
            }
            _ => false,
        };
        if confirmed {
            if first_right {
                tally.confirmed_right += 1;
            } else {
                tally.confirmed_wrong += 1;
            }
        }
        if half.starts_with("tuning") && first.is_some_and(|c| c.insight.problem != old) {
            let first = candidates.first().unwrap();
            shown.push(format!(
                "  {kind}: {new:?} → {:?} (match {:.2})",
                first.insight.problem, first.matched
            ));
        }
        if half.starts_with("tuning")
            && (kind == "paraphrase" && !listed || kind != "paraphrase" && listed)
        {
            let best = candidates.first().map_or(0.0, |c| c.matched);
            let own = match &embedder {
                Some(embedder) => {
                    let v = embedder.embed(&[new, old]).unwrap();
                    reuse::dense_match(new, old, f64::from(aimos_core::dense::cosine(&v[0], &v[1])))
                }
                None => reuse::match_score(new, old),
            };
            shown.push(format!("  {kind}: {new:?} (best match {best:.2}, with its own {own:.2})"));
        }
    }
    println!(
        "{} pairs, {} stored problems; bars: {}, success estimate ≥ {}\n",
        pairs.len(),
        stored.len(),
        match &embedder {
            Some(embedder) => format!("cosine of {} ≥ {}", embedder.id(), policy.min_similarity),
            None => format!("match ≥ {}", policy.min_match),
        },
        policy.min_success
    );
    println!(
        "| half | paraphrases found | found first | near-misses as candidates | wrong first candidates | wrong reuse after confirmation | paraphrases reused after confirmation |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (half, t) in &tallies {
        let pct = |n: usize, of: usize| format!("{:.0}% ({n}/{of})", n as f64 * 100.0 / of as f64);
        let total = t.paraphrases + t.near_misses;
        let confirmed = |n: usize, of: usize| {
            if model.is_some() { pct(n, of) } else { "not asked".to_owned() }
        };
        println!(
            "| {half} | {} | {} | {} | {} | {} | {} |",
            pct(t.found, t.paraphrases),
            pct(t.first, t.paraphrases),
            pct(t.near_candidates, t.near_misses),
            pct(t.wrong_first, total),
            confirmed(t.confirmed_wrong, total),
            confirmed(t.confirmed_right, t.paraphrases),
        );
    }
    if !shown.is_empty() {
        println!(
            "\nthe tuning halves' misses and wrong first candidates (held-out not shown):\n{}",
            shown.join("\n")
        );
    }
}

/// An insight for `problem`, as a consultation would store it, stating confidence 0.9.
fn insight(problem: &str) -> Insight {
    Insight {
        id: aimos_core::ids::new_id(),
        fingerprint: aimos_core::pipeline::fingerprint(problem),
        problem: problem.to_owned(),
        brief: format!("Problem:\n{problem}\n"),
        draft: InsightDraft {
            diagnosis: format!("The cause of: {problem}"),
            plan: vec![format!("Fix what causes this: {problem}")],
            key_facts: vec![],
            pitfalls: vec![],
            confidence: 0.9,
            reasoning: "From the report.".into(),
        },
        smart_model: "smart".into(),
        cost: Cost::default(),
        created_at: aimos_core::ids::now_rfc3339(),
        applied: 0,
        succeeded: 0,
        failed: 0,
        invalidated: None,
        namespace: None,
    }
}
