//! The brief: what the smart model sees of a task. The problem (its head and, mostly, its end
//! when it is long), a short map of the context (files with their top-level symbols), and the
//! chunks that matter most — found by BM25 and by anchors (stack frames, compiler references,
//! paths and identifiers the problem names) — packed by relevance into the token budget, each
//! under a `path:first-last` header, never over it.

use std::collections::HashMap;

use crate::anchor::{self, Frame};
use crate::index::{Index, compounds, line_slice, line_starts, query_terms, terms};
use crate::redact::{Redacted, redact};

/// Knobs of [`distill`].
#[derive(Debug, Clone, Copy)]
pub struct DistillOptions {
    /// Most tokens of the whole brief.
    pub budget: usize,
    /// Redact secrets from everything in the brief.
    pub redact: bool,
}

/// A range of lines the brief quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Relative to the context root the file was found under.
    pub path: String,
    /// The path as the user named it (the root joined with `path`): what the brief shows.
    pub shown_path: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// Relevance: BM25 plus anchor bonuses; comparable within one brief only.
    pub score: f32,
    pub text: String,
}

/// Exactly what the smart model receives, and its account.
#[derive(Debug, Clone, Default)]
pub struct Brief {
    pub problem: String,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// Tokens of [`Brief::render`], counted with the caller's counter.
    pub tokens: usize,
    /// Tokens of the user's context the brief carries (summary and evidence).
    pub context_tokens: usize,
    pub redactions: Redacted,
    /// Lines of the problem left out to fit.
    pub problem_lines_cut: usize,
}

const PROBLEM_HEADER: &str = "Problem:\n";
const SUMMARY_HEADER: &str =
    "\n\nContext map (files and their top-level symbols, most relevant first):\n";
const EVIDENCE_HEADER: &str = "\n\nRelevant context:\n";

impl Brief {
    /// The brief as text.
    pub fn render(&self) -> String {
        let mut out = format!("{PROBLEM_HEADER}{}", self.problem.trim_end());
        out.push_str(&self.render_context());
        out.push('\n');
        out
    }

    /// The map and the excerpts without the problem, each under its header (empty when the
    /// brief carries no context).
    pub fn render_context(&self) -> String {
        let mut out = String::new();
        if !self.summary.is_empty() {
            out.push_str(SUMMARY_HEADER);
            out.push_str(self.summary.trim_end());
        }
        if !self.evidence.is_empty() {
            out.push_str(EVIDENCE_HEADER);
            for (i, e) in self.evidence.iter().enumerate() {
                if i > 0 {
                    out.push_str("\n\n");
                }
                out.push_str(&block(e));
            }
        }
        out
    }

    /// What was included, in one line (for a run's notes).
    pub fn note(&self) -> String {
        let mut note = format!(
            "brief of {} tokens: {} excerpt{} from {} file{}",
            self.tokens,
            self.evidence.len(),
            if self.evidence.len() == 1 { "" } else { "s" },
            distinct_files(&self.evidence),
            if distinct_files(&self.evidence) == 1 { "" } else { "s" },
        );
        if let Some(first) = self.evidence.first() {
            note.push_str(&format!(
                ", first {}:{}-{}",
                first.shown_path, first.start_line, first.end_line
            ));
        }
        if self.problem_lines_cut > 0 {
            note.push_str(&format!("; {} lines of the problem left out", self.problem_lines_cut));
        }
        note
    }
}

fn distinct_files(evidence: &[Evidence]) -> usize {
    let mut paths: Vec<&str> = evidence.iter().map(|e| e.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    paths.len()
}

fn block(e: &Evidence) -> String {
    format!("### {}:{}-{}\n{}", e.shown_path, e.start_line, e.end_line, e.text.trim_end())
}

/// What a model expects the code behind a problem to be called, to search for beside the
/// problem's own words: identifiers, file names and phrases. Only what the index holds counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    pub identifiers: Vec<String>,
    pub files: Vec<String>,
    pub phrases: Vec<String>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.identifiers.is_empty() && self.files.is_empty() && self.phrases.is_empty()
    }
}

/// Builds the brief of `problem` over `index` within `options.budget` tokens of `count`.
pub fn distill(
    problem: &str,
    index: &Index,
    options: &DistillOptions,
    count: &dyn Fn(&str) -> usize,
) -> Brief {
    distill_with(problem, &Hints::default(), index, options, count)
}

/// [`distill`], searching for `hints` too.
pub fn distill_with(
    problem: &str,
    hints: &Hints,
    index: &Index,
    options: &DistillOptions,
    count: &dyn Fn(&str) -> usize,
) -> Brief {
    distill_dense(problem, hints, index, options, count, None)
}

/// How many of the words' best chunks an embedding model re-ranks, and how much its cosine
/// weighs against their words' score (both scaled to 0–1).
#[derive(Clone, Copy)]
pub struct Rerank<'a> {
    pub embedder: &'a dyn crate::dense::Embed,
    pub candidates: usize,
    pub weight: f32,
    /// Characters of a chunk the embedding model reads: its path and its head (a
    /// definition's name, signature and first lines of documentation).
    pub head_chars: usize,
}

