//! Turning generated token pieces into streamable text.
//!
//! Tokens are byte pieces: one character may be split across two tokens, and a stop sequence may
//! arrive in parts. These helpers hold back exactly what is not yet safe to show.

/// Joins byte pieces into text, holding back an incomplete UTF-8 character until it completes.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Adds `bytes` and returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match err.error_len() {
                        // An incomplete character at the end: wait for the next piece.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never be valid: replace them and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end of generation, with broken bytes replaced.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Finds stop sequences in streamed text and holds back any tail that could still become one.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// Adds `text`; returns what may be shown now and whether a stop sequence was reached
    /// (the stop sequence itself and anything after it are dropped).
    pub fn push(&mut self, text: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.held.push_str(text);
        let first_stop = self.stops.iter().filter_map(|stop| self.held.find(stop.as_str())).min();
        if let Some(at) = first_stop {
            let ready = self.held[..at].to_owned();
            self.held.clear();
            self.stopped = true;
            return (ready, true);
        }
        let keep = self.longest_partial_stop();
        let cut = self.held.len() - keep;
        let ready = self.held[..cut].to_owned();
        self.held.drain(..cut);
        (ready, false)
    }

    /// Whether a stop sequence was reached.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Generation ended without a stop sequence: everything held back is text after all.
    pub fn finish(&mut self, tail: &str) -> String {
        if self.stopped {
            return String::new();
        }
        let (mut ready, stopped) = self.push(tail);
        if !stopped {
            ready.push_str(&self.held);
            self.held.clear();
        }
        ready
    }

    /// Length in bytes of the longest end of `held` that begins some stop sequence.
    fn longest_partial_stop(&self) -> usize {
        let held = &self.held;
        self.stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(held.len() + 1))
                    .filter(|&n| stop.is_char_boundary(n) && held.ends_with(&stop[..n]))
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_pieces_comes_out_whole() {
        let mut decoder = Utf8Decoder::default();
        let snowman = "☃".as_bytes();
        assert_eq!(decoder.push(&snowman[..1]), "");
        assert_eq!(decoder.push(&snowman[1..]), "☃");
        assert_eq!(decoder.push(b"ok"), "ok");
        assert_eq!(decoder.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(decoder.push(&"é".as_bytes()[..1]), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut matcher = StopMatcher::new(&stops);
        let mut shown = Vec::new();
        for piece in pieces {
            let (ready, stopped) = matcher.push(piece);
            shown.push(ready);
            if stopped {
                return (shown, true);
            }
        }
        shown.push(matcher.finish(""));
        (shown, false)
    }

    #[test]
    fn stop_sequence_split_across_pieces_is_caught_and_dropped() {
        let (shown, stopped) = run(&["END"], &["abc E", "N", "D tail"]);
        assert!(stopped);
        assert_eq!(shown.concat(), "abc ");
        assert_eq!(shown, vec!["abc ", "", ""]);
    }

    #[test]
    fn held_back_text_is_released_when_it_stops_matching() {
        let (shown, stopped) = run(&["END"], &["abc E", "Nx", " more"]);
        assert!(!stopped);
        assert_eq!(shown, vec!["abc ", "ENx", " more", ""]);
    }

    #[test]
    fn earliest_of_several_stop_sequences_wins() {
        let (shown, stopped) = run(&["\n\n", "###"], &["one ### two\n\nthree"]);
        assert!(stopped);
        assert_eq!(shown.concat(), "one ");
    }

    #[test]
    fn partial_stop_at_the_end_of_generation_is_text() {
        let (shown, stopped) = run(&["</answer>"], &["42 </ans"]);
        assert!(!stopped);
        assert_eq!(shown.concat(), "42 </ans");
    }
}
