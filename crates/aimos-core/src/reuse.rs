//! Reusing a stored insight for a new problem instead of consulting again — only when the
//! problems match closely, the insight's record of outcomes makes success likely, and (unless
//! the caller turns it off) a model confirms that the advice applies. Similarity alone is never
//! enough: answer caches that reuse on similarity are wrong several percent of the time.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::insight::Insight;
use crate::store::{Calibration, Store, StoreError};
use crate::yes_no::YesNo;

/// Who confirms that a matching insight applies before it is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReuseCheck {
    /// The cheap model reads the new brief and the stored advice and says whether it applies.
    Cheap,
    /// The smart model does (dearer, for when a wrong reuse costs much).
    Judge,
    /// No confirmation: the match and the success estimate decide.
    Off,
    /// Never reuse: always consult.
    Never,
}

impl FromStr for ReuseCheck {
    type Err = String;

    fn from_str(s: &str) -> Result<ReuseCheck, String> {
        match s {
            "cheap" => Ok(ReuseCheck::Cheap),
            "judge" => Ok(ReuseCheck::Judge),
            "off" => Ok(ReuseCheck::Off),
            "never" => Ok(ReuseCheck::Never),
            _ => Err(format!("unknown reuse check `{s}`; use one of: cheap, judge, off, never")),
        }
    }
}

/// When a stored insight may stand in for a consultation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReusePolicy {
    pub check: ReuseCheck,
    /// Least match between the problems by their words ([`match_score`]: 1 for the same
    /// problem), when no embedding model is at hand.
    pub min_match: f64,
    /// Least cosine between the problems' sentence embeddings, when an embedding model is at
    /// hand (it then replaces `min_match`).
    pub min_similarity: f64,
    /// Least estimated chance that the insight's advice succeeds.
    pub min_success: f64,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy {
            check: ReuseCheck::Cheap,
            min_match: 0.25,
            min_similarity: MIN_SIMILARITY,
            min_success: 0.6,
        }
    }
}

/// The default bar on the cosine of two problems' embeddings.
pub const MIN_SIMILARITY: f64 = 0.5;

/// How closely two problems match, from 0 to 1: 1 for the same text (ignoring case and
/// spacing); 0 when they name different things (see [`names_differ`]); otherwise the cosine
/// of their sets of stemmed search terms, so that a problem told in other words, in another
/// order, still matches the words it shares.
pub fn match_score(new: &str, stored: &str) -> f64 {
    anchored(new, stored, || term_match(new, stored))
}

/// 1 for the same text (ignoring case and spacing), 0 when the two name different things,
/// otherwise `likeness`.
fn anchored(new: &str, stored: &str, likeness: impl FnOnce() -> f64) -> f64 {
    let normal = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    if normal(new) == normal(stored) {
        1.0
    } else if names_differ(new, stored).is_some() {
        0.0
    } else {
        likeness()
    }
}

/// Why two problems are different problems however many words they share, if they are:
/// - each names something of one kind that the other does not, and they share nothing of that
///   kind: identifiers (`peek()` and `pop()`), numbers, quoted text, acronyms (`USD`, `EUR`),
///   paths;
/// - or they are the same sentence with words swapped (`… in textwrap's default width` and
///   `… in pprint's default width`): most words in the same order, and a run of content words
///   replaced by other words.
pub fn names_differ(new: &str, stored: &str) -> Option<&'static str> {
    let (a, b) = (specifics(new), specifics(stored));
    for ((kind, a), (_, b)) in a.iter().zip(&b) {
        if a.difference(b).next().is_some()
            && b.difference(a).next().is_some()
            && a.intersection(b).next().is_none()
        {
            return Some(kind);
        }
    }
    if swapped_words(new, stored) {
        return Some("swapped words");
    }
    negated_on_one_side(new, stored).then_some("one side negated")
}