impl<'a> Rerank<'a> {
    /// The settings measured best on the recall benchmark's tuning half (docs/distill.md).
    pub fn new(embedder: &'a dyn crate::dense::Embed) -> Rerank<'a> {
        Rerank {
            embedder,
            candidates: RERANK_CANDIDATES,
            weight: RERANK_WEIGHT,
            head_chars: RERANK_HEAD_CHARS,
        }
    }
}

pub const RERANK_CANDIDATES: usize = 24;
pub const RERANK_WEIGHT: f32 = 0.5;

pub const RERANK_HEAD_CHARS: usize = 160;

/// Bytes of a chunk counted, per token of room left, before counting all of it: more than any
/// tokenizer's average for code or prose (3 to 5), so that only chunks that cannot fit are cut
/// short.
const PROBE_BYTES_PER_TOKEN: usize = 8;

/// [`distill_with`], with the words' best chunks re-ranked by how near their heads' meaning is
/// to the problem's. A problem that carries a stack trace is left to its frames and words,
/// which name the code exactly. If the embedding model fails, the words' ranking stands.
pub fn distill_dense(
    problem: &str,
    hints: &Hints,
    index: &Index,
    options: &DistillOptions,
    count: &dyn Fn(&str) -> usize,
    rerank: Option<Rerank<'_>>,
) -> Brief {
    let mut brief = Brief::default();
    let clean = |text: &str, brief: &mut Brief| -> String {
        if !options.redact {
            return text.to_owned();
        }
        let redacted = redact(text);
        for (kind, n) in &redacted.found {
            brief.redactions.add(kind, *n);
        }
        redacted.text
    };
    let scrub =
        |text: &str| -> String { if options.redact { redact(text).text } else { text.to_owned() } };
    let budget = options.budget;
    // Ranking comes before any count: it needs no tokenizer, so a caller whose tokenizer is
    // still loading on another thread gets it meanwhile (`aimos distill` does).
    let mut ranked: Vec<u32> = Vec::new();
    let mut scores: Vec<f32> = Vec::new();
    if index.chunk_count() > 0 {
        scores = score_with(problem, hints, index);
        ranked = (0..scores.len() as u32).filter(|&i| scores[i as usize] > 0.0).collect();
        ranked.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
        if let Some(rerank) = rerank
            && anchor::frames(problem).is_empty()
        {
            rerank_by_meaning(problem, index, &mut ranked, &mut scores, &rerank);
        }
    }

    let problem_text = clean(problem, &mut brief);
    let (fitted, cut) = fit_problem(&problem_text, budget / 2, count);
    brief.problem = fitted;
    brief.problem_lines_cut = cut;
    let used = count(&brief.render());
    if used >= budget || index.chunk_count() == 0 {
        brief.tokens = used;
        return fit(brief, budget, count);
    }

    // The map: a tenth of the budget, files in order of their best chunk.
    if index.files().len() > 1 {
        let room = (budget / 10).min(budget.saturating_sub(used));
        let header = count(SUMMARY_HEADER);
        if room > header + 8 {
            brief.summary = clean(&summary(index, &ranked, room - header, count), &mut brief);
        }
    }

    // Evidence: chunks in order of relevance while they fit, then merged where they touch.
    let mut room = budget.saturating_sub(count(&brief.render()) + count(EVIDENCE_HEADER));
    let mut chosen: Vec<(u32, u32, u32, f32)> = Vec::new(); // (file, first, last, score)
    let mut texts: HashMap<u32, (std::sync::Arc<str>, Vec<usize>)> = HashMap::new();
    for &id in ranked.iter().take(400) {
        if room < 24 {
            break;
        }
        let c = index.chunk(id);
        let Some((text, starts)) = file_text(&mut texts, index, c.file_id) else { continue };
        let raw = line_slice(text, starts, c.chunk.start_line, c.chunk.end_line);
        let evidence = |body: String| Evidence {
            path: c.file.relative.clone(),
            shown_path: c.file.path.clone(),
            start_line: c.chunk.start_line,
            end_line: c.chunk.end_line,
            score: 0.0,
            text: body,
        };
        // A chunk many times longer than the room left (a whole class, a long table) is ruled
        // out by counting its first part: a text has at least as many tokens as any prefix of
        // it, less the one word cut in two. Counting whole chunks that cannot fit took most of
        // the brief's time on large codebases.
        let probe = room.saturating_mul(PROBE_BYTES_PER_TOKEN);
        if raw.len() > probe {
            let cut = (0..=probe).rev().find(|&at| raw.is_char_boundary(at)).unwrap_or(0);
            if count(&block(&evidence(scrub(&raw[..cut])))) > room + 1 {
                continue;
            }
        }
        let cost = count(&block(&evidence(scrub(raw)))) + 2;
        if cost <= room {
            room -= cost;
            chosen.push((c.file_id, c.chunk.start_line, c.chunk.end_line, scores[id as usize]));
        }
    }
    let evidence = merge(index, &mut texts, chosen, &mut |text| clean(text, &mut brief));
    brief.evidence = evidence;
    brief.context_tokens = if brief.summary.is_empty() { 0 } else { count(&brief.summary) }
        + brief.evidence.iter().map(|e| count(&e.text)).sum::<usize>();
    brief.tokens = count(&brief.render());
    fit(brief, budget, count)
}

/// Re-orders the first `rerank.candidates` of `ranked` by a mix of their words' score and the
/// cosine between the problem and each chunk's head, then hands them the same scores in the new
/// order, so that everything after them still ranks below.
fn rerank_by_meaning(
    problem: &str,
    index: &Index,
    ranked: &mut [u32],
    scores: &mut [f32],
    rerank: &Rerank<'_>,
) {
    let n = ranked.len().min(rerank.candidates);
    if n < 2 {
        return;
    }
    let mut texts_cache: HashMap<u32, (std::sync::Arc<str>, Vec<usize>)> = HashMap::new();
    let heads: Vec<String> = ranked[..n]
        .iter()
        .map(|&id| {
            let c = index.chunk(id);
            let body = file_text(&mut texts_cache, index, c.file_id)
                .map(|(text, starts)| {
                    line_slice(text, starts, c.chunk.start_line, c.chunk.end_line)
                })
                .unwrap_or_default();
            let head: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            let head: String = head.chars().take(rerank.head_chars).collect();
            format!("{}: {head}", c.file.relative)
        })
        .collect();
    let problem: String = problem.chars().take(2000).collect();
    let mut inputs: Vec<&str> = vec![&problem];
    inputs.extend(heads.iter().map(String::as_str));
    let Ok(vectors) = rerank.embedder.embed(&inputs) else { return };
    let Some((query, heads)) = vectors.split_first() else { return };
    if heads.len() != n {
        return;
    }
    let top = scores[ranked[0] as usize].max(f32::MIN_POSITIVE);
    let mut mixed: Vec<(u32, f32)> = ranked[..n]
        .iter()
        .zip(heads)
        .map(|(&id, head)| {
            let words = scores[id as usize] / top;
            let meaning = crate::dense::cosine(query, head).max(0.0);
            (id, (1.0 - rerank.weight) * words + rerank.weight * meaning)
        })
        .collect();
    mixed.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let old: Vec<f32> = ranked[..n].iter().map(|&id| scores[id as usize]).collect();
    for (at, (id, _)) in mixed.into_iter().enumerate() {
        ranked[at] = id;
        scores[id as usize] = old[at];
    }
}

/// Drops the least relevant evidence, then the map, until the brief fits (the pieces were
/// counted one by one; the whole can count a little differently).
fn fit(mut brief: Brief, budget: usize, count: &dyn Fn(&str) -> usize) -> Brief {
    while brief.tokens > budget {
        if let Some(worst) = (0..brief.evidence.len())
            .min_by(|&a, &b| brief.evidence[a].score.total_cmp(&brief.evidence[b].score))
        {
            let removed = brief.evidence.remove(worst);
            brief.context_tokens = brief.context_tokens.saturating_sub(count(&removed.text));
        } else if !brief.summary.is_empty() {
            brief.context_tokens = brief.context_tokens.saturating_sub(count(&brief.summary));
            brief.summary.clear();
        } else if !brief.problem.is_empty() {
            // Only a budget smaller than the problem's headers gets here.
            let keep = brief.problem.chars().count() * 3 / 4;
            brief.problem = brief.problem.chars().take(keep).collect();
        } else {
            break;
        }
        brief.tokens = count(&brief.render());
    }
    brief
}

fn file_text<'a>(
    texts: &'a mut HashMap<u32, (std::sync::Arc<str>, Vec<usize>)>,
    index: &Index,
    file_id: u32,
) -> Option<(&'a str, &'a [usize])> {
    let entry = match texts.entry(file_id) {
        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::hash_map::Entry::Vacant(entry) => {
            let text = index.files()[file_id as usize].text()?;
            let starts = line_starts(&text);
            entry.insert((text, starts))
        }
    };
    Some((&*entry.0, entry.1.as_slice()))
}

