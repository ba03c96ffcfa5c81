//! A fast OpenAI-compatible upstream for benchmarks: every chat completion gets the same
//! small answer at once. `cargo run --release --example fixed_upstream -- 127.0.0.1:9100`

use axum::Router;
use axum::routing::{get, post};

const ANSWER: &str = r#"{"id":"chatcmpl-fixed","object":"chat.completion","created":0,"model":"fixed","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(|| async { ([("content-type", "application/json")], ANSWER) }),
        )
        .route(
            "/v1/models",
            get(|| async { r#"{"object":"list","data":[{"id":"fixed","object":"model"}]}"# }),
        );
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await
}
