//! Server-sent events, decoded incrementally from the bytes of a response body.
//!
//! Follows the event-stream format: lines end in LF, CRLF or CR; `data:` lines of one event are
//! joined with newlines; a blank line dispatches the event; lines starting with `:` are comments
//! (keep-alives); one space after the colon is dropped.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field; `None` for the default `message` type.
    pub event: Option<String>,
    pub data: String,
}

/// An incremental decoder: feed it chunks as they arrive, take the events that are complete.
#[derive(Debug)]
pub struct Decoder {
    /// Bytes of the line being read, not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF at the start of the next chunk belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Most bytes one event may hold.
    limit: usize,
}

/// The stream broke the format or the size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("an event exceeds {0} bytes")]
    TooLarge(usize),
    #[error("an event is not valid UTF-8")]
    NotUtf8,
}

impl Decoder {
    /// A decoder that refuses events over `limit` bytes.
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            limit,
        }
    }

    /// Decodes `chunk`, appending every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            self.check_size()?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
            if rest[end] == b'\r' {
                match rest.get(end + 1) {
                    Some(b'\n') => rest = &rest[end + 2..],
                    Some(_) => rest = &rest[end + 1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[end + 1..];
            }
        }
        self.line.extend_from_slice(rest);
        self.check_size()
    }

    /// Whether bytes of an unfinished event are waiting (a stream that ends now was cut off).
    pub fn is_mid_event(&self) -> bool {
        !self.line.is_empty() || self.has_data || self.event.is_some()
    }

    fn check_size(&self) -> Result<(), DecodeError> {
        if self.line.len() + self.data.len() > self.limit {
            return Err(DecodeError::TooLarge(self.limit));
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if line.is_empty() {
            if self.has_data {
                out.push(Event { event: self.event.take(), data: std::mem::take(&mut self.data) });
            }
            self.event = None;
            self.has_data = false;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` steer browser reconnection, which does not apply here.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<Event> {
        let mut decoder = Decoder::new(1 << 20);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.feed(chunk, &mut out).expect("valid stream");
        }
        out
    }

    #[test]
    fn events_come_out_the_same_whatever_the_chunking_and_line_endings() {
        let text = "event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: first\ndata:second\n\ndata: [DONE]\n\n";
        let expected = vec![
            Event { event: Some("message_start".into()), data: "{\"a\":1}".into() },
            Event { event: None, data: "first\nsecond".into() },
            Event { event: None, data: "[DONE]".into() },
        ];
        for ending in ["\n", "\r\n", "\r"] {
            let input = text.replace('\n', ending);
            for piece in 1..=input.len() {
                assert_eq!(
                    decode_in_pieces(input.as_bytes(), piece),
                    expected,
                    "{ending:?} {piece}"
                );
            }
        }
    }

    #[test]
    fn a_cut_off_event_is_noticed_and_not_dispatched() {
        let mut decoder = Decoder::new(1024);
        let mut out = Vec::new();
        decoder.feed(b"data: {\"partial\":", &mut out).expect("valid so far");
        assert!(out.is_empty());
        assert!(decoder.is_mid_event());
        decoder.feed(b"1}\n\n", &mut out).expect("valid");
        assert_eq!(out.len(), 1);
        assert!(!decoder.is_mid_event());
    }

    #[test]
    fn an_oversized_event_is_refused_even_without_a_line_end() {
        let mut decoder = Decoder::new(16);
        let mut out = Vec::new();
        let err = decoder.feed(&[b'x'; 64], &mut out).expect_err("too large");
        assert_eq!(err, DecodeError::TooLarge(16));
        let mut decoder = Decoder::new(16);
        let err = decoder.feed(b"data: 0123456789\ndata: 0123456789\n", &mut out);
        assert_eq!(err, Err(DecodeError::TooLarge(16)));
    }

    #[test]
    fn multibyte_characters_split_across_chunks_survive() {
        let input = "data: héllo wörld ✓\n\n".as_bytes();
        for piece in 1..input.len() {
            let events = decode_in_pieces(input, piece);
            assert_eq!(events[0].data, "héllo wörld ✓");
        }
    }
}
