//! The searchable form of a task's context: every file cut into chunks, every chunk's terms
//! counted for BM25, symbols by name. Built in memory from documents, or from folders with a
//! cache on disk per set of roots, so that a second brief over the same tree only re-reads the
//! files whose size or modification time changed.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::chunk::{Chunk, ChunkKind, Chunker, Language};
use crate::{Document, IngestError, Limits, Skipped};

/// One file of the context.
#[derive(Debug, Clone)]
pub struct File {
    /// The path as the user named it, joined with the file's place under it (`src/a.rs` when
    /// given `src`).
    pub path: String,
    /// The path relative to the context root it was found under (`a.rs` when given `src`).
    pub relative: String,
    pub language: Language,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 when unknown).
    pub modified: u64,
    pub chunks: Vec<Chunk>,
    /// Per chunk, its terms (by id) and how often each occurs.
    terms: Vec<Vec<(u32, u32)>>,
    /// The text, when it is in memory; otherwise read from `source` when needed.
    text: Option<Arc<str>>,
    source: Option<PathBuf>,
}

impl File {
    /// The file's text: from memory, or read again from disk.
    pub fn text(&self) -> Option<Arc<str>> {
        if let Some(text) = &self.text {
            return Some(Arc::clone(text));
        }
        let text = fs::read_to_string(self.source.as_ref()?).ok()?;
        Some(Arc::from(text))
    }
}

/// Chunks of all files with their term statistics.
#[derive(Debug, Default)]
pub struct Index {
    files: Vec<File>,
    dictionary: Vec<String>,
    lookup: HashMap<String, u32>,
    /// Derived by [`Index::finish`]:
    postings: Vec<Vec<(u32, u32)>>,
    /// (file, chunk within file) of each global chunk id.
    chunk_ref: Vec<(u32, u32)>,
    chunk_len: Vec<u32>,
    average_len: f32,
    /// Lower-cased last segment of each definition's symbol → global chunk ids.
    symbols: HashMap<String, Vec<u32>>,
    /// Per global chunk: whether it is the head of a container whose members are chunks of
    /// their own (a class's signature and docstring, an impl's first line).
    heads: Vec<bool>,
}

/// A chunk's place: its file and the chunk itself.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRef<'a> {
    pub id: u32,
    pub file: &'a File,
    pub file_id: u32,
    pub chunk: &'a Chunk,
}

/// How [`Index::open`] went: what it read and what it took from the cache.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    pub skipped: Vec<Skipped>,
    /// Files parsed in this call.
    pub parsed: usize,
    /// Files whose chunks came from the cache.
    pub cached: usize,
    /// Whether a cache was written back.
    pub saved: bool,
}

impl Index {
    /// Chunks and indexes documents already in memory (their paths serve as relative paths).
    pub fn from_documents(documents: &[Document]) -> Index {
        let mut chunker = Chunker::new();
        let mut index = Index::default();
        for doc in documents {
            let language = Language::of(&doc.path);
            let chunks = chunker.chunk(language, &doc.text);
            let terms = chunk_terms(&doc.text, &chunks);
            let terms = index.intern(terms);
            index.files.push(File {
                path: doc.path.clone(),
                relative: doc.path.clone(),
                language,
                size: doc.text.len() as u64,
                modified: 0,
                chunks,
                terms,
                text: Some(Arc::from(doc.text.as_str())),
                source: None,
            });
        }
        index.finish();
        index
    }

