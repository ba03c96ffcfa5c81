//! The context of a task: reading it from disk, cutting it into chunks, finding what matters
//! to a problem, and fitting it into a model's token budget.
//!
//! - [`ingest`] reads files, folders and stdin into [`Document`]s.
//! - [`Index`] cuts documents into chunks (by syntax with tree-sitter for Rust, Python,
//!   JavaScript, TypeScript, Go and Java; by sections in Markdown; by line windows otherwise)
//!   and counts their terms; [`Index::open`] keeps a cache per tree on disk.
//! - [`distill`] builds the [`Brief`] the smart model sees; [`pack`] fits whole documents into
//!   an executor's window.
//! - [`redact`] replaces secrets with typed placeholders.
//!
//! It knows nothing of models or storage; token counts come from a function the caller passes
//! (the target model's tokenizer where known).

pub mod anchor;
pub mod brief;
mod cache;
pub mod chunk;
pub mod dense;
pub mod edit;
pub mod index;
pub mod redact;
mod walk;
pub mod workspace;

pub use brief::{
    Brief, DistillOptions, Evidence, Hints, Rerank, distill, distill_dense, distill_with,
    fit_problem,
};
pub use chunk::{Chunk, ChunkKind, Chunker, Language};
pub use index::{File, Index, OpenReport};
pub use redact::{RedactPolicy, Redacted, redact};
pub use workspace::{Workspace, WorkspaceError};

use std::io::Read;
use std::path::PathBuf;

/// One file (or stdin) of context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Where the text came from, as the user named it (`src/main.rs`, `-` for stdin).
    pub path: String,
    pub text: String,
}

/// A file that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// Limits on what [`ingest`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
    /// Reading stops (and the rest is skipped) once this much text has been read.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 1 << 20, max_total_bytes: 64 << 20 }
    }
}

/// What [`ingest`] read and what it left.
#[derive(Debug, Default, Clone)]
pub struct Ingested {
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

/// A path that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("context path {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads files and folders (recursively, in sorted order, honouring `.gitignore`, skipping
/// hidden entries and build and dependency folders) and `-` (stdin). Binary, non-UTF-8 and
/// oversized files are skipped and listed, never an error.
pub fn ingest(paths: &[PathBuf], limits: Limits) -> Result<Ingested, IngestError> {
    let mut out = Ingested::default();
    let mut total = 0u64;
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| IngestError::Io { path: path.clone(), source })?;
            total += text.len() as u64;
            out.documents.push(Document { path: "-".into(), text });
            continue;
        }
        let mut found = Vec::new();
        walk::walk(std::slice::from_ref(path), limits, &mut out.skipped, &mut |file| {
            if total + file.size > limits.max_total_bytes {
                return false;
            }
            total += file.size;
            found.push(file);
            true
        })?;
        for file in found {
            match index::read_text(&file.source) {
                Ok(text) => out.documents.push(Document { path: file.path, text }),
                Err(reason) => out.skipped.push(Skipped { path: file.path, reason }),
            }
        }
    }
    Ok(out)
}

/// Text fitted into a budget, with an account of what did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub text: String,
    pub tokens: usize,
    /// Paths included whole.
    pub included: Vec<String>,
    /// Paths included in part (cut to fit).
    pub truncated: Vec<String>,
    /// Paths left out.
    pub left_out: Vec<String>,
    /// Excerpts shown in place of whole files ([`focus`]); 0 when files are whole or cut.
    pub excerpts: usize,
}

impl Packed {
    /// A sentence saying what was cut or left out, if anything was (at most five paths named
    /// per list).
    pub fn note(&self) -> Option<String> {
        if self.truncated.is_empty() && self.left_out.is_empty() {
            return None;
        }
        let list = |paths: &[String]| {
            let mut text = paths.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if paths.len() > 5 {
                text.push_str(&format!(" and {} more", paths.len() - 5));
            }
            text
        };
        let mut parts = Vec::new();
        if self.excerpts > 0 {
            parts.push(format!(
                "focused: {} excerpt{} ({} tokens) from {}",
                self.excerpts,
                if self.excerpts == 1 { "" } else { "s" },
                self.tokens,
                list(&self.truncated)
            ));
        } else if !self.truncated.is_empty() {
            parts.push(format!("cut to fit: {}", list(&self.truncated)));
        }
        if !self.left_out.is_empty() {
            parts.push(format!(
                "left out {} of {} files: {}",
                self.left_out.len(),
                self.included.len() + self.truncated.len() + self.left_out.len(),
                list(&self.left_out)
            ));
        }
        Some(parts.join("; "))
    }
}

