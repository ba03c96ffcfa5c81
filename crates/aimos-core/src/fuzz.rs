//! A small mutation fuzzer for the parsers of outside input, run by their tests.
//!
//! Each case starts from one of a target's seeds (valid inputs) or from random bytes, and
//! applies a few mutations: bit flips, special bytes, deletions, duplications, splices with
//! another seed, truncations, deep nesting, huge numbers, invalid UTF-8, tokens from a
//! dictionary. The check calls the parser; a panic fails the test with the input that caused it,
//! saved under `target/fuzz-crashes` to be replayed. The number of cases per target is
//! `AIMOS_FUZZ_CASES` (default 4,000); the seed is `AIMOS_FUZZ_SEED` (default fixed, so that CI
//! repeats itself), and `scripts/fuzz.sh` runs more cases with fresh seeds.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Cases per target: `AIMOS_FUZZ_CASES`, else 4,000.
pub fn cases() -> usize {
    std::env::var("AIMOS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4_000)
}

/// Tokens that parsers of JSON, TOML, SSE and edit blocks treat specially.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-0",
    b"1e999999",
    b"-1e-999999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.000000000000000000000000000000000001",
    b"NaN",
    b"\\u0000",
    b"\\ud800",
    b"\\uDFFF\\uD800",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x92",
    b"\r\n",
    b"\r",
    b"\n\n",
    b"data: ",
    b"data: [DONE]",
    b"event: ",
    b": keep-alive",
    b"<<<<<<< SEARCH",
    b"=======",
    b">>>>>>> REPLACE",
    b"```",
    b"[section]",
    b"[[array]]",
    b"= ",
    b"'''",
    b"\"\"\"",
    b"$ref",
    b"#/$defs/",
    b"\"type\"",
    b"\"properties\"",
    b"\"items\"",
    b"\"anyOf\"",
    b"\"maxItems\": 18446744073709551615",
    b"\"content\"",
    b"\"role\"",
    b"\"messages\"",
    b"\"choices\"",
    b"\"tool_calls\"",
    b"\x00",
];

/// A xorshift generator: fast, and the same cases for the same seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
}

/// One input made from `seeds`.
pub fn mutate(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(20) == 0 {
        let len = rng.below(256);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut data = seeds[rng.below(seeds.len())].to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = b"\"{}[]:,\\\n\r\x00\xff-0e."[rng.below(15)];
            }
            2 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = data[start..end].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            4 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                data.splice(at..at, token.iter().copied());
            }
            5 => {
                let other = seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            6 => data.truncate(at),
            7 => {
                let depth = 1 + rng.below(3000);
                let (open, close) = if rng.below(2) == 0 { (b'[', b']') } else { (b'{', b'}') };
                let mut nested = vec![open; depth];
                nested.extend_from_slice(&data);
                if rng.below(2) == 0 {
                    nested.extend(std::iter::repeat_n(close, depth));
                }
                data = nested;
            }
            8 => {
                let digits = 1 + rng.below(400);
                let number: Vec<u8> = (0..digits).map(|_| b'0' + (rng.below(10) as u8)).collect();
                data.splice(at..at, number);
            }
            _ => {
                let repeat = 1 + rng.below(2000);
                let byte = [b'a', b' ', b'\\', b'"', 0xe9, b'\n'][rng.below(6)];
                data.splice(at..at, std::iter::repeat_n(byte, repeat));
            }
        }
    }
    data
}

/// Runs `check` on [`cases`] inputs made from `seeds`; fails with the input if it panics.
pub fn run(target: &str, seeds: &[&[u8]], check: impl Fn(&[u8])) {
    let seed = std::env::var("AIMOS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Rng::new(seed ^ fnv(target.as_bytes()));
    let total = cases();
    // Seeds first, as they are.
    for seed in seeds {
        attempt(target, seed, &check);
    }
    for _ in 0..total {
        let input = mutate(&mut rng, seeds);
        attempt(target, &input, &check);
    }
}

/// Fails the test (a panic, as an assertion does) when `check` panics on `input`.
#[allow(clippy::panic)]
fn attempt(target: &str, input: &[u8], check: &impl Fn(&[u8])) {
    if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-crashes");
        let file = dir.join(format!("{target}-{:016x}", fnv(input)));
        let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, input));
        let shown = String::from_utf8_lossy(&input[..input.len().min(400)]).into_owned();
        let path = if saved.is_ok() { file.display().to_string() } else { "(not saved)".into() };
        std::panic::panic_any(format!(
            "{target} panicked on an input of {} bytes, saved at {path}: {shown:?}",
            input.len()
        ));
    }
}

