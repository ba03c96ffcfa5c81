//! `aimos distill`: prints exactly the brief the smart model would receive for a problem, so
//! that users can see what leaves their machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aimos_context::{
    DistillOptions, Hints, Index, Limits, RedactPolicy, Rerank, count_tokens, distill_dense, ingest,
};
use aimos_local::{LoadOptions, NoProgress};
use anyhow::{Result, bail};
use clap::Args;

use crate::config::{Config, ConfigArgs, DEFAULT_SMART};
use crate::open::is_remote;
use crate::run::read_problem;

#[derive(Debug, Args)]
#[command(
    after_help = "The brief is printed to stdout exactly as the smart model would receive it; \
an account (tokens, excerpts, redactions, how tokens were counted) goes to stderr.

Examples:
  aimos distill \"Why does peek() panic on an empty stack?\" --context src/
  python3 app.py 2>&1 | aimos distill - --context . --budget 512
  aimos distill --problem-file bug.md --context src/ --json | jq '.evidence[].path'"
)]
pub struct DistillArgs {
    /// The problem; `-` reads it from stdin (a traceback, a log, a bug report)
    problem: Option<String>,
    /// Read the problem from this file
    #[arg(long, value_name = "FILE", conflicts_with = "problem")]
    problem_file: Option<PathBuf>,
    /// A file or folder the problem is about (folders are read recursively, honouring
    /// .gitignore); repeat for several
    #[arg(short, long, value_name = "PATH")]
    context: Vec<PathBuf>,
    /// Most tokens of the brief
    #[arg(long, default_value_t = 1024)]
    budget: usize,
    /// Which models get text with its secrets replaced by typed placeholders: external
    /// (remote models), all, or off
    #[arg(long, default_value = "external", value_parser = parse_redact)]
    redact: RedactPolicy,
    /// The smart model the brief is for: its tokenizer counts the budget (tiktoken's
    /// o200k_base for remote models, or an embedded model that is not pulled), and whether it is
    /// remote decides redaction under `external` [default: the config's, else qwen2.5-coder-1.5b]
    #[arg(long, env = "AIMOS_SMART")]
    smart: Option<String>,
    /// Read every file again instead of using the index cached for these folders
    #[arg(long)]
    no_cache: bool,
    /// Print JSON: problem, summary, evidence (path relative to its context root, 1-based
    /// inclusive lines, score, text), tokens, redactions, and the brief as sent
    #[arg(long)]
    json: bool,
    /// The sentence-embedding model that re-ranks the best excerpts by what the problem means,
    /// as runs do: a catalog name, a .gguf path, or `off` [default: minilm-l6 when it is
    /// pulled]. Problems with a stack trace are ranked by their frames and words alone
    #[arg(long, value_name = "MODEL", env = "AIMOS_EMBEDDING")]
    embedding: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

fn parse_redact(text: &str) -> Result<RedactPolicy, String> {
    text.parse()
}

pub fn run(args: DistillArgs) -> Result<ExitCode> {
    if args.budget < 32 {
        bail!("--budget {} is too small for a brief; give at least 32 tokens", args.budget);
    }
    let reads_stdin = |p: &PathBuf| p.as_os_str() == "-";
    if args.problem.as_deref() == Some("-") && args.context.iter().any(reads_stdin) {
        bail!("the problem and the context cannot both come from stdin; put one of them in a file");
    }
    let problem = read_problem(args.problem.as_ref(), args.problem_file.as_ref())?;
    let config = Config::load(&args.config)?;
    let smart = Config::model_names(args.smart.as_ref(), config.smart.as_ref(), DEFAULT_SMART)
        .into_iter()
        .next()
        .unwrap_or_else(|| DEFAULT_SMART.to_owned());
    let external = is_remote(&smart);
    // The tokenizer loads on one core while the index loads on the other, and goes on loading
    // while the words and the embedding model rank the chunks: only packing counts tokens.
    let started = Instant::now();
    std::thread::scope(|scope| {
        let loading = scope.spawn(|| {
            let began = Instant::now();
            let tokenizer = load_tokenizer(&smart);
            if tokenizer.is_none() {
                // tiktoken's tables load on first use.
                count_tokens("");
            }
            (tokenizer, began.elapsed())
        });
        let embedding = scope.spawn(|| crate::run::embedder(args.embedding.as_deref()));
        let opened = if args.context.iter().any(reads_stdin) || args.no_cache {
            ingest(&args.context, Limits::default())
                .map(|ingested| (Index::from_documents(&ingested.documents), ingested.skipped, 0))
                .map_err(anyhow::Error::from)
        } else {
            let cache = aimos_local::paths::aimos_home().map(|home| home.join("context-cache"));
            Index::open(&args.context, Limits::default(), cache.as_deref())
                .map(|(index, report)| (index, report.skipped, report.cached))
                .map_err(anyhow::Error::from)
        };
        let indexed = started.elapsed();
        let (index, skipped, cached) = opened?;
        let embedder = embedding.join().unwrap_or(Ok(None))?;
        let pending = std::cell::Cell::new(Some(loading));
        let ready: std::cell::OnceCell<((Counter, String), std::time::Duration)> =
            std::cell::OnceCell::new();
        let counter = || {
            ready.get_or_init(|| {
                let (tokenizer, took) = pending
                    .take()
                    .and_then(|loading| loading.join().ok())
                    .unwrap_or((None, std::time::Duration::ZERO));
                (counter_for(&smart, tokenizer), took)
            })
        };
        let options = DistillOptions { budget: args.budget, redact: args.redact.applies(external) };
        let rerank = embedder.as_deref().map(Rerank::new);
        let brief = distill_dense(
            &problem,
            &Hints::default(),
            &index,
            &options,
            &|text| (counter().0.0)(text),
            rerank,
        );
        let total = started.elapsed();
        let ((_, tokenizer), loaded) = counter();
        let loaded = *loaded;

        crate::run::note_skipped(
            &skipped,
            if args.json { "" } else { " (--json lists every one)" },
        );
        let rendered = brief.render();
        if args.json {
            let redacted: serde_json::Map<String, serde_json::Value> = brief
                .redactions
                .found
                .iter()
                .map(|(kind, n)| ((*kind).to_owned(), serde_json::Value::from(*n)))
                .collect();
            let evidence: Vec<serde_json::Value> = brief
                .evidence
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "path": e.path,
                        "start_line": e.start_line,
                        "end_line": e.end_line,
                        "score": (e.score as f64 * 1000.0).round() / 1000.0,
                        "text": e.text,
                    })
                })
                .collect();
            let out = serde_json::json!({
                "problem": brief.problem,
                "summary": brief.summary,
                "evidence": evidence,
                "tokens": brief.tokens,
                "budget": args.budget,
                "context_tokens": brief.context_tokens,
                "redactions": brief.redactions.count(),
                "redacted": redacted,
                "tokenizer": tokenizer,
                "embedding": embedder.as_ref().map(|e| e.id()),
                "smart_model": smart,
                "files": index.files().len(),
                "chunks": index.chunk_count(),
                "skipped": skipped.iter().map(|s| serde_json::json!({"path": s.path, "reason": s.reason})).collect::<Vec<_>>(),
                "brief": rendered,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print!("{rendered}");
            eprintln!(
                "\n{} of {} tokens · {} excerpt{} from {} files indexed ({} chunks{}) · counted with {tokenizer} ({:.0} ms to load, beside the index){} · {:.0} ms to index, {:.0} ms to the brief",
                brief.tokens,
                args.budget,
                brief.evidence.len(),
                if brief.evidence.len() == 1 { "" } else { "s" },
                index.files().len(),
                index.chunk_count(),
                if cached > 0 { format!(", {cached} files from the cache") } else { String::new() },
                loaded.as_secs_f64() * 1000.0,
                match &embedder {
                    Some(embedder) if aimos_context::anchor::frames(&problem).is_empty() => {
                        format!(" · re-ranked by meaning with {}", embedder.id())
                    }
                    _ => String::new(),
                },
                indexed.as_secs_f64() * 1000.0,
                total.as_secs_f64() * 1000.0,
            );
            if brief.redactions.count() > 0 {
                let kinds: Vec<String> =
                    brief.redactions.found.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                eprintln!("redacted {} secrets: {}", brief.redactions.count(), kinds.join(", "));
            } else if !options.redact {
                eprintln!(
                    "not redacted: `{smart}` runs on this machine (--redact all redacts for every model)"
                );
            }
            if embedder.is_none() && args.embedding.is_none() {
                eprintln!(
                    "ranked by words alone: `aimos models pull {}` adds re-ranking by meaning",
                    aimos_local::DEFAULT_EMBEDDING
                );
            }
        }
        // The process ends here: the system takes its memory back at once, where dropping the
        // index, the tokenizer and the embedding model piece by piece took about 70 ms.
        std::mem::forget(index);
        std::mem::forget(embedder);
        std::mem::forget(brief);
        std::mem::forget(ready);
        Ok(ExitCode::SUCCESS)
    })
}

/// How the brief's tokens are counted: the smart model's own tokenizer when it is embedded and
/// pulled (loaded without pulling), tiktoken's o200k_base otherwise.
type Counter = Box<dyn Fn(&str) -> usize>;

/// The smart model's tokenizer, if it is embedded and pulled (its vocabulary alone: loading
/// the weights to count tokens would cost seconds).
fn load_tokenizer(smart: &str) -> Option<Result<aimos_local::Tokenizer, String>> {
    if is_remote(smart) {
        return None;
    }
    let options = LoadOptions { pull_if_missing: false, ..LoadOptions::default() };
    Some(aimos_local::tokenizer(smart, &options, &mut NoProgress).map_err(|err| err.to_string()))
}

fn counter_for(
    smart: &str,
    tokenizer: Option<Result<aimos_local::Tokenizer, String>>,
) -> (Counter, String) {
    match tokenizer {
        Some(Ok(tokenizer)) => {
            return (
                Box::new(move |text| tokenizer.count(text)),
                format!("the tokenizer of {smart}"),
            );
        }
        Some(Err(err)) => eprintln!("note: counting tokens with tiktoken (o200k_base): {err}"),
        None => {}
    }
    (Box::new(count_tokens), "tiktoken o200k_base".into())
}