/// Fits `documents` into `budget` tokens, most relevant to `problem` first (by their best
/// chunk, as [`distill`] ranks them), each under a
/// `### path` header. A document that does not fit whole is cut at a line boundary when at
/// least a few lines of it fit; otherwise it is left out.
pub fn pack(
    documents: &[Document],
    problem: &str,
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Packed {
    let index = Index::from_documents(documents);
    pack_ranked(documents, &file_relevance(problem, &index), budget, count)
}

/// [`pack`] with the documents' relevance already known ([`file_relevance`] over an index of
/// the same documents, in the same order), for callers that pack one context several times.
pub fn pack_ranked(
    documents: &[Document],
    relevance: &[f64],
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Packed {
    let mut order: Vec<(usize, f64)> =
        (0..documents.len()).map(|i| (i, relevance.get(i).copied().unwrap_or(0.0))).collect();
    // Most relevant first; ties keep the order the user gave.
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut packed = Packed {
        text: String::new(),
        tokens: 0,
        included: vec![],
        truncated: vec![],
        left_out: vec![],
        excerpts: 0,
    };
    for (idx, _) in order {
        let doc = &documents[idx];
        let section = format!("### {}\n{}\n\n", doc.path, doc.text.trim_end());
        let tokens = count(&section);
        if packed.tokens + tokens <= budget {
            packed.text.push_str(&section);
            packed.tokens += tokens;
            packed.included.push(doc.path.clone());
            continue;
        }
        let room = budget.saturating_sub(packed.tokens);
        match cut_to_fit(doc, room, count) {
            Some((section, tokens)) => {
                packed.text.push_str(&section);
                packed.tokens += tokens;
                packed.truncated.push(doc.path.clone());
            }
            None => packed.left_out.push(doc.path.clone()),
        }
    }
    packed
}

/// The parts of the context most relevant to `problem` within about `budget` tokens, as the
/// distiller picks them (a map of the files, then excerpts, most relevant first), in place of
/// whole files: for an executor that a consultant's insight already points at what matters.
/// Files with excerpts are listed as `truncated`, the others as `left_out`.
pub fn focus(problem: &str, index: &Index, budget: usize, count: &dyn Fn(&str) -> usize) -> Packed {
    // The distiller's budget covers the problem as well; the problem is not part of the text.
    let options = DistillOptions { budget: budget + count(problem) + 8, redact: false };
    let brief = distill(problem, index, &options, count);
    let text = brief.render_context().trim_start().to_owned();
    let mut shown: Vec<String> = Vec::new();
    for evidence in &brief.evidence {
        if !shown.contains(&evidence.path) {
            shown.push(evidence.path.clone());
        }
    }
    let left_out =
        index.files().iter().map(|f| f.relative.clone()).filter(|p| !shown.contains(p)).collect();
    Packed {
        tokens: if text.is_empty() { 0 } else { count(&text) },
        text,
        included: vec![],
        truncated: shown,
        left_out,
        excerpts: brief.evidence.len(),
    }
}

/// The longest head of `doc` (whole lines) whose section fits in `room` tokens, if it has at
/// least three lines.
fn cut_to_fit(
    doc: &Document,
    room: usize,
    count: &dyn Fn(&str) -> usize,
) -> Option<(String, usize)> {
    let lines: Vec<&str> = doc.text.lines().collect();
    let section =
        |n: usize| format!("### {} (first {n} lines)\n{}\n\n", doc.path, lines[..n].join("\n"));
    // Binary search on the number of lines.
    let (mut lo, mut hi) = (0usize, lines.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if count(&section(mid)) <= room { lo = mid } else { hi = mid - 1 }
    }
    (lo >= 3).then(|| {
        let text = section(lo);
        let tokens = count(&text);
        (text, tokens)
    })
}

/// How relevant each file of `index` is to the problem: the score of its best chunk, as the
/// distiller ranks chunks (BM25, anchors, tests below the code they test).
pub fn file_relevance(problem: &str, index: &Index) -> Vec<f64> {
    let scores = brief::score(problem, index);
    (0..index.files().len() as u32)
        .map(|file| {
            index.file_chunks(file).map(|id| scores[id as usize] as f64).fold(0.0, f64::max)
        })
        .collect()
}

/// Tokens of `text` in OpenAI's `o200k_base` encoding (tiktoken): the count for models whose
/// own tokenizer is not at hand (hosted models). The tables load once per process.
pub fn count_tokens(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len()
}

/// A rough token count (four characters a token), for tests and quick estimates.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn doc(path: &str, text: &str) -> Document {
        Document { path: path.into(), text: text.into() }
    }

    #[test]
    fn the_most_relevant_document_goes_first_and_the_rest_is_accounted_for() {
        let docs = vec![
            doc("README.md", &"general words about the project ".repeat(40)),
            doc(
                "src/parser.rs",
                "fn parse_header(input: &str) -> Header { todo }\nfn parse_body() {}\n",
            ),
            doc("src/big.rs", &"let x = 1;\n".repeat(500)),
        ];
        let packed = pack(&docs, "parse_header panics on an empty input", 200, &estimate_tokens);
        assert!(packed.text.starts_with("### src/parser.rs\n"), "{}", packed.text);
        assert!(packed.tokens <= 200);
        let mut all: Vec<&String> =
            packed.included.iter().chain(&packed.truncated).chain(&packed.left_out).collect();
        all.sort();
        assert_eq!(all, ["README.md", "src/big.rs", "src/parser.rs"]);
        assert!(packed.note().is_some());
    }

    #[test]
    fn a_document_that_does_not_fit_is_cut_at_a_line_boundary() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let packed = pack(&[doc("log.txt", &text)], "why", 60, &estimate_tokens);
        assert_eq!(packed.truncated, ["log.txt"]);
        assert!(packed.tokens <= 60, "{}", packed.tokens);
        assert!(packed.text.contains("line 0\nline 1\n"), "{}", packed.text);
        assert!(packed.text.starts_with("### log.txt (first "), "{}", packed.text);
    }

    #[test]
    fn focus_shows_the_relevant_excerpt_of_a_large_file_within_the_budget() {
        // A large module whose one relevant function sits in the middle, and a second file.
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "def helper_{i}(value, scale=1):\n    return value * scale\n\n"
            ));
        }
        text.push_str("def open_archive(path, mode='rb', level=9):\n    return Archive(path, mode, level)\n\n");
        for i in 200..400 {
            text.push_str(&format!(
                "def helper_{i}(value, scale=1):\n    return value * scale\n\n"
            ));
        }
        let docs = vec![doc("archive.py", &text), doc("README.md", "An archive library.\n")];
        let index = Index::from_documents(&docs);
        let problem = "What is the default of `level` in open_archive?";
        let whole = pack(&docs, problem, 100_000, &estimate_tokens);
        let focused = focus(problem, &index, 300, &estimate_tokens);
        assert!(
            focused.text.contains("def open_archive(path, mode='rb', level=9)"),
            "{}",
            focused.text
        );
        assert!(focused.tokens <= 300, "{}", focused.tokens);
        assert!(focused.tokens * 10 < whole.tokens, "{} vs {}", focused.tokens, whole.tokens);
        assert!(focused.excerpts >= 1);
        assert_eq!(focused.truncated[0], "archive.py");
        assert!(!focused.text.contains("Problem:"), "the problem is not part of the context");
        let note = focused.note().expect("a note");
        assert!(note.starts_with("focused: "), "{note}");
    }

    #[test]
    fn ingest_reads_text_and_lists_what_it_skips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("src")).expect("mkdir");
        fs::create_dir_all(root.join("target")).expect("mkdir");
        fs::create_dir_all(root.join(".git")).expect("mkdir");
        fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("write");
        fs::write(root.join("image.png"), [0x89, b'P', b'N', b'G', 0, 0, 1]).expect("write");
        fs::write(root.join("huge.log"), vec![b'a'; 5000]).expect("write");
        fs::write(root.join("target/out.rs"), "built").expect("write");
        fs::write(root.join(".git/HEAD"), "ref").expect("write");
        let limits = Limits { max_file_bytes: 4096, ..Limits::default() };
        let ingested = ingest(&[root.to_owned()], limits).expect("ingest");
        let read: Vec<&str> = ingested.documents.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(read.len(), 1);
        assert!(read[0].ends_with("src/main.rs"), "{read:?}");
        let mut reasons: Vec<String> = ingested.skipped.iter().map(|s| s.reason.clone()).collect();
        reasons.sort();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].contains("byte limit per file") && reasons[1] == "binary",
            "{reasons:?}"
        );
    }

    #[test]
    fn gitignored_files_are_left_out_even_outside_a_repository() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::write(root.join(".gitignore"), "secret.txt\ngen/\n").expect("write");
        fs::create_dir_all(root.join("gen")).expect("mkdir");
        fs::write(root.join("gen/out.py"), "x = 1\n").expect("write");
        fs::write(root.join("secret.txt"), "hunter2\n").expect("write");
        fs::write(root.join("kept.py"), "y = 2\n").expect("write");
        let ingested = ingest(&[root.to_owned()], Limits::default()).expect("ingest");
        let read: Vec<&str> = ingested.documents.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(read.len(), 1, "{read:?}");
        assert!(read[0].ends_with("kept.py"), "{read:?}");
    }

    #[test]
    fn a_missing_path_is_an_error_that_names_it() {
        let err =
            ingest(&[PathBuf::from("/no/such/place")], Limits::default()).expect_err("missing");
        assert!(err.to_string().contains("/no/such/place"), "{err}");
    }
}
