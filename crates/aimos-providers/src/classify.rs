//! From what an upstream answered (or failed to) to a classified [`ModelError`].

use std::time::Duration;

use aimos_core::{ModelError, TimeoutPhase};
use reqwest::header::HeaderMap;

/// Most characters of an upstream's error message kept in ours.
const MESSAGE_LIMIT: usize = 400;

/// What a non-success HTTP status means, with the upstream's own message.
pub fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
    key_hint: &str,
) -> ModelError {
    let (message, code) = error_message(body);
    let message = scrub(&message, secret);
    let retry_after = retry_after(headers);
    match status {
        401 | 403 => ModelError::Auth { message: format!("{message} ({key_hint})") },
        429 if code.as_deref() == Some("insufficient_quota") => {
            ModelError::Auth { message: format!("{message} (the account has no quota left)") }
        }
        429 => ModelError::RateLimited { message, retry_after },
        503 | 529 => ModelError::Overloaded { message, retry_after },
        408 | 409 | 500..=599 => ModelError::Server { status, message },
        400 | 413 | 422 if mentions_context_length(&message, code.as_deref()) => {
            context_too_long(&message)
        }
        404 => ModelError::InvalidRequest { message: format!("not found: {message}") },
        _ => ModelError::InvalidRequest { message: format!("HTTP {status}: {message}") },
    }
}

/// An error event inside a stream, by its type name (`overloaded_error`, `server_error`, …).
pub fn stream_error(kind: Option<&str>, message: &str, secret: Option<&str>) -> ModelError {
    let message = scrub(message, secret);
    match kind.unwrap_or_default() {
        "overloaded_error" => ModelError::Overloaded { message, retry_after: None },
        "rate_limit_error" | "rate_limit_exceeded" => {
            ModelError::RateLimited { message, retry_after: None }
        }
        "authentication_error" | "permission_error" => ModelError::Auth { message },
        "invalid_request_error" if mentions_context_length(&message, None) => {
            context_too_long(&message)
        }
        "invalid_request_error" => ModelError::InvalidRequest { message },
        _ => ModelError::BrokenStream { message: format!("the provider reported: {message}") },
    }
}

/// What a failure of the HTTP client means.
pub fn transport_error(err: &reqwest::Error, url: &str, connect_timeout: Duration) -> ModelError {
    let message = chain(err);
    if err.is_connect() {
        if err.is_timeout() || message.contains("timed out") {
            return ModelError::Timeout { phase: TimeoutPhase::Connect, after: connect_timeout };
        }
        return ModelError::Unreachable { url: url.to_owned(), message };
    }
    if err.is_body() || err.is_decode() {
        return ModelError::BrokenStream { message };
    }
    // A connection closed or reset before the response head arrived.
    ModelError::Unreachable { url: url.to_owned(), message }
}