/// Whether two texts in mostly the same words (a term cosine of at least [`NEGATION_OVERLAP`])
/// say that something does not happen on one side only: "… is sent to the old address" and
/// "… is never sent". Paraphrases told in other words may flip a negation ("holds no items"
/// for "an empty stack") and share too few words to be compared.
fn negated_on_one_side(a: &str, b: &str) -> bool {
    const NEGATIONS: [&str; 10] =
        ["not", "no", "never", "cannot", "none", "nothing", "nobody", "neither", "nor", "without"];
    let negated = |t: &str| {
        t.split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .map(str::to_lowercase)
            .any(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't"))
    };
    negated(a) != negated(b) && term_match(a, b) >= NEGATION_OVERLAP
}

/// How many of their words two problems must share for a negation on one side alone to make
/// them different problems; chosen on the reuse pairs' tuning sets, where the 4 paraphrases
/// that flip a negation share at most 0.48 of their terms, and 10 of the 12 such near-misses
/// share more (docs/running.md).
const NEGATION_OVERLAP: f64 = 0.5;

/// Whether two briefs quote different code: both carry excerpts and no file is in both.
pub fn briefs_differ(new: &str, stored: &str) -> bool {
    let files = |brief: &str| -> HashSet<String> {
        brief
            .lines()
            .filter_map(|l| l.strip_prefix("### "))
            .filter_map(|l| l.rsplit_once(':').map(|(path, _)| path.to_owned()))
            .collect()
    };
    let (a, b) = (files(new), files(stored));
    !a.is_empty() && !b.is_empty() && a.is_disjoint(&b)
}

type Specifics = [(&'static str, HashSet<String>); 5];

/// What a problem names exactly, by kind.
fn specifics(text: &str) -> Specifics {
    use std::sync::LazyLock;
    static NUMBER: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\d+(?:\.\d+)?").expect("valid"));
    static QUOTED: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?:^|[\s(\[:=,])(?:'([^'\n]{1,160})'|"([^"\n]{1,160})"|`([^`\n]{1,160})`)"#,
        )
        .expect("valid")
    });
    static ACRONYM: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\b[A-Z]{2,}\b").expect("valid"));
    let identifiers =
        aimos_context::anchor::identifiers(text).into_iter().map(|i| i.to_lowercase());
    let quotes = QUOTED
        .captures_iter(text)
        .filter_map(|c| Some(c.get(1).or(c.get(2)).or(c.get(3))?.as_str().trim().to_lowercase()));
    [
        ("identifiers", identifiers.collect()),
        ("numbers", NUMBER.find_iter(text).map(|m| m.as_str().to_owned()).collect()),
        ("quoted text", quotes.collect()),
        ("acronyms", ACRONYM.find_iter(text).map(|m| m.as_str().to_owned()).collect()),
        ("paths", aimos_context::anchor::paths(text).into_iter().collect()),
    ]
}

/// Whether two texts are one sentence with content words swapped: at least half their words
/// (stemmed) align in order, and somewhere a run of content words on one side stands where a
/// different run stands on the other.
fn swapped_words(a: &str, b: &str) -> bool {
    let stems = |t: &str| -> Vec<String> { words(t).map(|(_, stem)| stem).collect() };
    let (a, b) = (stems(a), stems(b));
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 || n > 400 || m > 400 {
        return false;
    }
    // Longest common subsequence, from the ends.
    let mut common = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[at(i, j)] = if a[i] == b[j] {
                common[at(i + 1, j + 1)] + 1
            } else {
                common[at(i + 1, j)].max(common[at(i, j + 1)])
            };
        }
    }
    if 4 * (common[at(0, 0)] as usize) < n + m {
        return false;
    }
    let content = |run: &[&String]| -> HashSet<String> {
        run.iter().filter(|w| !aimos_context::index::is_stopword(w)).map(|w| (*w).clone()).collect()
    };
    let swapped = |x: &[&String], y: &[&String]| {
        let (x, y) = (content(x), content(y));
        !x.is_empty() && !y.is_empty() && x != y
    };
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b): (Vec<&String>, Vec<&String>) = (Vec::new(), Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            if swapped(&only_a, &only_b) {
                return true;
            }
            only_a.clear();
            only_b.clear();
            i += 1;
            j += 1;
        } else if i < n && (j == m || common[at(i + 1, j)] >= common[at(i, j + 1)]) {
            only_a.push(&a[i]);
            i += 1;
        } else {
            only_b.push(&b[j]);
            j += 1;
        }
    }
    swapped(&only_a, &only_b)
}

/// The cosine of two texts' sets of search terms (stemmed words and identifier parts).
fn term_match(new: &str, stored: &str) -> f64 {
    let words = |t: &str| {
        let mut set = HashSet::new();
        aimos_context::index::terms(t, &mut |w| {
            set.insert(w.to_owned());
        });
        set
    };
    let (a, b) = (words(new), words(stored));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / ((a.len() * b.len()) as f64).sqrt()
}

/// The chance the insight's advice succeeds: the mean of a Beta posterior whose prior is worth
/// four outcomes, half of them a neutral even chance and half the consultant's stated
/// confidence (calibrated for its smart model when a calibration is known), updated by the
/// outcomes recorded since. A stated confidence is one weak prior, never certainty: a fresh
/// insight that says 1.0 is estimated at 0.75, and one failure brings a fresh 0.8 below the
/// default bar of 0.6.
pub fn success_estimate(insight: &Insight, calibration: Option<&Calibration>) -> f64 {
    let stated = crate::calibration::apply(calibration, insight.draft.confidence).clamp(0.0, 1.0);
    let (s, f) = (insight.succeeded as f64, insight.failed as f64);
    (s + 2.0 * stated + 1.0) / (s + f + 4.0)
}

