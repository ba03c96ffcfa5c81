//! Prompt-lookup decoding: drafts for greedy generation copied from the text already seen.
//!
//! Answers often quote their input: a search/replace edit repeats the lines it changes, an
//! explanation repeats identifiers. When the last few generated tokens also occur earlier (in
//! the prompt or in the answer so far), the tokens that followed them there are a cheap guess
//! of what comes next. The engine decodes the guess together with the current token in one
//! batch and keeps the longest run the model itself would have picked, so the answer is the
//! model's greedy answer (up to the numerics of batched kernels, below), in fewer passes.
//!
//! The draft length adapts to how much of each draft is kept, and a draft that keeps nothing
//! makes the next one wait twice as long as the last, so on prose, where guesses rarely hold,
//! drafting all but stops after a few tries, and returns as soon as a guess holds.
//!
//! Two limits, measured (docs/models.md): on a CPU with few cores a pass over n tokens costs
//! nearly n passes over one (qwen2.5-coder-0.5b on 2 cores: 34 ms for 1 token, 102 ms for 4,
//! 279 ms for 16), so drafts cannot pay there; and llama.cpp computes a batch with other
//! kernels than one token (tinyBLAS for F16 attention, repacked Q4_K weights four rows at a
//! time), so a near tie can go the other way. The engine therefore leaves it off unless asked.

use llama_cpp_2::token::LlamaToken;

/// Longest n-gram matched against the history; shorter ones are tried after it.
const NGRAM_MAX: usize = 4;
/// Shortest n-gram worth a draft: a single token matches too often to predict anything.
const NGRAM_MIN: usize = 2;
/// Bounds of the draft length.
const DRAFT_MIN: usize = 2;
const DRAFT_MAX: usize = 16;
/// The longest wait, in tokens, after drafts that kept nothing.
const PAUSE_MAX: usize = 64;

/// Drafting state for one answer.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    draft_len: usize,
    /// Tokens to generate one at a time before the next draft.
    wait: usize,
    /// How long the next wait is if this draft keeps nothing.
    pause: usize,
    /// Tokens drafted and tokens of drafts kept, over the whole answer.
    pub drafted: u64,
    pub accepted: u64,
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup { draft_len: 4, wait: 0, pause: 1, drafted: 0, accepted: 0 }
    }
}

impl Lookup {
    /// A draft of up to `limit` tokens to follow `history` (prompt and answer so far, its
    /// last token the one about to be decoded), or nothing when no guess is due or found.
    pub(crate) fn draft(&mut self, history: &[LlamaToken], limit: usize) -> Vec<LlamaToken> {
        if self.wait > 0 {
            self.wait -= 1;
            return Vec::new();
        }
        let len = self.draft_len.min(limit);
        if len == 0 {
            return Vec::new();
        }
        find(history, len)
    }

    /// Notes that `kept` of the `drafted` tokens matched the model's own choices.
    pub(crate) fn record(&mut self, drafted: usize, kept: usize) {
        self.drafted += drafted as u64;
        self.accepted += kept as u64;
        if kept == drafted {
            self.draft_len = (self.draft_len * 2).min(DRAFT_MAX);
        } else if kept * 2 < drafted {
            self.draft_len = (self.draft_len / 2).max(DRAFT_MIN);
        }
        if kept == 0 {
            self.wait = self.pause;
            self.pause = (self.pause * 2).min(PAUSE_MAX);
        } else {
            self.pause = 1;
        }
    }
}

/// The `len` tokens that followed the most recent earlier occurrence of `history`'s last
/// n-gram (longest n first); fewer where the history ends sooner; none without a match.
fn find(history: &[LlamaToken], len: usize) -> Vec<LlamaToken> {
    for n in (NGRAM_MIN..=NGRAM_MAX).rev() {
        if history.len() <= n {
            continue;
        }
        let tail = &history[history.len() - n..];
        // Latest start first. An occurrence may overlap the tail: that is a repeating pattern.
        let last_start = history.len() - n - 1;
        for start in (0..=last_start).rev() {
            if &history[start..start + n] == tail {
                let from = start + n;
                let to = (from + len).min(history.len());
                if from < to {
                    return history[from..to].to_vec();
                }
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&id| LlamaToken::new(id)).collect()
    }

    #[test]
    fn the_tokens_after_the_latest_match_of_the_longest_ngram_are_drafted() {
        // "5 6 7" occurred twice earlier; the latest occurrence is followed by 8 9.
        let history = tokens(&[5, 6, 7, 1, 2, 5, 6, 7, 8, 9, 3, 4, 6, 7]);
        assert_eq!(find(&history, 2), tokens(&[8, 9]));
        assert_eq!(find(&history, 10), tokens(&[8, 9, 3, 4, 6, 7]), "cut at the history's end");
    }

    #[test]
    fn a_single_shared_token_drafts_nothing() {
        let history = tokens(&[1, 2, 3, 4, 9, 3]);
        assert!(find(&history, 4).is_empty());
        assert!(find(&tokens(&[7]), 4).is_empty());
    }

    #[test]
    fn drafts_grow_while_they_hold_and_pause_longer_after_each_miss() {
        let mut lookup = Lookup::default();
        lookup.record(4, 4);
        assert_eq!(lookup.draft_len, 8);
        lookup.record(8, 8);
        lookup.record(16, 16);
        assert_eq!(lookup.draft_len, DRAFT_MAX);
        let history = tokens(&[1, 2, 3, 1, 2]);
        let waits: Vec<usize> = (0..8)
            .map(|_| {
                lookup.record(2, 0);
                let mut n = 0;
                while lookup.draft(&history, 4).is_empty() {
                    n += 1;
                }
                n
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64]);
        assert_eq!(lookup.draft_len, DRAFT_MIN);
        lookup.record(2, 1);
        lookup.record(2, 0);
        assert_eq!(lookup.wait, 1, "a draft that kept something resets the pause");
        assert_eq!((lookup.drafted, lookup.accepted), (4 + 8 + 16 + 16 + 4, 4 + 8 + 16 + 1));
    }
}