    /// Reads files and folders (honouring `.gitignore`, skipping hidden, build and dependency
    /// folders, binary and oversized files), reusing what `cache_dir` holds for files that did
    /// not change since, and writing the cache back when anything changed.
    pub fn open(
        roots: &[PathBuf],
        limits: Limits,
        cache_dir: Option<&Path>,
    ) -> Result<(Index, OpenReport), IngestError> {
        let roots_key = roots_key(roots);
        let cache_path = cache_dir.map(|dir| dir.join(cache_name(&roots_key)));
        let mut cached = cache_path.as_deref().and_then(crate::cache::load).unwrap_or_default();
        let mut report = OpenReport::default();
        let mut index =
            Index { dictionary: std::mem::take(&mut cached.dictionary), ..Index::default() };
        index.lookup =
            index.dictionary.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut by_source: HashMap<PathBuf, File> =
            cached.files.drain(..).filter_map(|f| Some((f.source.clone()?, f))).collect();

        let mut fresh: Vec<(usize, crate::walk::Found)> = Vec::new();
        let mut total = 0u64;
        let mut order: Vec<Option<File>> = Vec::new();
        crate::walk::walk(roots, limits, &mut report.skipped, &mut |found| {
            if let Some(hit) = by_source
                .remove(&found.source)
                .filter(|f| f.size == found.size && f.modified == found.modified)
            {
                if total + hit.size > limits.max_total_bytes {
                    return false;
                }
                total += hit.size;
                order.push(Some(File { path: found.path, relative: found.relative, ..hit }));
            } else {
                if total + found.size > limits.max_total_bytes {
                    return false;
                }
                total += found.size;
                fresh.push((order.len(), found));
                order.push(None);
            }
            true
        })?;
        report.cached = order.iter().filter(|f| f.is_some()).count();

        // Parse what changed, on every core; intern terms on this thread.
        let parsed = parse_all(fresh, &mut report.skipped);
        report.parsed = parsed.len();
        for (slot, found, text, chunks, terms) in parsed {
            let terms = index.intern(terms);
            order[slot] = Some(File {
                path: found.path,
                language: Language::of(&found.relative),
                relative: found.relative,
                size: found.size,
                modified: found.modified,
                chunks,
                terms,
                text: Some(Arc::from(text)),
                source: Some(found.source),
            });
        }
        index.files = order.into_iter().flatten().collect();
        let changed = report.parsed > 0 || !by_source.is_empty() || cached.roots != roots_key;
        index.finish();
        if changed && let Some(path) = &cache_path {
            report.saved = crate::cache::save(path, &roots_key, &index).is_ok();
        }
        Ok((index, report))
    }

    pub fn files(&self) -> &[File] {
        &self.files
    }

    pub fn chunk_count(&self) -> usize {
        self.chunk_ref.len()
    }