/// Chosen ranges merged per file where they touch or are a line apart; blocks ordered by their
/// best score.
fn merge(
    index: &Index,
    texts: &mut HashMap<u32, (std::sync::Arc<str>, Vec<usize>)>,
    mut chosen: Vec<(u32, u32, u32, f32)>,
    clean: &mut dyn FnMut(&str) -> String,
) -> Vec<Evidence> {
    chosen.sort_by_key(|c| (c.0, c.1));
    let mut merged: Vec<(u32, u32, u32, f32)> = Vec::new();
    for (file, first, last, score) in chosen {
        match merged.last_mut() {
            Some(m) if m.0 == file && first <= m.2 + 2 => {
                m.2 = m.2.max(last);
                m.3 = m.3.max(score);
            }
            _ => merged.push((file, first, last, score)),
        }
    }
    merged.sort_by(|a, b| b.3.total_cmp(&a.3).then((a.0, a.1).cmp(&(b.0, b.1))));
    merged
        .into_iter()
        .filter_map(|(file, first, last, score)| {
            let (text, starts) = file_text(texts, index, file)?;
            Some(Evidence {
                path: index.files()[file as usize].relative.clone(),
                shown_path: index.files()[file as usize].path.clone(),
                start_line: first,
                end_line: last,
                score,
                text: clean(line_slice(text, starts, first, last)),
            })
        })
        .collect()
}

static TEST_WORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\btests?\b|\btesting\b|\bspecs?\b").expect("valid")
});

/// A line a test runner writes around a failure, rather than words of the reporter: a rule
/// with a title (`=== short test summary info ===`), a summary (`FAILED …`, `Ran 5 tests`), or
/// a traceback's detail (indented code and frames, pytest's `E   ` and `>` lines).
static RUNNER_LINE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^(\s|[=_\-!*]{3,}|(FAILED|FAIL|ERROR|PASSED|SKIPPED|XFAIL|OK)\b|Ran \d+ tests?\b|E {2,}|>)",
    )
    .expect("valid")
});

/// Whether the problem is about tests themselves (adding, fixing or reading them), judged by
/// the reporter's words: a test runner's report of a failure is a problem in the code it tests.
fn about_tests(problem: &str) -> bool {
    problem.lines().filter(|line| !RUNNER_LINE.is_match(line)).any(|line| TEST_WORD.is_match(line))
}

/// The weight of a pair of the problem's words joined (`matching blocks` → `matchblock`),
/// against 1 for a word.
const COMPOUND_WEIGHT: f32 = 0.5;
/// What a definition a model expected adds, against the best BM25 score.
const HINTED_DEFINITION: f32 = 0.4;
/// What each chunk of a file a model expected adds, against the best BM25 score.
const HINTED_FILE: f32 = 0.1;
/// The share of its score a container's head keeps.
const CONTAINER_HEAD: f32 = 0.8;
/// … when the problem asks which function, method or code does something.
const CODE_QUESTION_HEAD: f32 = 0.5;

static CODE_QUESTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)\b(which|what|where)\b[^.?!]*\b(function|method|code|routine|handler|helper)\b|\bwhere\s+(is|are|does|do)\b",
    )
    .expect("valid")
});