/// The calibration of the model that wrote `insight`, among `calibrations`.
pub fn calibration_for<'a>(
    insight: &Insight,
    calibrations: &'a [Calibration],
) -> Option<&'a Calibration> {
    calibrations.iter().find(|c| c.smart_model == insight.smart_model)
}

/// Below this success estimate, with at least [`AGE_MIN_FAILURES`] failures, an insight is
/// taken out of recall.
pub const AGE_BELOW: f64 = 0.35;
pub const AGE_MIN_FAILURES: u64 = 2;

/// Ages insights after an outcome on `insight` (as the store returned it, with its new
/// counts): one that keeps failing is invalidated; one that just worked supersedes older
/// insights for the same problem whose record is worse. Returns what was invalidated, why.
pub fn age(
    store: &dyn Store,
    insight: &Insight,
    passed: bool,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut done = Vec::new();
    if insight.invalidated.is_some() {
        return Ok(done);
    }
    if !passed && insight.failed >= AGE_MIN_FAILURES && success_estimate(insight, None) < AGE_BELOW
    {
        let reason = format!(
            "keeps failing: {} of {} outcomes failed",
            insight.failed,
            insight.failed + insight.succeeded
        );
        if store.invalidate_insight(&insight.id, &reason)? {
            done.push((insight.id.clone(), reason));
        }
    }
    if passed {
        for older in store.insights_by_fingerprint(&insight.fingerprint)? {
            // An insight supersedes only those of its own namespace.
            if older.id < insight.id
                && older.namespace == insight.namespace
                && older.invalidated.is_none()
                && older.failed > older.succeeded
            {
                let reason = format!("superseded by insight {}, which worked", insight.id);
                if store.invalidate_insight(&older.id, &reason)? {
                    done.push((older.id, reason));
                }
            }
        }
    }
    Ok(done)
}

/// A stored insight that may be reused, with why.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub insight: Insight,
    pub matched: f64,
    pub success: f64,
}

/// Stored insights that may stand in for a consultation on `problem`, best first: those made
/// for the same problem and the store's 20 best text matches, among those a run in `namespace`
/// may see, that clear `policy`'s bars.
pub fn find(
    store: &dyn Store,
    problem: &str,
    policy: &ReusePolicy,
    namespace: Option<&str>,
) -> Result<Vec<Candidate>, StoreError> {
    find_with(store, problem, policy, namespace, None)
}

/// [`find`], and with an embedding model also the stored insights whose problems mean the most
/// nearly the same, matched by the cosine of their embeddings instead of shared words. Should
/// the model fail, the words decide, as without one.
pub fn find_with(
    store: &dyn Store,
    problem: &str,
    policy: &ReusePolicy,
    namespace: Option<&str>,
    embedder: Option<&dyn crate::dense::Embed>,
) -> Result<Vec<Candidate>, StoreError> {
    let mut stored = store.insights_by_fingerprint(&crate::pipeline::fingerprint(problem))?;
    for insight in store.insights(Some(problem), 20, 0)? {
        if !stored.iter().any(|s| s.id == insight.id) {
            stored.push(insight);
        }
    }
    let vector = embedder.and_then(|embedder| {
        let mut vectors = embedder.embed(&[problem]).ok()?;
        vectors.pop().map(|v| (embedder, v))
    });
    let Some((embedder, vector)) = vector else {
        stored.retain(|insight| insight.visible_to(namespace));
        let calibrations = store.calibrations()?;
        return Ok(candidates(problem, stored, policy, &calibrations));
    };
    let mut similar: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for (insight, similarity) in store.nearest_insights(embedder.id(), &vector, 20)? {
        similar.insert(insight.id.clone(), f64::from(similarity));
        if !stored.iter().any(|s| s.id == insight.id) {
            stored.push(insight);
        }
    }
    // Another namespace's insights are not this run's to see.
    stored.retain(|insight| insight.visible_to(namespace));
    // Those found by their words alone are compared by meaning too.
    let unscored: Vec<&str> = stored
        .iter()
        .filter(|s| !similar.contains_key(&s.id))
        .map(|s| s.problem.as_str())
        .collect();
    if !unscored.is_empty()
        && let Ok(vectors) = embedder.embed(&unscored)
    {
        let ids = stored.iter().filter(|s| !similar.contains_key(&s.id)).map(|s| s.id.clone());
        let scored: Vec<(String, f64)> = ids
            .zip(vectors)
            .map(|(id, v)| (id, f64::from(crate::dense::cosine(&v, &vector))))
            .collect();
        similar.extend(scored);
    }
    let calibrations = store.calibrations()?;
    // (candidate, its cosine): those near enough in meaning; a candidate's match is 0 where the
    // rules tell the two problems apart.
    let mut near: Vec<(Candidate, f64)> = stored
        .into_iter()
        .filter_map(|insight| {
            let similarity = *similar.get(&insight.id)?;
            (similarity >= policy.min_similarity).then(|| {
                let candidate = Candidate {
                    matched: dense_match(problem, &insight.problem, similarity),
                    success: success_estimate(&insight, calibration_for(&insight, &calibrations)),
                    insight,
                };
                (candidate, similarity)
            })
        })
        .collect();
    let matches: Vec<(&str, f64)> =
        near.iter().map(|(c, _)| (c.insight.problem.as_str(), c.matched)).collect();
    let disagree = unshared_words_disagree(problem, &matches, embedder);
    for ((candidate, _), differs) in near.iter_mut().zip(disagree) {
        if differs {
            candidate.matched = 0.0;
        }
    }
    let mut out = past_variants(near, policy.min_similarity, policy);
    out.sort_by(|a, b| (b.matched * b.success).total_cmp(&(a.matched * a.success)));
    Ok(out)
}