    pub fn chunk(&self, id: u32) -> ChunkRef<'_> {
        let (file_id, chunk) = self.chunk_ref[id as usize];
        let file = &self.files[file_id as usize];
        ChunkRef { id, file, file_id, chunk: &file.chunks[chunk as usize] }
    }

    /// The first global chunk id of each file, for iterating a file's chunks.
    pub fn file_chunks(&self, file_id: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.chunk_ref.partition_point(|&(f, _)| f < file_id) as u32;
        let n = self.files[file_id as usize].chunks.len() as u32;
        first..first + n
    }

    /// BM25 scores of every chunk against weighted query terms.
    pub fn bm25(&self, query: &[(String, f32)]) -> Vec<f32> {
        const K1: f32 = 1.2;
        const B: f32 = 0.75;
        let mut scores = vec![0f32; self.chunk_ref.len()];
        let n = self.chunk_ref.len() as f32;
        for (term, weight) in query {
            let Some(&id) = self.lookup.get(term) else { continue };
            let Some(postings) = self.postings.get(id as usize) else { continue };
            let df = postings.len() as f32;
            if df == 0.0 {
                continue;
            }
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(chunk, tf) in postings {
                let tf = tf as f32;
                let len = self.chunk_len[chunk as usize] as f32;
                scores[chunk as usize] += weight * idf * tf * (K1 + 1.0)
                    / (tf + K1 * (1.0 - B + B * len / self.average_len));
            }
        }
        scores
    }

    /// Chunks that hold every one of `terms` (already in their indexed form).
    pub fn chunks_with_all(&self, terms: &[String]) -> Vec<u32> {
        let mut lists: Vec<&Vec<(u32, u32)>> = Vec::new();
        for term in terms {
            match self.lookup.get(term).and_then(|&id| self.postings.get(id as usize)) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let Some((first, rest)) = lists.split_first() else { return Vec::new() };
        first
            .iter()
            .map(|&(chunk, _)| chunk)
            .filter(|chunk| rest.iter().all(|l| l.binary_search_by_key(chunk, |&(c, _)| c).is_ok()))
            .collect()
    }

    /// Whether chunk `id` is the head of a container whose members follow as chunks of their
    /// own.
    pub fn is_container_head(&self, id: u32) -> bool {
        self.heads.get(id as usize).copied().unwrap_or(false)
    }

    /// Definitions whose name (last segment) is `name`, case-insensitively.
    pub fn definitions_named(&self, name: &str) -> &[u32] {
        self.symbols.get(&name.to_lowercase()).map(Vec::as_slice).unwrap_or_default()
    }

    pub(crate) fn dictionary(&self) -> &[String] {
        &self.dictionary
    }

    pub(crate) fn file_terms(file: &File) -> &[Vec<(u32, u32)>] {
        &file.terms
    }

    pub(crate) fn file_source(file: &File) -> Option<&Path> {
        file.source.as_deref()
    }

    /// A file as the cache stores it, without its text.
    pub(crate) fn cached_file(
        source: PathBuf,
        language: Language,
        size: u64,
        modified: u64,
        chunks: Vec<Chunk>,
        terms: Vec<Vec<(u32, u32)>>,
    ) -> File {
        File {
            path: String::new(),
            relative: String::new(),
            language,
            size,
            modified,
            chunks,
            terms,
            text: None,
            source: Some(source),
        }
    }

    fn intern(&mut self, chunks: Vec<Vec<(String, u32)>>) -> Vec<Vec<(u32, u32)>> {
        chunks
            .into_iter()
            .map(|terms| {
                terms
                    .into_iter()
                    .map(|(term, tf)| {
                        let next = self.dictionary.len() as u32;
                        let id = *self.lookup.entry(term).or_insert_with_key(|term| {
                            self.dictionary.push(term.clone());
                            next
                        });
                        (id, tf)
                    })
                    .collect()
            })
            .collect()
    }

    /// Builds the postings, lengths and symbol table from the files.
    fn finish(&mut self) {
        self.postings = vec![Vec::new(); self.dictionary.len()];
        self.chunk_ref.clear();
        self.chunk_len.clear();
        self.symbols.clear();
        self.heads.clear();
        for (file_id, file) in self.files.iter().enumerate() {
            for (chunk_id, (chunk, terms)) in file.chunks.iter().zip(&file.terms).enumerate() {
                let global = self.chunk_ref.len() as u32;
                self.chunk_ref.push((file_id as u32, chunk_id as u32));
                let head = chunk.kind == ChunkKind::Definition
                    && chunk.symbol.as_deref().is_some_and(|symbol| {
                        file.chunks
                            .get(chunk_id + 1)
                            .and_then(|next| next.symbol.as_deref())
                            .is_some_and(|next| {
                                next.strip_prefix(symbol).is_some_and(|rest| {
                                    rest.starts_with('.') || rest.starts_with("::")
                                })
                            })
                    });
                self.heads.push(head);
                self.chunk_len.push(terms.iter().map(|&(_, tf)| tf).sum());
                for &(term, tf) in terms {
                    if let Some(list) = self.postings.get_mut(term as usize) {
                        list.push((global, tf));
                    }
                }
                if chunk.kind == ChunkKind::Definition
                    && let Some(name) = chunk.name()
                {
                    let list = self.symbols.entry(name.to_lowercase()).or_default();
                    // A long definition split in windows is listed once per window.
                    list.push(global);
                }
            }
        }
        let total: u64 = self.chunk_len.iter().map(|&l| l as u64).sum();
        self.average_len = (total as f32 / self.chunk_len.len().max(1) as f32).max(1.0);
    }
}

type Parsed = (usize, crate::walk::Found, String, Vec<Chunk>, Vec<Vec<(String, u32)>>);

/// Reads, chunks and counts the terms of files, on as many threads as there are cores.
fn parse_all(fresh: Vec<(usize, crate::walk::Found)>, skipped: &mut Vec<Skipped>) -> Vec<Parsed> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let queue = std::sync::Mutex::new(fresh.into_iter());
    let mut parsed: Vec<Parsed> = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut chunker = Chunker::new();
                    let (mut done, mut failed) = (Vec::new(), Vec::new());
                    while let Some((slot, found)) = queue.lock().ok().and_then(|mut q| q.next()) {
                        match read_text(&found.source) {
                            Ok(text) => {
                                let chunks = chunker.chunk(Language::of(&found.relative), &text);
                                let terms = chunk_terms(&text, &chunks);
                                done.push((slot, found, text, chunks, terms));
                            }
                            Err(reason) => failed.push(Skipped { path: found.path, reason }),
                        }
                    }
                    (done, failed)
                })
            })
            .collect();
        for worker in workers {
            if let Ok((done, failed)) = worker.join() {
                parsed.extend(done);
                skipped.extend(failed);
            }
        }
    });
    parsed.sort_by_key(|p| p.0);
    parsed
}

