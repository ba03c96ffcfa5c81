//! Prefix reuse: the KV state of recent sequences, so that a prompt that starts like an earlier
//! one is read only from where it differs.
//!
//! The worker's context holds one live sequence (the tokens whose keys and values are in it,
//! position by position). A request keeps the longest prefix it shares with the live sequence
//! and decodes only the rest.
//!
//! Only whole micro-batches of an earlier prompt are kept: llama.cpp computes a prompt's tokens
//! in micro-batches of `n_ubatch` from position 0, and a token's keys and values come out
//! bitwise the same only when its micro-batch holds the same tokens. Keeping a partial
//! micro-batch, or tokens that were generated one at a time, changed greedy answers in 3 of 12
//! second turns with smollm2-135m; keeping whole ones changed none. So up to `n_ubatch - 1`
//! shared tokens are read again, and a greedy answer is the one a fresh read gives. When a request would throw away a long live sequence, that
//! sequence's state is first copied to memory; a later request that shares more with a copy
//! than with the live sequence has the copy put back. Copies are kept least recently used
//! first, within a budget of bytes, and dropped when the machine runs short of memory.

use std::collections::VecDeque;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::token::LlamaToken;

/// A live sequence that would lose at least this many tokens, and more than it keeps, is copied
/// before it is cut.
const SAVE_AT_LEAST: usize = 256;
/// A copy is put back only when it saves at least this many more tokens than the live one.
const RESTORE_GAIN: usize = 64;
/// Memory a copy must leave free on the machine.
const KEEP_FREE: u64 = 512 << 20;

struct Saved {
    tokens: Vec<LlamaToken>,
    read: usize,
    state: SeqState,
}

/// What a request's prompt found in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prepared {
    /// Prompt tokens already in the context.
    pub reused: usize,
    /// Whether a copy was put back to get them.
    pub restored: bool,
}

pub(crate) struct PrefixCache {
    enabled: bool,
    /// Budget for copies, in bytes; `None` until sized from the first copy's size per token.
    budget: Option<usize>,
    /// Tokens of a whole window: the default budget is two windows of KV state.
    window: usize,
    /// Tokens llama.cpp computes in one pass of a prompt (its micro-batch).
    ubatch: usize,
    live: Vec<LlamaToken>,
    /// How many of the live tokens were read as a prompt (the rest were generated).
    read: usize,
    saved: VecDeque<Saved>,
}

impl PrefixCache {
    /// `budget_mib`: the most memory for copies (`None`: two full windows' worth); 0 keeps no
    /// copies, only the live sequence. `enabled: false` reads every prompt from the start.
    pub(crate) fn new(
        enabled: bool,
        budget_mib: Option<u32>,
        window: usize,
        ubatch: usize,
    ) -> PrefixCache {
        PrefixCache {
            enabled,
            budget: budget_mib.map(|mib| (mib as usize) << 20),
            window,
            ubatch: ubatch.max(1),
            live: Vec::new(),
            read: 0,
            saved: VecDeque::new(),
        }
    }

    /// Makes the context hold the longest prefix of `prompt` it can, and returns how much that
    /// is. At least the prompt's last token is left to decode, for its logits.
    pub(crate) fn prepare(
        &mut self,
        context: &mut LlamaContext<'_>,
        prompt: &[LlamaToken],
    ) -> Prepared {
        if !self.enabled {
            self.forget(context);
            return Prepared::default();
        }
        let limit = prompt.len().saturating_sub(1);
        let live = self.reusable(&self.live[..self.read], prompt, limit);
        let best = self
            .saved
            .iter()
            .enumerate()
            .map(|(i, saved)| (i, self.reusable(&saved.tokens[..saved.read], prompt, limit)))
            .max_by_key(|&(i, n)| (n, i));
        let mut prepared = Prepared { reused: live, restored: false };
        match best {
            Some((i, n)) if n >= live + RESTORE_GAIN => {
                self.save_live(context, live);
                let saved = self.saved.remove(i).expect("index from the iteration above");
                context.clear_kv_cache();
                if context.state_seq_set(&saved.state, 0).is_ok() {
                    self.live = saved.tokens;
                    self.read = saved.read;
                    prepared = Prepared { reused: n, restored: true };
                } else {
                    // A copy that does not fit this context: start from nothing.
                    self.live.clear();
                    self.read = 0;
                    prepared.reused = 0;
                }
            }
            _ => self.save_live(context, live),
        }
        self.truncate(context, prepared.reused);
        prepared
    }

    /// How much of `prompt` can be taken from a sequence that read `read` as its prompt: the
    /// whole micro-batches they share, at most `limit` tokens.
    fn reusable(&self, read: &[LlamaToken], prompt: &[LlamaToken], limit: usize) -> usize {
        common_prefix(read, prompt).min(limit) / self.ubatch * self.ubatch
    }

    /// Tokens decoded at the positions after the live sequence.
    pub(crate) fn extend(&mut self, tokens: &[LlamaToken]) {
        self.live.extend_from_slice(tokens);
    }

    /// Prompt tokens read at the positions after the live sequence.
    pub(crate) fn extend_read(&mut self, tokens: &[LlamaToken]) {
        self.live.extend_from_slice(tokens);
        self.read = self.live.len();
    }

    /// Drops the live sequence from position `len` on.
    pub(crate) fn truncate(&mut self, context: &mut LlamaContext<'_>, len: usize) {
        if len < self.live.len() || len == 0 {
            let from = u32::try_from(len).unwrap_or(u32::MAX);
            if len == 0 || context.clear_kv_cache_seq(Some(0), Some(from), None).is_err() {
                context.clear_kv_cache();
                self.live.clear();
                self.read = 0;
                return;
            }
            self.live.truncate(len);
            self.read = self.read.min(len);
        }
    }

    /// Empties the context (after an error mid-decode, when what it holds is unknown).
    pub(crate) fn forget(&mut self, context: &mut LlamaContext<'_>) {
        context.clear_kv_cache();
        self.live.clear();
        self.read = 0;
    }

    /// Bytes held in copies.
    pub(crate) fn saved_bytes(&self) -> usize {
        self.saved.iter().map(|s| s.state.byte_len()).sum()
    }

    /// Copies the live sequence when a request keeping `keep` tokens of it is about to cut
    /// most of it, and at least `SAVE_AT_LEAST` tokens (not when a conversation goes on),
    /// within the budget, dropping the oldest copies for it.
    fn save_live(&mut self, context: &LlamaContext<'_>, keep: usize) {
        let cut = self.live.len().saturating_sub(keep);
        if cut < SAVE_AT_LEAST || cut <= keep || self.budget == Some(0) {
            return;
        }
        let Ok(state) = context.state_seq_get(0, LlamaStateSeqFlags::empty()) else { return };
        let size = state.byte_len();
        let budget = *self.budget.get_or_insert(size / self.live.len().max(1) * self.window * 2);
        if size > budget || !memory_to_spare(size as u64) {
            self.saved.clear();
            return;
        }
        // One copy per sequence: a newer copy of the same tokens replaces an older one.
        self.saved.retain(|s| common_prefix(&s.tokens, &self.live) < s.tokens.len());
        while self.saved_bytes() + size > budget {
            self.saved.pop_front();
        }
        self.saved.push_back(Saved { tokens: self.live.clone(), read: self.read, state });
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Whether the machine keeps `KEEP_FREE` after `bytes` more are taken (true where it cannot tell).
fn memory_to_spare(bytes: u64) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else { return true };
    let available = info
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    available.is_none_or(|kib| kib * 1024 > bytes + KEEP_FREE)
}