/// The candidates among `near` (each with its likeness before the rules that tell problems
/// apart) that match at `bar` and clear the success bar, less those clearly farther than a
/// stored problem told apart as a different one: a new problem nearer one told apart than a
/// candidate is one of several variants on a subject, and a farther match is no more the same
/// problem ([`VARIANT_MARGIN`]).
fn past_variants(near: Vec<(Candidate, f64)>, bar: f64, policy: &ReusePolicy) -> Vec<Candidate> {
    let nearest_different = near
        .iter()
        .filter(|(c, _)| c.matched < bar)
        .map(|(_, likeness)| *likeness)
        .fold(0.0, f64::max);
    near.into_iter()
        .filter(|(c, likeness)| {
            c.matched >= bar
                && likeness.max(c.matched) >= nearest_different - VARIANT_MARGIN
                && c.success >= policy.min_success
                && c.insight.invalidated.is_none()
        })
        .map(|(c, _)| c)
        .collect()
}

/// How much farther than a stored problem told apart as a different one (see [`find_with`]) a
/// match may be and still be a candidate: on the reuse pairs' two tuning sets, the wrong
/// matches this removes were 0.29 or more farther, and any margin from 0.05 to 0.25 kept every
/// paraphrase found (docs/running.md).
pub const VARIANT_MARGIN: f64 = 0.1;

/// The bar on how near in meaning the words two matching problems do not share must be
/// (the cosine of their embeddings): below it, they are different problems told in mostly the
/// same words ("lets every request through" and "rejects every request", both "when the
/// counter key expires"). Chosen on the reuse pairs' two tuning sets (docs/running.md).
pub const MIN_CONTRAST: f64 = 0.2;

/// For each stored problem that matches `new` by meaning (with its match), whether the two
/// differ in what they do not share: each has content words the other lacks, and those words
/// are far apart in meaning ([`MIN_CONTRAST`]). The same text, or one that only adds words,
/// never differs; if the model fails, the matches stand. One call to the model for all.
fn unshared_words_disagree(
    new: &str,
    matches: &[(&str, f64)],
    embedder: &dyn crate::dense::Embed,
) -> Vec<bool> {
    let pairs: Vec<Option<(String, String)>> = matches
        .iter()
        .map(|&(stored, matched)| {
            let (a, b) = if matched > 0.0 && matched < 1.0 {
                residuals(new, stored)
            } else {
                Default::default()
            };
            (!a.is_empty() && !b.is_empty()).then_some((a, b))
        })
        .collect();
    let texts: Vec<&str> =
        pairs.iter().flatten().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
    if texts.is_empty() {
        return vec![false; matches.len()];
    }
    let vectors = match embedder.embed(&texts) {
        Ok(vectors) if vectors.len() == texts.len() => vectors,
        _ => return vec![false; matches.len()],
    };
    let mut apart =
        vectors.chunks(2).map(|v| f64::from(crate::dense::cosine(&v[0], &v[1])) < MIN_CONTRAST);
    pairs.iter().map(|pair| pair.is_some() && apart.next().unwrap_or(false)).collect()
}

/// The words of `text` (runs of letters and digits), each with its lowercase stem.
fn words(text: &str) -> impl Iterator<Item = (&str, String)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| (w, aimos_context::index::stem(&w.to_lowercase())))
}

/// The content words each of two texts has that the other lacks (compared by stem), each in
/// its text's order.
fn residuals(a: &str, b: &str) -> (String, String) {
    let content = |t| -> Vec<(&str, String)> {
        words(t).filter(|(_, stem)| !aimos_context::index::is_stopword(stem)).collect()
    };
    let (a, b) = (content(a), content(b));
    let only = |x: &[(&str, String)], y: &[(&str, String)]| -> String {
        x.iter()
            .filter(|(_, s)| !y.iter().any(|(_, t)| t == s))
            .map(|(w, _)| *w)
            .collect::<Vec<_>>()
            .join(" ")
    };
    (only(&a, &b), only(&b, &a))
}