/// A file's text, or why it is not text.
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|err| format!("unreadable: {err}"))?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err("binary".into());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// Modification time in nanoseconds since the epoch.
pub(crate) fn modified_nanos(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The roots as the cache records them: absolute, in the order given.
fn roots_key(roots: &[PathBuf]) -> Vec<String> {
    roots
        .iter()
        .map(|r| fs::canonicalize(r).unwrap_or_else(|_| r.clone()).display().to_string())
        .collect()
}

/// The cache file's name for a set of roots.
fn cache_name(roots_key: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    roots_key.hash(&mut hasher);
    format!("{:016x}.idx", hasher.finish())
}

/// Per chunk, each term and its count.
fn chunk_terms(text: &str, chunks: &[Chunk]) -> Vec<Vec<(String, u32)>> {
    let starts = line_starts(text);
    chunks
        .iter()
        .map(|chunk| {
            let slice = line_slice(text, &starts, chunk.start_line, chunk.end_line);
            let mut counts: HashMap<String, u32> = HashMap::new();
            terms(slice, &mut |term| {
                if let Some(n) = counts.get_mut(term) {
                    *n += 1;
                } else {
                    counts.insert(term.to_owned(), 1);
                }
            });
            if let Some(symbol) = &chunk.symbol {
                // A definition's own name counts extra: it is what the chunk is about.
                terms(symbol, &mut |term| *counts.entry(term.to_owned()).or_insert(0) += 2);
            }
            counts.into_iter().collect()
        })
        .collect()
}

/// Byte offset of the start of each line.
pub(crate) fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// Lines `first..=last` (1-based) of `text`, without the final newline.
pub(crate) fn line_slice<'a>(text: &'a str, starts: &[usize], first: u32, last: u32) -> &'a str {
    let from = starts.get(first.saturating_sub(1) as usize).copied().unwrap_or(text.len());
    let to = starts.get(last as usize).copied().unwrap_or(text.len()).max(from);
    text[from..to].trim_end_matches('\n')
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "if",
    "in", "into", "is", "it", "its", "of", "on", "or", "so", "that", "the", "their", "then",
    "there", "these", "this", "to", "was", "were", "when", "which", "will", "with", "we", "you",
    "i", "me", "my", "our", "not", "no", "do", "does", "did", "can", "should", "would", "could",
];

/// The search terms of a text: words lower-cased and stemmed (`unquotes` → `unquot`), and for
/// `snake_case` and `camelCase` identifiers the whole identifier as written, the stems of its
/// parts, and each pair of adjacent parts joined (`get_matching_blocks` → `matchblock`), so that
/// the words `matching blocks` find it; numbers and stop words left out.
pub fn terms(text: &str, emit: &mut dyn FnMut(&str)) {
    words(text, &mut |word, lower| {
        let compound = word.contains('_')
            || word.chars().skip(1).any(|c| c.is_uppercase())
                && word.chars().any(|c| c.is_lowercase());
        if !compound {
            emit(&stem(lower));
            return;
        }
        emit(lower);
        let mut previous: Option<String> = None;
        for part in split_identifier(word) {
            let part = part.to_lowercase();
            if part.bytes().all(|b| b.is_ascii_digit()) {
                previous = None;
                continue;
            }
            let stemmed = stem(&part);
            if let Some(previous) = &previous {
                emit(&stem(&format!("{previous}{stemmed}")));
            }
            if part.len() >= 2 && part != lower {
                emit(&stemmed);
            }
            previous = Some(stemmed);
        }
    });
}

/// The terms of a query: [`terms`], plus each pair of adjacent words joined the way
/// identifier parts are (`rolls over` → `rollov`, as `shouldRollover` is indexed), so that
/// words written apart find the identifier that runs them together.
pub fn query_terms(text: &str, emit: &mut dyn FnMut(&str)) {
    terms(text, emit);
    compounds(text, emit);
}