/// The message and code of an error body in OpenAI's or Anthropic's shape, else its text.
fn error_message(body: &[u8]) -> (String, Option<String>) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        let message = match error {
            serde_json::Value::String(text) => Some(text.clone()),
            _ => error.get("message").and_then(|m| m.as_str()).map(str::to_owned),
        };
        let code = error
            .get("code")
            .and_then(|c| c.as_str())
            .or_else(|| error.get("type").and_then(|t| t.as_str()))
            .map(str::to_owned);
        if let Some(message) = message {
            return (truncate(&message), code);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { ("(no message)".into(), None) } else { (truncate(text), None) }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_LIMIT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Removes the key, and anything shaped like an API key, from a message an upstream wrote
/// (some echo a masked form of the key they refused).
pub fn scrub(message: &str, secret: Option<&str>) -> String {
    let mut out = match secret.filter(|s| s.len() >= 4) {
        Some(secret) => message.replace(secret, "[key]"),
        None => message.to_owned(),
    };
    for prefix in ["sk-", "sk_", "key-"] {
        let mut from = 0;
        while let Some(found) = out[from..].find(prefix) {
            let start = from + found;
            let end = out[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_*.".contains(c)))
                .map_or(out.len(), |n| start + n);
            if end - start >= prefix.len() + 6 {
                out.replace_range(start..end, "[key]");
                from = start + "[key]".len();
            } else {
                from = end.max(start + prefix.len());
            }
        }
    }
    out
}

fn mentions_context_length(message: &str, code: Option<&str>) -> bool {
    let lower = message.to_lowercase();
    code == Some("context_length_exceeded")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("prompt is too long")
        || lower.contains("too many tokens")
}

/// A context-length refusal, with the two token counts the message names: the prompt is the
/// larger, the window the smaller (whatever order the vendor writes them in).
fn context_too_long(message: &str) -> ModelError {
    let numbers: Vec<usize> = message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .filter(|&n| n >= 16)
        .take(2)
        .collect();
    match numbers[..] {
        [a, b] if a != b => {
            ModelError::ContextTooLong { prompt_tokens: a.max(b), context_window: a.min(b) }
        }
        _ => ModelError::InvalidRequest { message: format!("context too long: {message}") },
    }
}

/// `retry-after-ms`, or `retry-after` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header("retry-after")?;
    let secs = match value.parse::<f64>() {
        Ok(secs) => secs,
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
            (http_date(value)? - now.as_secs() as i64).max(0) as f64
        }
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`), the
/// form HTTP dates are sent in.
fn http_date(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let (_weekday, day, month, year, time, zone) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if zone != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days since 1970-01-01 of a civil date (the proleptic Gregorian calendar).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

fn chain(err: &dyn std::error::Error) -> String {
    aimos_core::error_chain(err)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn classify(status: u16, body: &str) -> ModelError {
        status_error(status, &HeaderMap::new(), body.as_bytes(), Some("sk-secret-123456"), "hint")
    }

    #[test]
    fn statuses_map_to_classes() {
        let openai = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert!(matches!(classify(429, openai), ModelError::RateLimited { .. }));
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        assert!(matches!(classify(429, quota), ModelError::Auth { .. }));
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = classify(529, anthropic);
        assert_eq!(err, ModelError::Overloaded { message: "Overloaded".into(), retry_after: None });
        assert!(matches!(classify(503, "busy"), ModelError::Overloaded { .. }));
        assert!(matches!(classify(500, ""), ModelError::Server { status: 500, .. }));
        assert!(matches!(classify(502, "<html>"), ModelError::Server { status: 502, .. }));
        assert!(matches!(classify(401, "{}"), ModelError::Auth { .. }));
        assert!(matches!(classify(400, r#"{"error":"bad"}"#), ModelError::InvalidRequest { .. }));
        assert!(matches!(classify(404, "no such model"), ModelError::InvalidRequest { .. }));
    }

    #[test]
    fn context_length_refusals_of_each_vendor_give_both_counts() {
        for (body, prompt, window) in [
            (
                r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130415 tokens.","code":"context_length_exceeded"}}"#,
                130415,
                128000,
            ),
            (
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208321 tokens > 200000 maximum"}}"#,
                208321,
                200000,
            ),
            (
                r#"{"error":{"message":"Requested tokens (3000) exceed context window of 2048","type":"invalid_request_error"}}"#,
                3000,
                2048,
            ),
        ] {
            assert_eq!(
                classify(400, body),
                ModelError::ContextTooLong { prompt_tokens: prompt, context_window: window },
                "{body}"
            );
        }
    }

    #[test]
    fn keys_never_survive_in_messages() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-abc***********************xyz1. You can find your API key at ...","code":"invalid_api_key"}}"#;
        let err = classify(401, body).to_string();
        assert!(!err.contains("sk-proj"), "{err}");
        assert!(err.contains("[key]"), "{err}");
        let echoed = classify(400, r#"{"error":"bad header sk-secret-123456"}"#).to_string();
        assert!(!echoed.contains("secret-123456"), "{echoed}");
        // Ordinary words that merely start like a key prefix stay.
        assert_eq!(scrub("ask-me and sk-1", None), "ask-me and sk-1");
    }

    #[test]
    fn retry_after_in_seconds_or_milliseconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        // A date in the past means now; an unreadable one means nothing.
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        assert_eq!(http_date("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Sun, 29 Feb 2032 12:00:01 GMT"), Some(1_961_668_801));
    }

    #[test]
    fn stream_error_events_are_classified_by_type() {
        assert!(matches!(
            stream_error(Some("overloaded_error"), "Overloaded", None),
            ModelError::Overloaded { .. }
        ));
        assert!(matches!(
            stream_error(Some("api_error"), "x", None),
            ModelError::BrokenStream { .. }
        ));
        assert!(matches!(stream_error(None, "x", None), ModelError::BrokenStream { .. }));
    }
}