/// How closely two problems match by meaning: 1 for the same text, 0 when they name different
/// things ([`names_differ`]), otherwise the cosine of their embeddings.
pub fn dense_match(new: &str, stored: &str, similarity: f64) -> f64 {
    anchored(new, stored, || similarity.clamp(0.0, 1.0))
}

/// The reuse check's question: does this advice apply?
const APPLIES: YesNo = YesNo { name: "reuse_check", field: "applies" };

/// The question that confirms a reuse: the new brief, the earlier problem and its advice;
/// does the advice apply?
pub fn confirmation_request(new_brief: &str, insight: &Insight) -> crate::chat::ChatRequest {
    let question = format!(
        "Earlier problem:\n{}\n\nAdvice given for the earlier problem:\n{}\n\nNew problem:\n{}\n\nIs the new problem the same problem as the earlier one, told in other words, so that the same advice solves it? If they differ in what fails, where, or in any name, file, number or message, it is a different problem and the advice does not apply.",
        insight.problem.trim(),
        insight.as_guidance(),
        new_brief.trim(),
    );
    APPLIES.request(crate::prompts::REUSE_CHECK_SYSTEM, question)
}

/// Whether a confirmation said the advice applies, and why; an answer out of form is a no.
pub fn read_confirmation(content: &str) -> (bool, String) {
    APPLIES.read(content, "the check")
}