/// The pairs of adjacent words of a text, joined as [`query_terms`] joins them.
pub fn compounds(text: &str, emit: &mut dyn FnMut(&str)) {
    for sentence in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ' ' || c == '-'))
    {
        let mut previous: Option<String> = None;
        for word in sentence.split([' ', '-']) {
            let lower = word.to_lowercase();
            let plain = lower.len() >= 2
                && lower.chars().all(char::is_alphabetic)
                && !STOPWORDS.contains(&lower.as_str());
            if !plain {
                previous = None;
                continue;
            }
            let stemmed = stem(&lower);
            if let Some(previous) = &previous {
                emit(&stem(&format!("{previous}{stemmed}")));
            }
            previous = Some(stemmed);
        }
    }
}

/// The words of a text worth searching for, each as written and lower-cased.
fn words(text: &str, emit: &mut dyn FnMut(&str, &str)) {
    let mut lower = String::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let word = word.trim_matches('_');
        if word.len() < 2 || word.len() > 64 || word.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        if STOPWORDS.contains(&lower.as_str()) {
            continue;
        }
        emit(word, &lower);
    }
}

/// Whether a lower-cased word is too common to search for.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// The English Snowball stem of a lower-cased word (other scripts pass through unchanged).
pub fn stem(word: &str) -> String {
    static STEMMER: std::sync::LazyLock<rust_stemmers::Stemmer> = std::sync::LazyLock::new(|| {
        rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English)
    });
    if !word.is_ascii() {
        return word.to_owned();
    }
    STEMMER.stem(word).into_owned()
}

/// `parseHTTPHeader_v2` → `parse`, `HTTP`, `Header`, `v2`.
fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in word.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let prev = chars[i - 1].1;
            let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
            let boundary = (prev.is_lowercase() || prev.is_ascii_digit()) && c.is_uppercase()
                || prev.is_uppercase() && c.is_uppercase() && next_lower;
            if boundary {
                parts.push(&piece[start..at]);
                start = at;
            }
        }
        parts.push(&piece[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        terms(text, &mut |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn terms_split_identifiers_and_drop_noise() {
        assert_eq!(
            all_terms("the parseHTTPHeader_v2 of 42 items"),
            [
                "parsehttpheader_v2",
                "pars",
                "parshttp",
                "http",
                "httpheader",
                "header",
                "headerv2",
                "v2",
                "item"
            ]
        );
        assert_eq!(all_terms("raw_decode"), ["raw_decode", "raw", "rawdecod", "decod"]);
    }

    #[test]
    fn word_forms_and_words_written_apart_meet_the_identifiers() {
        let has = |text: &str, query: &str| {
            let indexed = all_terms(text);
            let mut asked = Vec::new();
            query_terms(query, &mut |t| asked.push(t.to_owned()));
            asked.iter().any(|t| indexed.contains(t))
        };
        // Stems: "unquotes" finds `unquote`, "decoding" finds `decode`.
        assert!(has("def unquote(s):", "the value it unquotes is wrong"));
        assert!(has("fn decode(input: &str)", "decoding fails"));
        // Compounds: two words find the identifier that runs them together.
        let mut asked = Vec::new();
        query_terms("when the log rolls over", &mut |t| asked.push(t.to_owned()));
        assert!(all_terms("def shouldRollover(self, record):").iter().any(|t| asked.contains(t)));
        let mut compound = Vec::new();
        compounds("which function computes the matching blocks", &mut |t| {
            compound.push(t.to_owned())
        });
        assert!(all_terms("def get_matching_blocks(self):").iter().any(|t| compound.contains(t)));
        // Words in other scripts pass through whole.
        assert_eq!(all_terms("解析 données"), ["解析", "données"]);
    }

    #[test]
    fn bm25_ranks_the_chunk_about_the_query_first_and_symbols_are_found() {
        let docs = vec![
            Document {
                path: "src/stack.rs".into(),
                text: "pub fn peek(items: &[u32]) -> u32 {\n    items[items.len() - 1]\n}\n\npub fn push(items: &mut Vec<u32>, x: u32) {\n    items.push(x)\n}\n".into(),
            },
            Document { path: "README.md".into(), text: "# Stack\nA stack of numbers.\n".into() },
        ];
        let index = Index::from_documents(&docs);
        assert_eq!(index.chunk_count(), 3);
        let scores = index.bm25(&[("peek".into(), 1.0)]);
        let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0);
        assert_eq!(index.chunk(best as u32).chunk.symbol.as_deref(), Some("peek"));
        assert_eq!(index.definitions_named("PUSH").len(), 1);
        assert_eq!(index.file_chunks(1).collect::<Vec<_>>(), [2]);
    }
}