/// Most characters of a problem that are searched for: a longer one (a whole log) is searched
/// by its head and, mostly, its end, as the brief shows it, so that its time stays bounded.
const SEARCHED_CHARS: usize = 24_000;

fn searched_part(problem: &str) -> std::borrow::Cow<'_, str> {
    let chars = problem.chars().count();
    if chars <= SEARCHED_CHARS {
        return problem.into();
    }
    let head: String = problem.chars().take(SEARCHED_CHARS / 6).collect();
    let tail: String = problem.chars().skip(chars - SEARCHED_CHARS * 5 / 6).collect();
    format!("{head}\n{tail}").into()
}

/// Whether a chunk is a test inside a file of code: a Rust `tests` module's items, a function
/// named `test_…` (Python, Rust) or `TestXxx` (Go).
fn is_test_chunk(chunk: &crate::chunk::Chunk) -> bool {
    let Some(symbol) = chunk.symbol.as_deref() else { return false };
    let name = chunk.name().unwrap_or(symbol);
    symbol == "tests"
        || symbol.ends_with("::tests")
        || symbol.starts_with("tests::")
        || symbol.contains("::tests::")
        || name.starts_with("test_")
        || name
            .strip_prefix("Test")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_uppercase()))
}

/// Whether the problem asks where in the code something happens.
fn asks_for_code(problem: &str) -> bool {
    CODE_QUESTION.is_match(problem)
}

/// Relevance of every chunk: BM25 against the problem's terms (identifiers count double),
/// plus bonuses for anchors, scaled to the best BM25 score so that an anchor always wins.
pub fn score(problem: &str, index: &Index) -> Vec<f32> {
    score_with(problem, &Hints::default(), index)
}

/// [`score`], with a model's hints as weaker anchors: identifiers that name definitions, file
/// names that name files, and phrases searched like the problem's words at half weight.
pub fn score_with(problem: &str, hints: &Hints, index: &Index) -> Vec<f32> {
    let problem = &*searched_part(problem);
    let frames = anchor::frames(problem);
    let identifiers = anchor::identifiers(problem);
    let paths = anchor::paths(problem);

    let mut weights: HashMap<String, f32> = HashMap::new();
    terms(problem, &mut |t| *weights.entry(t.to_owned()).or_insert(0.0) += 1.0);
    compounds(problem, &mut |t| *weights.entry(t.to_owned()).or_insert(0.0) += COMPOUND_WEIGHT);
    for ident in &identifiers {
        terms(ident, &mut |t| *weights.entry(t.to_owned()).or_insert(0.0) += 1.0);
    }
    for phrase in hints.phrases.iter().chain(&hints.identifiers) {
        query_terms(phrase, &mut |t| *weights.entry(t.to_owned()).or_insert(0.0) += 0.5);
    }
    let query: Vec<(String, f32)> =
        weights.iter().map(|(t, w)| (t.clone(), 1.0 + w.min(4.0).ln())).collect();
    let mut scores = index.bm25(&query);
    // A container's head (a class's docstring and fields) gives way to its members, more so
    // when the problem asks which function or method does something.
    let head_factor = if asks_for_code(problem) { CODE_QUESTION_HEAD } else { CONTAINER_HEAD };
    for (id, score) in scores.iter_mut().enumerate() {
        if index.is_container_head(id as u32) {
            *score *= head_factor;
        }
    }
    // Tests repeat the words of what they test; unless the problem is about tests, the code
    // under test comes first, and a test file named by the problem lifts its chunks less.
    let about_tests = about_tests(problem);
    let test_factor =
        |file: &str| if !about_tests && anchor::is_test_path(file) { 0.4 } else { 1.0 };
    if !about_tests {
        for (file_id, file) in index.files().iter().enumerate() {
            let test_file = anchor::is_test_path(&file.relative);
            for id in index.file_chunks(file_id as u32) {
                if test_file || is_test_chunk(index.chunk(id).chunk) {
                    scores[id as usize] *= 0.4;
                }
            }
        }
    }
    let base = scores.iter().copied().fold(1.0f32, f32::max);

    // Quoted messages: the chunks that hold all their words.
    for quote in anchor::quotes(problem) {
        let mut words = Vec::new();
        terms(&quote, &mut |t| {
            if !words.iter().any(|w| w == t) {
                words.push(t.to_owned());
            }
        });
        if words.len() < 2 {
            continue;
        }
        let found = index.chunks_with_all(&words);
        if found.is_empty() || found.len() > 50 {
            continue;
        }
        let weight = base * 0.7 / (found.len() as f32).sqrt();
        for id in found {
            let test = anchor::is_test_path(&index.chunk(id).file.relative);
            scores[id as usize] += if test { weight * 0.4 } else { weight };
        }
    }

    // Frames: the innermost frame that lands in the context matters most.
    let mut rank = 0usize;
    for frame in &frames {
        let Some(file_ids) = best_files(index, &frame.path) else {
            // A function named by a frame in a file not in the context.
            if let Some(function) = &frame.function {
                let defs = index.definitions_named(function);
                if !defs.is_empty() && defs.len() <= 5 {
                    for &id in defs {
                        scores[id as usize] += base * 0.5 / defs.len() as f32;
                    }
                }
            }
            continue;
        };
        let decay = 1.0 / (1.0 + 0.5 * rank as f32);
        rank += 1;
        let share = 1.0 / file_ids.len() as f32;
        for file_id in file_ids {
            apply_frame(index, &mut scores, file_id, frame, base * decay * share);
        }
    }
    // Paths the problem names.
    for path in &paths {
        if let Some(file_ids) = best_files(index, path) {
            for file_id in file_ids {
                let factor = test_factor(&index.files()[file_id as usize].relative);
                for id in index.file_chunks(file_id) {
                    scores[id as usize] += factor * (base * 0.3 + scores[id as usize] * 0.5);
                }
            }
        }
    }
    // Definitions and files a model expected, where the index has them.
    for ident in &hints.identifiers {
        let name = ident.rsplit(['.', ':']).next().unwrap_or(ident);
        let defs = index.definitions_named(name);
        if !defs.is_empty() && defs.len() <= 20 {
            for &id in defs {
                scores[id as usize] += base * HINTED_DEFINITION / (defs.len() as f32).sqrt();
            }
        }
    }
    for path in &hints.files {
        if let Some(file_ids) = best_files(index, path) {
            for file_id in file_ids {
                for id in index.file_chunks(file_id) {
                    scores[id as usize] += base * HINTED_FILE + scores[id as usize] * 0.25;
                }
            }
        }
    }
    // Definitions the problem names.
    for ident in &identifiers {
        let defs = index.definitions_named(ident);
        if !defs.is_empty() {
            for &id in defs {
                scores[id as usize] += base * 0.8 / (defs.len() as f32).sqrt();
            }
        }
    }
    scores
}