/// The insights among `stored` that clear the policy's thresholds, best first; invalidated
/// insights never are.
pub fn candidates(
    problem: &str,
    stored: Vec<Insight>,
    policy: &ReusePolicy,
    calibrations: &[Calibration],
) -> Vec<Candidate> {
    // (candidate, its words' likeness), as in [`find_with`]: a match clearly farther than a
    // stored problem told apart as different is none.
    let near: Vec<(Candidate, f64)> = stored
        .into_iter()
        .filter_map(|insight| {
            let likeness = term_match(problem, &insight.problem);
            let matched = anchored(problem, &insight.problem, || likeness);
            (likeness.max(matched) >= policy.min_match).then(|| {
                let candidate = Candidate {
                    matched,
                    success: success_estimate(&insight, calibration_for(&insight, calibrations)),
                    insight,
                };
                (candidate, likeness)
            })
        })
        .collect();
    let mut out = past_variants(near, policy.min_match, policy);
    out.sort_by(|a, b| (b.matched * b.success).total_cmp(&(a.matched * a.success)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insight::InsightDraft;
    use crate::price::Cost;

    fn insight(problem: &str, confidence: f64, succeeded: u64, failed: u64) -> Insight {
        Insight {
            id: problem.into(),
            fingerprint: String::new(),
            problem: problem.into(),
            brief: String::new(),
            draft: InsightDraft {
                diagnosis: "d".into(),
                plan: vec!["p".into()],
                key_facts: vec![],
                pitfalls: vec![],
                confidence,
                reasoning: "r".into(),
            },
            smart_model: "smart".into(),
            cost: Cost::default(),
            created_at: String::new(),
            applied: 0,
            succeeded,
            failed,
            invalidated: None,
            namespace: None,
        }
    }

    #[test]
    fn outcomes_move_the_estimate_and_a_stated_confidence_is_only_a_weak_prior() {
        // A fresh insight that states certainty is not certain.
        assert!((success_estimate(&insight("x", 1.0, 0, 0), None) - 0.75).abs() < 1e-9);
        assert!((success_estimate(&insight("x", 0.8, 0, 0), None) - 0.65).abs() < 1e-9);
        assert!(
            success_estimate(&insight("x", 0.8, 0, 1), None) < ReusePolicy::default().min_success
        );
        assert!(success_estimate(&insight("x", 0.5, 8, 0), None) > 0.8);
        // A calibration that says this model's 0.9 means 0.5 lowers the prior.
        let calibration = Calibration {
            smart_model: "smart".into(),
            slope: 0.0,
            intercept: 0.0,
            points: 40,
            fitted_at: String::new(),
        };
        let calibrated = success_estimate(&insight("x", 0.9, 0, 0), Some(&calibration));
        assert!((calibrated - 0.5).abs() < 1e-9, "{calibrated}");
    }

    #[test]
    fn only_close_matches_with_good_records_are_candidates_best_first() {
        let stored = vec![
            insight("peek panics on an empty stack", 0.9, 0, 0),
            insight("Peek   panics on an EMPTY stack", 0.7, 0, 0),
            insight("peek panics on an empty stack", 0.9, 0, 3),
            insight("the parser rejects trailing commas", 0.9, 5, 0),
        ];
        let mut stored = stored;
        let mut invalid = insight("peek panics on an empty stack", 0.99, 9, 0);
        invalid.invalidated =
            Some(crate::insight::Invalidation { at: String::new(), reason: "test".into() });
        stored.push(invalid);
        let found =
            candidates("peek panics on an empty stack", stored, &ReusePolicy::default(), &[]);
        let matched: Vec<(f64, f64)> = found.iter().map(|c| (c.matched, c.success)).collect();
        assert_eq!(matched.len(), 2, "{matched:?}");
        assert!((found[0].success - 0.7).abs() < 1e-9 && found[1].matched == 1.0);
        // Word order, stop words and word forms do not matter.
        assert_eq!(
            match_score("the stack's peek panics when empty", "peek panics on an empty stack"),
            1.0
        );
        assert!(
            match_score(
                "peek returns the wrong element after a push",
                "peek panics on an empty stack"
            ) < ReusePolicy::default().min_match
        );
    }

    #[test]
    fn a_paraphrase_matches_and_a_near_miss_is_no_match_at_all() {
        let bar = ReusePolicy::default().min_match;
        let stored =
            "The invoice total is off by one cent when line items are rounded individually.";
        let said_again =
            "Rounding each line item on its own leaves the invoice total one cent off.";
        assert!(match_score(said_again, stored) >= bar, "{}", match_score(said_again, stored));
        // Same words, another thing named: a different module, identifier, number, file.
        for (a, b, why) in [
            (
                "What is the maximum line length in textwrap's default width?",
                "What is the maximum line length in pprint's default width?",
                "swapped words",
            ),
            (
                "KeyError raised in load_profile() when the user_id is missing from the request",
                "KeyError raised in load_profile() when the account_id is missing from the request",
                "swapped words",
            ),
            (
                "Why does peek() panic on an empty stack?",
                "Why does pop() panic on an empty queue?",
                "identifiers",
            ),
            (
                "The unit price of SKU-1042 in prices.csv is wrong.",
                "The unit price of SKU-2077 in prices.csv is wrong.",
                "numbers",
            ),
            (
                "What is the maximum line length enforced by the flake8 config in setup.cfg?",
                "What is the maximum line length enforced by the black config in pyproject.toml?",
                "identifiers",
            ),
        ] {
            assert_eq!(names_differ(a, b), Some(why), "{a} / {b}");
            assert_eq!(match_score(a, b), 0.0);
        }
        // Texts too long to align are still compared by what they name.
        let long = "word ".repeat(500);
        assert!(!swapped_words(&format!("{long} alpha"), &format!("{long} beta")));
    }

    #[test]
    fn a_negation_on_one_side_of_the_same_words_is_another_problem() {
        let stored =
            "The password reset email is sent to the old address after the user changes it.";
        let never = "The password reset email is never sent after the user changes the address.";
        assert_eq!(names_differ(never, stored), Some("one side negated"));
        assert_eq!(match_score(never, stored), 0.0);
        // Both negated, or neither: the rule has nothing to say.
        let both =
            "The password reset email is not sent to the old address after the user changes it.";
        assert!(!negated_on_one_side(never, both));
        // A paraphrase in other words may flip a negation: too few shared words to judge.
        let empty = "Why does peek() panic on an empty stack?";
        let no_items = "Calling peek when the stack holds no items crashes the program.";
        assert!(!negated_on_one_side(no_items, empty));
        assert!(negated_on_one_side("it isn't cached after a write", "it is cached after a write"));
    }

    #[test]
    fn residuals_are_the_content_words_each_lacks_in_order() {
        let (a, b) = residuals(
            "The rate limiter rejects every request when the counter key expires.",
            "The rate limiter lets every request through when the counter key expires.",
        );
        assert_eq!(a, "rejects");
        assert_eq!(b, "lets through");
        let (a, b) = residuals("the cache is stale", "the cache is stale after a write");
        assert_eq!((a.as_str(), b.as_str()), ("", "after write"));
    }

    /// A store holding one insight for `problem`, with its embedding by `embedder`.
    fn store_with_embedded(
        problem: &str,
        embedder: &ConceptEmbedder,
    ) -> crate::testing::MemoryStore {
        use crate::dense::Embed;
        let store = crate::testing::MemoryStore::default();
        let kept = insight(problem, 0.9, 2, 0);
        store.put_insight(&kept).expect("put");
        let vector = embedder.embed(&[problem]).expect("vector").remove(0);
        store.put_insight_embedding(&kept.id, embedder.id(), &vector).expect("put vector");
        store
    }

    #[test]
    fn problems_whose_unshared_words_disagree_in_meaning_are_no_candidates() {
        let stored =
            "Dates in the report are shown one day early for users west of the server's time zone.";
        let near_miss =
            "Dates in the report are shown in the server's time zone instead of the user's.";
        let paraphrase =
            "For users west of the server's time zone, report dates show up one day early.";
        // Nothing the anchors know tells the near-miss apart; the words it does not share do.
        assert_eq!(names_differ(near_miss, stored), None);
        let (instead, early) = residuals(near_miss, stored);
        let (show_up, shown) = residuals(paraphrase, stored);
        assert!(
            !instead.is_empty() && !early.is_empty() && !show_up.is_empty() && !shown.is_empty()
        );
        let leaked = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let embedder = ConceptEmbedder {
            concepts: vec![
                (stored, [1.0, 0.1, 0.0]),
                (near_miss, [1.0, 0.15, 0.0]),
                (paraphrase, [1.0, 0.1, 0.05]),
                (leaked(instead), [0.0, 1.0, 0.0]),
                (leaked(early), [1.0, 0.0, 0.0]),
                (leaked(show_up), [0.9, 0.0, 0.1]),
                (leaked(shown), [1.0, 0.0, 0.0]),
            ],
            fail: false,
        };
        let store = store_with_embedded(stored, &embedder);
        let policy = ReusePolicy::default();
        assert!(
            find_with(&store, near_miss, &policy, None, Some(&embedder)).expect("find").is_empty()
        );
        let found = find_with(&store, paraphrase, &policy, None, Some(&embedder)).expect("find");
        assert_eq!(found.len(), 1, "{found:?}");
        // A model that cannot embed the unshared words leaves the match as it was.
        let broken = ConceptEmbedder { concepts: vec![], fail: true };
        assert_eq!(unshared_words_disagree(near_miss, &[(stored, 0.9)], &broken), [false]);
        assert_eq!(
            unshared_words_disagree(near_miss, &[(stored, 0.9), (stored, 1.0)], &embedder),
            [true, false]
        );
        assert_eq!(unshared_words_disagree(paraphrase, &[(stored, 0.9)], &embedder), [false]);
    }

    #[test]
    fn briefs_that_quote_other_files_differ() {
        let a = "Problem:\nx\n\nRelevant context:\n### textwrap.py:10-20\ncode";
        let b = "Problem:\nx\n\nRelevant context:\n### pprint.py:10-20\ncode";
        assert!(briefs_differ(a, b));
        assert!(!briefs_differ(a, a));
        assert!(!briefs_differ(a, "Problem:\nx\n"));
    }

    /// A test double of an embedding model: each text known to it gets its concept's vector,
    /// any other text a vector orthogonal to all of them; `fail` makes every call an error.
    struct ConceptEmbedder {
        concepts: Vec<(&'static str, [f32; 3])>,
        fail: bool,
    }

    impl crate::dense::Embed for ConceptEmbedder {
        fn id(&self) -> &str {
            "test:concepts"
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            if self.fail {
                return Err("the model is gone".into());
            }
            Ok(texts
                .iter()
                .map(|t| {
                    let found = self.concepts.iter().find(|(text, _)| text == t);
                    let mut v = found.map_or(vec![0.0, 0.0, 1.0], |(_, v)| v.to_vec());
                    crate::dense::normalize(&mut v);
                    v
                })
                .collect())
        }
    }

    #[test]
    fn a_match_clearly_farther_than_a_problem_told_apart_is_no_candidate() {
        // The new problem is a variant of one stored problem (another size), and near enough in
        // meaning to a second one on the same subject that it would match it.
        let variant = "The upload form rejects files over 5 MB.";
        let same_subject = "Large uploads fail with an error from the upload form.";
        let new = "The upload form rejects files over 2 MB.";
        assert_eq!(names_differ(new, variant), Some("numbers"));
        assert_eq!(names_differ(new, same_subject), None);
        let embedder = ConceptEmbedder {
            concepts: vec![
                (variant, [1.0, 0.1, 0.0]),
                (new, [1.0, 0.12, 0.0]),
                (same_subject, [0.55, 0.0, 0.84]),
            ],
            fail: false,
        };
        let policy = ReusePolicy::default();
        let alone = store_with_embedded(same_subject, &embedder);
        let found = find_with(&alone, new, &policy, None, Some(&embedder)).expect("find");
        assert_eq!(found.len(), 1, "alone, the same-subject problem matches: {found:?}");
        assert!(found[0].matched < 0.6, "{found:?}");
        let both = store_with_embedded(same_subject, &embedder);
        let told_apart = insight(variant, 0.9, 2, 0);
        both.put_insight(&told_apart).expect("put");
        let vector = crate::dense::Embed::embed(&embedder, &[variant]).expect("vector").remove(0);
        both.put_insight_embedding(&told_apart.id, "test:concepts", &vector).expect("put vector");
        let found = find_with(&both, new, &policy, None, Some(&embedder)).expect("find");
        assert!(found.is_empty(), "{found:?}");
        // The variant itself is still found: nothing nearer was told apart.
        let found = find_with(&both, variant, &policy, None, Some(&embedder)).expect("find");
        assert_eq!(found.first().map(|c| c.insight.problem.as_str()), Some(variant));

        // By words alone, the same.
        let words_alone = |stored: &[&str]| -> Vec<Candidate> {
            let insights = stored.iter().map(|p| insight(p, 0.9, 2, 0)).collect();
            candidates(new, insights, &policy, &[])
        };
        let same_words = "Uploads through the form fail: it rejects files.";
        assert_eq!(words_alone(&[same_words]).len(), 1);
        assert!(words_alone(&[same_words, variant]).is_empty());
    }

    #[test]
    fn embeddings_find_a_paraphrase_that_shares_no_words_and_never_a_near_miss() {
        let stored = "an image over 10 MB is rejected by the upload";
        let paraphrase = "Big pictures, more than ten megabytes, get refused";
        let near_miss = "an image over 20 MB is rejected by the upload";
        let unrelated = "the parser rejects a trailing comma";
        let embedder = ConceptEmbedder {
            concepts: vec![
                (stored, [1.0, 0.1, 0.0]),
                (paraphrase, [1.0, 0.0, 0.0]),
                (near_miss, [1.0, 0.1, 0.0]),
                (unrelated, [0.0, 1.0, 0.0]),
            ],
            fail: false,
        };
        let store = store_with_embedded(stored, &embedder);
        let policy = ReusePolicy::default();

        // Words alone miss the paraphrase; meaning finds it.
        assert_eq!(match_score(paraphrase, stored), 0.0);
        let found = find_with(&store, paraphrase, &policy, None, Some(&embedder)).expect("find");
        assert_eq!(found.len(), 1);
        assert!(found[0].matched > 0.99, "{}", found[0].matched);
        // The same words about another size are another problem, however near in meaning.
        assert!(
            find_with(&store, near_miss, &policy, None, Some(&embedder)).expect("find").is_empty()
        );
        assert!(
            find_with(&store, unrelated, &policy, None, Some(&embedder)).expect("find").is_empty()
        );
        // A model that fails leaves the words to decide.
        let broken = ConceptEmbedder { concepts: vec![], fail: true };
        assert!(
            find_with(&store, paraphrase, &policy, None, Some(&broken)).expect("find").is_empty()
        );
        let same = find_with(&store, stored, &policy, None, Some(&broken)).expect("find");
        assert_eq!(same.len(), 1);
        // Another model's vectors are not compared with this one's.
        let other = ConceptEmbedder { concepts: embedder.concepts.clone(), fail: false };
        struct Renamed(ConceptEmbedder);
        impl crate::dense::Embed for Renamed {
            fn id(&self) -> &str {
                "test:other"
            }
            fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
                self.0.embed(texts)
            }
        }
        let renamed = Renamed(other);
        // Found by its words, and compared by embedding its problem afresh.
        let again = find_with(&store, paraphrase, &policy, None, Some(&renamed)).expect("find");
        assert_eq!(again.len(), 1);
    }
}

/// Why an outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("no insight or run has the id `{0}`; use the insight's or the run's id")]
    NotFound(String),
    #[error(
        "run {run} followed no insight (its strategy was {strategy}), so there is no advice to credit"
    )]
    NoInsight { run: String, strategy: crate::run::Strategy },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`record_feedback`] recorded: the insight with its new counts, the run it was given
