//! A fast OpenAI-compatible upstream for benchmarks: every chat completion gets the same
//! small answer at once (a structured-output request gets an insight in JSON).
//! `cargo run --release --example fixed_upstream -- 127.0.0.1:9100 [FAULTS]`
//!
//! With FAULTS (a fraction, e.g. 0.1), that share of requests fails the way upstreams do, in
//! turn: a 500, a 429 with Retry-After, an answer cut short (invalid JSON), or a 2 s delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const ANSWER: &str = r#"{"id":"chatcmpl-fixed","object":"chat.completion","created":0,"model":"fixed","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}"#;

const INSIGHT: &str = r#"{"id":"chatcmpl-fixed","object":"chat.completion","created":0,"model":"fixed","choices":[{"index":0,"message":{"role":"assistant","content":"{\"diagnosis\":\"The loop stops one short: range(1, n) leaves out n.\",\"plan\":[\"Use range(1, n + 1)\"],\"key_facts\":[\"range excludes its end\"],\"pitfalls\":[\"do not start at 0\"],\"confidence\":0.7,\"reasoning\":\"range's end is exclusive\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":60,"total_tokens":180}}"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:9100".into());
    let faults: f64 = args.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
    let seen = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |body: Bytes| {
                let n = seen.fetch_add(1, Ordering::Relaxed);
                async move { answer(&body, n, faults).await }
            }),
        )
        .route(
            "/v1/models",
            get(|| async { r#"{"object":"list","data":[{"id":"fixed","object":"model"}]}"# }),
        );
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await
}

async fn answer(body: &[u8], n: u64, faults: f64) -> Response {
    // Which requests fail: a hash of their number against the fault rate, so that faults are
    // spread out and the same for the same run.
    let draw = (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64 / (1u64 << 53) as f64;
    if draw < faults {
        match n % 4 {
            0 => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response(),
            1 => {
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down")
                    .into_response();
            }
            2 => {
                return ([("content-type", "application/json")], &ANSWER[..ANSWER.len() / 2])
                    .into_response();
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    let structured = body.windows(11).any(|w| w == b"json_schema");
    let text = if structured { INSIGHT } else { ANSWER };
    ([("content-type", "application/json")], text).into_response()
}