fn apply_frame(index: &Index, scores: &mut [f32], file_id: u32, frame: &Frame, weight: f32) {
    for id in index.file_chunks(file_id) {
        let chunk = index.chunk(id).chunk;
        let on_line = frame.line.is_some_and(|l| chunk.contains_line(l));
        let named = frame.function.as_deref().is_some_and(|f| chunk.name() == Some(f));
        scores[id as usize] += weight
            * if on_line {
                2.0
            } else if named {
                1.5
            } else {
                0.1
            };
    }
}

/// The context files a trace path most likely means: those sharing the most trailing path
/// components with it (at least the file name).
fn best_files(index: &Index, path: &str) -> Option<Vec<u32>> {
    let mut best = 0usize;
    let mut files = Vec::new();
    for (id, file) in index.files().iter().enumerate() {
        let matched =
            anchor::path_match(path, &file.relative).max(anchor::path_match(path, &file.path));
        if matched == 0 || matched < best {
            continue;
        }
        if matched > best {
            best = matched;
            files.clear();
        }
        files.push(id as u32);
    }
    (!files.is_empty() && files.len() <= 8).then_some(files)
}

/// One line per file, most relevant first: `path: symbol, symbol, …`, within `room` tokens.
fn summary(index: &Index, ranked: &[u32], room: usize, count: &dyn Fn(&str) -> usize) -> String {
    let mut order: Vec<u32> = Vec::new();
    for &id in ranked {
        let file = index.chunk(id).file_id;
        if !order.contains(&file) {
            order.push(file);
        }
        if order.len() >= 40 {
            break;
        }
    }
    let mut out = String::new();
    let mut used = 0;
    for file_id in order {
        let file = &index.files()[file_id as usize];
        let mut names: Vec<&str> = Vec::new();
        for chunk in file.chunks.iter().filter(|c| c.top_level) {
            if let Some(symbol) = chunk.symbol.as_deref()
                && !names.contains(&symbol)
            {
                names.push(symbol);
            }
        }
        let mut line = file.path.clone();
        if !names.is_empty() {
            let shown = names.len().min(8);
            line.push_str(": ");
            line.push_str(&names[..shown].join(", "));
            if names.len() > shown {
                line.push_str(&format!(" (+{} more)", names.len() - shown));
            }
        }
        line.push('\n');
        let cost = count(&line);
        if used + cost > room {
            break;
        }
        used += cost;
        out.push_str(&line);
    }
    out
}