/// FNV-1a: a stable hash for names and inputs.
fn fnv(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// The input as text, as a parser of text receives it (invalid UTF-8 replaced).
pub fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_repeatable_and_varied() {
        let seeds: &[&[u8]] = &[br#"{"a": [1, 2.5, "x"]}"#, b"data: hi\n\n"];
        let first: Vec<Vec<u8>> = {
            let mut rng = Rng::new(7);
            (0..200).map(|_| mutate(&mut rng, seeds)).collect()
        };
        let again: Vec<Vec<u8>> = {
            let mut rng = Rng::new(7);
            (0..200).map(|_| mutate(&mut rng, seeds)).collect()
        };
        assert_eq!(first, again);
        let distinct: std::collections::HashSet<&Vec<u8>> = first.iter().collect();
        assert!(distinct.len() > 150, "{} distinct of 200", distinct.len());
        assert!(first.iter().any(|i| std::str::from_utf8(i).is_err()), "some are not UTF-8");
        assert!(first.iter().any(|i| i.len() > 1000), "some are long");
    }

    #[test]
    fn a_panic_names_the_input() {
        let caught = catch_unwind(|| {
            run("demo", &[b"ok"], |input| {
                assert!(input != b"ok", "boom");
            })
        });
        let message = caught.expect_err("the seed panics");
        let text = message.downcast_ref::<String>().expect("a message");
        assert!(text.contains("demo panicked on an input of 2 bytes"), "{text}");
    }

    /// A model's edit blocks are outside input: none makes parsing or applying them panic.
    #[test]
    fn no_answer_makes_edit_blocks_panic() {
        use aimos_context::edit::{apply, parse};
        const FILE: &str = "def line_total(quantity, unit_price):\n    \"\"\"The price.\"\"\"\n    return quantity + unit_price\n\n\ndef discount_rate(quantity):\n\treturn 0.1 if quantity > 10 else 0\n";
        let seeds: &[&[u8]] = &[
            b"The fix:\n\ninvoice.py\n```python\n<<<<<<< SEARCH\n    return quantity + unit_price\n=======\n    return quantity * unit_price\n>>>>>>> REPLACE\n```\n",
            b"**invoice.py**:\n<<<<<<< SEARCH\n=======\n# new\n>>>>>>> REPLACE\n<<<<<<< SEARCH\ndef discount_rate(quantity):\n\treturn 0.1 if quantity > 10 else 0\n=======\n>>>>>>> REPLACE\n",
            b"`a.py`\n<<<<<<< SEARCH\nx\n=======\ny\n",
        ];
        run("edit-blocks", seeds, |input| {
            let parsed = parse(&text(input));
            for edit in &parsed.edits {
                let _ = apply(Some(FILE), edit);
                let _ = apply(None, edit);
            }
        });
    }

    /// Problem statements and tracebacks are outside input: none makes reading their anchors,
    /// or redacting them, panic.
    #[test]
    fn no_report_makes_anchors_or_redaction_panic() {
        use aimos_context::anchor;
        let seeds: &[&[u8]] = &[
            b"Traceback (most recent call last):\n  File \"/srv/app/shop.py\", line 42, in <module>\n    total = line_total(3, 2.5)\nValueError: 'bad' is not a number\n",
            b"thread 'main' panicked at src/stack.rs:12:9:\nindex out of bounds\n   0: stack::Stack<T>::peek\n             at ./src/stack.rs:12:9\n",
            b"curl -u admin:hunter2 https://x && PGPASSWORD=pw psql; AKIAIOSFODNN7EXAMPLE `unquote()` fails",
        ];
        run("anchors", seeds, |input| {
            let text = text(input);
            let _ = anchor::frames(&text);
            let _ = anchor::paths(&text);
            let _ = anchor::identifiers(&text);
            let _ = anchor::quotes(&text);
            let _ = aimos_context::redact::redact(&text);
        });
    }
}