/// through (if a run's id was given), and the reasons of insights it retired.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub insight: Insight,
    pub run_id: Option<String>,
    pub retired: Vec<(String, String)>,
}

/// Records whether following an insight worked, given the insight's id or the id of a run
/// that followed it, and ages insights after it ([`age`]). `source` says who reported it.
pub fn record_feedback(
    store: &dyn Store,
    id: &str,
    passed: bool,
    note: Option<String>,
    source: &str,
) -> Result<Feedback, FeedbackError> {
    let (insight_id, run_id) = match store.insight(id)? {
        Some(insight) => (insight.id, None),
        None => match store.run(id)? {
            Some(run) => match run.insight_id {
                Some(insight) => (insight, Some(run.id)),
                None => {
                    return Err(FeedbackError::NoInsight { run: run.id, strategy: run.strategy });
                }
            },
            None => return Err(FeedbackError::NotFound(id.to_owned())),
        },
    };
    let outcome = crate::store::Outcome {
        insight_id: insight_id.clone(),
        run_id: run_id.clone(),
        passed,
        source: source.to_owned(),
        note,
        created_at: crate::ids::now_rfc3339(),
    };
    let insight = store.record_outcome(&outcome)?.ok_or(FeedbackError::NotFound(insight_id))?;
    let retired = age(store, &insight, passed)?;
    Ok(Feedback { insight, run_id, retired })
}