/// Keeps the start and, mostly, the end of an overlong problem (logs put the error last).
/// Returns the text and the number of lines left out.
pub fn fit_problem(problem: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> (String, usize) {
    if count(problem) <= budget {
        return (problem.to_owned(), 0);
    }
    let lines: Vec<&str> = problem.lines().collect();
    let join = |head: usize, tail: usize| {
        format!(
            "{}\n[… {} lines left out …]\n{}",
            lines[..head].join("\n"),
            lines.len() - head - tail,
            lines[lines.len() - tail..].join("\n")
        )
    };
    let (mut head, mut tail) = (0, 0);
    // Grow the tail twice as fast as the head while it fits.
    while head + tail < lines.len() {
        let (next_head, next_tail) =
            if tail < 2 * (head + 1) { (head, tail + 1) } else { (head + 1, tail) };
        if count(&join(next_head, next_tail)) > budget {
            break;
        }
        head = next_head;
        tail = next_tail;
    }
    if head + tail == 0 {
        // Not even one line fits: keep as much of the end as does.
        let chars: Vec<char> = problem.chars().collect();
        let tail_of =
            |n: usize| format!("[…] {}", chars[chars.len() - n..].iter().collect::<String>());
        let (mut lo, mut hi) = (0usize, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if count(&tail_of(mid)) <= budget { lo = mid } else { hi = mid - 1 }
        }
        return (tail_of(lo), 0);
    }
    (join(head, tail), lines.len() - head - tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Document, estimate_tokens};

    fn doc(path: &str, text: &str) -> Document {
        Document { path: path.into(), text: text.into() }
    }

    fn options(budget: usize) -> DistillOptions {
        DistillOptions { budget, redact: true }
    }

    /// A test double of an embedding model: texts that contain `near` point one way, the
    /// problem and everything else another; `fail` makes every call an error.
    struct KeywordEmbedder {
        near: &'static str,
        fail: bool,
    }

    impl crate::dense::Embed for KeywordEmbedder {
        fn id(&self) -> &str {
            "test:keyword"
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            if self.fail {
                return Err("gone".into());
            }
            // The first text is the problem: it points the way `near` chunks do.
            Ok(texts
                .iter()
                .enumerate()
                .map(
                    |(i, t)| {
                        if i == 0 || t.contains(self.near) {
                            vec![1.0, 0.0]
                        } else {
                            vec![0.0, 1.0]
                        }
                    },
                )
                .collect())
        }
    }

    /// A chunk far larger than the room left is ruled out on a count of its first part, never
    /// counted whole: chunks hold at most 40 lines, but lines can be long.
    #[test]
    fn chunks_that_cannot_fit_are_ruled_out_without_counting_them_whole() {
        let mut table = String::from("TABLE = [\n");
        for i in 0..400 {
            table.push_str(&format!(
                "    (\"totals of the values\", {i}, \"{}\"),\n",
                "x".repeat(300)
            ));
        }
        table.push_str("]\n");
        let docs = vec![
            doc("table.py", &table),
            doc(
                "sums.py",
                "def totals(values):\n    \"\"\"The totals of the values.\"\"\"\n    return sum(values)\n",
            ),
        ];
        let index = Index::from_documents(&docs);
        let largest = (0..index.chunk_count() as u32)
            .map(|id| index.chunk(id))
            .filter(|c| c.file.relative == "table.py")
            .map(|c| c.chunk.end_line - c.chunk.start_line)
            .max()
            .unwrap_or(0);
        assert!(largest >= 20, "the table's chunks hold up to {largest} lines of 300 bytes");
        let longest = std::cell::Cell::new(0usize);
        let counting = |text: &str| {
            longest.set(longest.get().max(text.len()));
            estimate_tokens(text)
        };
        let problem = "the totals of the values are wrong";
        let brief = distill_with(problem, &Hints::default(), &index, &options(512), &counting);
        assert!(longest.get() < 8 * 512 + 1024, "counted {} bytes at once", longest.get());
        let paths: Vec<&str> = brief.evidence.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths.first(), Some(&"sums.py"), "{paths:?}");
        assert!(brief.evidence.iter().all(|e| e.text.len() < 8 * 512), "only what fits");
        assert!(brief.tokens <= 512);
    }

    #[test]
    fn meaning_re_ranks_the_best_chunks_by_words_and_a_failure_leaves_them() {
        let docs = vec![
            doc(
                "a.py",
                "def total(values):\n    \"\"\"Sums the totals of the values.\"\"\"\n    return sum(values)\n",
            ),
            doc(
                "b.py",
                "def accumulate(xs):\n    \"\"\"Adds the values up.\"\"\"\n    return reduce(add, xs, 0)\n",
            ),
            doc("c.py", "def unrelated():\n    return None\n"),
        ];
        let index = Index::from_documents(&docs);
        let problem = "the totals of the values are wrong";
        let first = |rerank: Option<Rerank<'_>>| {
            let brief = distill_dense(
                problem,
                &Hints::default(),
                &index,
                &options(1024),
                &estimate_tokens,
                rerank,
            );
            brief.evidence.first().map(|e| e.path.clone())
        };
        // Words alone: a.py shares them.
        assert_eq!(first(None).as_deref(), Some("a.py"));
        // b.py shares a word ("values"), and its meaning is the problem's: it comes first.
        let embedder = KeywordEmbedder { near: "accumulate", fail: false };
        let rerank = Rerank { candidates: 8, weight: 0.8, ..Rerank::new(&embedder) };
        assert_eq!(first(Some(rerank)).as_deref(), Some("b.py"));
        // Only the words' best chunks are re-ranked.
        let narrow = Rerank { candidates: 1, ..rerank };
        assert_eq!(first(Some(narrow)).as_deref(), Some("a.py"));
        let broken = KeywordEmbedder { near: "accumulate", fail: true };
        assert_eq!(first(Some(Rerank::new(&broken))).as_deref(), Some("a.py"));
    }

    fn corpus() -> Vec<Document> {
        let filler: String = (0..60)
            .map(|i| format!("def helper_{i}(value):\n    return value + {i}\n\n"))
            .collect();
        vec![
            doc("app/util.py", &filler),
            doc(
                "app/stack.py",
                "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n\n    def peek(self):\n        return self.items[-1]\n",
            ),
            doc("README.md", "# Demo\nA demo of stacks and helpers.\n"),
        ]
    }

    /// Distills `problem` over [`corpus`] at `budget` and compares the rendered brief, and
    /// its account, with `expected`.
    fn check(problem: &str, budget: usize, expected: expect_test::Expect) {
        let index = Index::from_documents(&corpus());
        let brief = distill(problem, &index, &options(budget), &estimate_tokens);
        let account = format!(
            "-- {} tokens, {} of context, {} problem lines cut\n",
            brief.tokens, brief.context_tokens, brief.problem_lines_cut
        );
        expected.assert_eq(&(brief.render() + &account));
    }

    #[test]
    fn briefs_as_the_smart_model_reads_them() {
        check(
            "Traceback (most recent call last):\n  File \"/home/me/proj/app/stack.py\", line 9, in peek\n    return self.items[-1]\nIndexError: list index out of range\n",
            300,
            expect_test::expect![[r#"
                Problem:
                Traceback (most recent call last):
                  File "/home/me/proj/app/stack.py", line 9, in peek
                    return self.items[-1]
                IndexError: list index out of range

                Context map (files and their top-level symbols, most relevant first):
                app/stack.py: Stack
                README.md: Demo

                Relevant context:
                ### app/stack.py:1-9
                class Stack:
                    def __init__(self):
                        self.items = []

                    def push(self, item):
                        self.items.append(item)

                    def peek(self):
                        return self.items[-1]

                ### README.md:1-2
                # Demo
                A demo of stacks and helpers.

                ### app/util.py:1-23
                def helper_0(value):
                    return value + 0

                def helper_1(value):
                    return value + 1

                def helper_2(value):
                    return value + 2

                def helper_3(value):
                    return value + 3

                def helper_4(value):
                    return value + 4

                def helper_5(value):
                    return value + 5

                def helper_6(value):
                    return value + 6

                def helper_7(value):
                    return value + 7
                -- 225 tokens, 147 of context, 0 problem lines cut
            "#]],
        );
        check(
            "peek on an empty stack crashes instead of returning None",
            200,
            expect_test::expect![[r#"
                Problem:
                peek on an empty stack crashes instead of returning None

                Relevant context:
                ### app/stack.py:1-9
                class Stack:
                    def __init__(self):
                        self.items = []

                    def push(self, item):
                        self.items.append(item)

                    def peek(self):
                        return self.items[-1]

                ### README.md:1-2
                # Demo
                A demo of stacks and helpers.

                ### app/util.py:1-14
                def helper_0(value):
                    return value + 0

                def helper_1(value):
                    return value + 1

                def helper_2(value):
                    return value + 2

                def helper_3(value):
                    return value + 3

                def helper_4(value):
                    return value + 4
                -- 143 tokens, 106 of context, 0 problem lines cut
            "#]],
        );
        // A budget with room for the problem alone.
        check(
            "helper_7 adds the wrong amount",
            12,
            expect_test::expect![[r#"
            Problem:
            […] dds the wrong amount
            -- 9 tokens, 0 of context, 0 problem lines cut
        "#]],
        );
    }

    #[test]
    fn a_test_runner_report_is_about_the_code_the_test_tests() {
        for (problem, about) in [
            ("add a test for peek on an empty stack", true),
            ("the tests of the parser are flaky", true),
            ("test_peek fails: peek() returns None", false),
            (
                "F\n=== FAILURES ===\n___ test_zip ___\ntest_six.py:233: in test_zip\n    from six.moves \
                 import zip\nE   ImportError: cannot import name 'zip'\n=== short test summary \
                 info ===\nFAILED test_six.py::test_zip - ImportError\n1 failed in 0.17s",
                false,
            ),
            (
                "FAIL: test_total (test_invoice.InvoiceTest.test_total)\nTraceback (most recent call \
                 last):\n  File \"test_invoice.py\", line 8, in test_total\n    \
                 self.assertEqual(total(3), 7.5)\nAssertionError: 5.5 != 7.5\n\nRan 5 tests in \
                 0.001s\n\nFAILED (failures=1)",
                false,
            ),
        ] {
            assert_eq!(about_tests(problem), about, "{problem}");
        }
    }

    #[test]
    fn a_failing_test_named_by_path_does_not_crowd_out_the_code_it_tests() {
        // A test file of many short tests, one of them failing, beside the small module it
        // tests: pytest's report names the test file and the line, and its rules say "test".
        let mut test = String::from("import stack\n\n");
        let ops = ["push", "pop", "size", "clear", "empty", "top", "extend", "copy", "reverse"];
        for i in 0..30 {
            let op = ops[i % ops.len()];
            test.push_str(&format!(
                "def test_{op}_{i}():\n    s = stack.Stack()\n    s.push({i})\n    assert s.{op}() == {i}\n\n"
            ));
        }
        test.push_str("def test_peek():\n    s = stack.Stack()\n    s.push(1)\n    s.push(2)\n    assert s.peek() == 2\n");
        let last = test.lines().count();
        let docs = vec![
            doc(
                "app/stack.py",
                "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n\n    def peek(self):\n        return self.items[0]\n",
            ),
            doc("app/test_stack.py", &test),
        ];
        let index = Index::from_documents(&docs);
        let problem = format!(
            "=== FAILURES ===\n___ test_peek ___\napp/test_stack.py:{last}: in test_peek\n    \
             assert s.peek() == 2\nE   assert 1 == 2\n=== short test summary info ===\n\
             FAILED app/test_stack.py::test_peek"
        );
        let brief = distill(&problem, &index, &options(300), &estimate_tokens);
        let paths: Vec<&str> = brief.evidence.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths[0], "app/test_stack.py", "the failing test first: {}", brief.render());
        assert_eq!(paths[1], "app/stack.py", "then the code it tests: {}", brief.render());
    }

    #[test]
    fn a_traceback_brings_the_frame_it_names() {
        let index = Index::from_documents(&corpus());
        let problem = "Traceback (most recent call last):\n  File \"/home/me/proj/app/stack.py\", line 9, in peek\n    return self.items[-1]\nIndexError: list index out of range\n";
        let brief = distill(problem, &index, &options(300), &estimate_tokens);
        assert!(brief.tokens <= 300, "{}", brief.tokens);
        let first = &brief.evidence[0];
        assert_eq!(first.path, "app/stack.py");
        assert!(first.start_line <= 9 && first.end_line >= 9, "{first:?}");
        assert!(brief.render().contains("### app/stack.py:"), "{}", brief.render());
        assert!(brief.summary.contains("app/stack.py: Stack"), "{}", brief.summary);
    }

    #[test]
    fn a_plain_report_finds_the_definition_by_its_words() {
        let index = Index::from_documents(&corpus());
        let brief = distill(
            "peek on an empty stack crashes instead of returning None",
            &index,
            &options(200),
            &estimate_tokens,
        );
        assert!(brief.evidence.iter().any(|e| e.text.contains("def peek")), "{:?}", brief.evidence);
    }

    #[test]
    fn secrets_are_redacted_and_counted() {
        let docs = vec![doc(
            "settings.py",
            "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\ndef connect():\n    pass\n",
        )];
        let index = Index::from_documents(&docs);
        let brief = distill(
            "connect fails with the AWS access key id",
            &index,
            &options(200),
            &estimate_tokens,
        );
        assert!(
            brief.evidence.iter().any(|e| e.text.contains("[REDACTED:aws_access_key]")),
            "{:?}",
            brief.evidence
        );
        assert!(!brief.render().contains("AKIAIOSFODNN7EXAMPLE"), "{}", brief.render());
        assert!(brief.redactions.count() >= 1);
    }

    #[test]
    fn a_method_ranks_above_its_classs_docstring_and_tests_below_the_code() {
        let methods: String =
            (0..20).map(|i| format!("    def other_{i}(self):\n        return {i}\n\n")).collect();
        let docs = vec![
            doc(
                "lib/diff.py",
                &format!(
                    "class Matcher:\n    \"\"\"Finds matching blocks between two sequences: the matching\n    blocks are runs of equal elements, and matching blocks are listed in order.\n    \"\"\"\n\n    def get_matching_blocks(self):\n        return self.blocks\n\n{methods}"
                ),
            ),
            doc(
                "src/stack.rs",
                "pub fn peek(items: &[u32]) -> Option<u32> {\n    items.last().copied()\n}\n\nmod tests {\n    #[test]\n    fn test_peek_on_an_empty_stack_returns_none() {\n        assert_eq!(super::peek(&[]), None, \"peek on an empty stack\");\n    }\n}\n",
            ),
        ];
        let index = Index::from_documents(&docs);
        // The best chunk for a problem, by its symbol.
        let best = |problem: &str| {
            let scores = score(problem, &index);
            let id = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            index.chunk(id as u32).chunk.symbol.clone().unwrap_or_default()
        };
        // The class's docstring says "matching blocks" three times, the method's name once.
        assert_eq!(
            best("Which function computes the matching blocks?"),
            "Matcher.get_matching_blocks"
        );
        assert_eq!(best("peek on an empty stack should return nothing"), "peek");
    }

    #[test]
    fn a_huge_report_is_searched_in_bounded_time_and_hints_are_searched_too() {
        let index = Index::from_documents(&corpus());
        // 100,000 characters of words that all occur in the index.
        let report: String =
            "helper value stack push items peek ".repeat(3000).chars().take(100_000).collect();
        let brief = distill(&report, &index, &options(200), &estimate_tokens);
        assert!(brief.tokens <= 200);
        assert!(brief.problem_lines_cut > 0 || brief.problem.len() < report.len());
        // A hint naming a definition brings it up for a problem that never names it.
        let hints = Hints { identifiers: vec!["Stack.peek".into()], ..Hints::default() };
        let brief =
            distill_with("it crashes sometimes", &hints, &index, &options(120), &estimate_tokens);
        assert_eq!(brief.evidence.first().map(|e| e.path.as_str()), Some("app/stack.py"));
        let plain = distill("it crashes sometimes", &index, &options(120), &estimate_tokens);
        assert!(plain.evidence.iter().all(|e| e.path != "app/stack.py"), "{:?}", plain.evidence);
    }

    #[test]
    fn a_long_problem_keeps_its_end() {
        let log: String =
            (0..400).map(|i| format!("step {i} ok\n")).collect::<String>() + "FATAL: disk full\n";
        let (text, cut) = fit_problem(&log, 100, &estimate_tokens);
        assert!(estimate_tokens(&text) <= 100, "{}", estimate_tokens(&text));
        assert!(text.starts_with("step 0 ok\n"), "{text}");
        assert!(text.ends_with("FATAL: disk full"), "{text}");
        assert!(text.contains("lines left out"), "{text}");
        assert!(cut > 300);
        // One line longer than the budget keeps its end.
        let line = format!("{}THE END", "x".repeat(2000));
        let (text, _) = fit_problem(&line, 50, &estimate_tokens);
        assert!(text.ends_with("THE END") && estimate_tokens(&text) <= 50, "{text}");
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Lines of code-like text with multi-byte characters, so that a cut anywhere but a
        /// character boundary would show.
        fn line() -> impl Strategy<Value = String> {
            prop_oneof![
                "def [a-z]{1,8}\\(x\\):".prop_map(|s| s),
                "    return [a-zé中🦀 ]{0,30}".prop_map(|s| s),
                "[a-zA-Zé中🦀 _=]{0,60}".prop_map(|s| s),
            ]
        }

        fn documents() -> impl Strategy<Value = Vec<Document>> {
            prop::collection::vec((0usize..4, prop::collection::vec(line(), 0..80)), 0..5).prop_map(
                |files| {
                    files
                        .into_iter()
                        .enumerate()
                        .map(|(i, (n, lines))| {
                            let ext = ["py", "rs", "md", "txt"][n];
                            Document { path: format!("src/f{i}.{ext}"), text: lines.join("\n") }
                        })
                        .collect()
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn the_brief_never_exceeds_its_budget_and_quotes_whole_lines(
                docs in documents(),
                problem in "[a-z中 ]{1,200}",
                budget in 1usize..1500,
                bytes in any::<bool>(),
            ) {
                let index = Index::from_documents(&docs);
                // Two counters: by characters, and by bytes (never additive over pieces).
                let by_chars = |t: &str| t.chars().count().div_ceil(4);
                let by_bytes = |t: &str| t.len().div_ceil(3);
                let count: &dyn Fn(&str) -> usize = if bytes { &by_bytes } else { &by_chars };
                let brief = distill(&problem, &index, &DistillOptions { budget, redact: false }, count);
                let rendered = brief.render();
                let floor = count("Problem:\n\n");
                prop_assert!(count(&rendered) <= budget.max(floor), "{} > {budget}", count(&rendered));
                prop_assert_eq!(brief.tokens, count(&rendered));
                for e in &brief.evidence {
                    let doc = docs.iter().find(|d| d.path == e.path);
                    prop_assert!(doc.is_some());
                    let lines: Vec<&str> = doc.map(|d| d.text.split('\n').collect()).unwrap_or_default();
                    let expected = lines[(e.start_line - 1) as usize..e.end_line as usize].join("\n");
                    prop_assert_eq!(e.text.trim_end(), expected.trim_end());
                }
            }
        }
    }
}
