//! Every way an upstream can fail, played by a scripted server: each call ends in a result or a
//! classified error within its limits, retries only what may succeed, and never hangs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aimos_core::{ChatEvent, ChatRequest, Message, Model, ModelError, TimeoutPhase};
use aimos_providers::{Api, ApiKey, BreakerPolicy, Fallback, RetryPolicy};

use crate::server::{Act, Server, event, respond, sse_head};
use crate::{open, quick};

const OK_JSON: &str = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;

fn ok_stream() -> Vec<Act> {
    vec![
        sse_head(),
        event(None, r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#),
        event(None, r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#),
        event(None, r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#),
        event(None, "[DONE]"),
    ]
}

/// A stream of `n` one-character pieces, `pause` apart, that never finishes.
fn drip(n: usize, pause: Duration) -> Vec<Act> {
    let mut acts = vec![sse_head()];
    for _ in 0..n {
        acts.push(event(None, r#"{"choices":[{"index":0,"delta":{"content":"."}}]}"#));
        acts.push(Act::Sleep(pause));
    }
    acts
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

fn model(server: &Server) -> Arc<dyn Model> {
    open(quick(Api::OpenAi, &server.url), "m")
}

/// Streams a request; returns the pieces seen, the outcome and the time it took.
async fn stream(model: &dyn Model) -> (String, Result<String, ModelError>, Duration) {
    let started = Instant::now();
    let mut stream = model.chat_stream(request());
    let mut seen = String::new();
    let outcome = loop {
        match stream.next().await {
            Some(Ok(ChatEvent::Delta(piece))) => seen.push_str(&piece),
            Some(Ok(ChatEvent::Done(done))) => break Ok(done.content),
            Some(Err(err)) => break Err(err),
            None => panic!("the stream ended without an answer or an error"),
        }
    };
    (seen, outcome, started.elapsed())
}

#[tokio::test]
async fn a_slow_first_byte_times_out_and_is_retried_within_the_total() {
    let server = Server::start(|_, _| vec![Act::Sleep(Duration::from_secs(30))]).await;
    let (_, outcome, took) = stream(&*model(&server)).await;
    let err = outcome.expect_err("no answer");
    assert!(matches!(err, ModelError::Timeout { phase: TimeoutPhase::FirstToken, .. }), "{err:?}");
    assert_eq!(server.hits(), 3, "one try and two retries");
    assert!(took >= Duration::from_secs(3) && took < Duration::from_millis(4500), "{took:?}");
}

#[tokio::test]
async fn a_stall_mid_stream_ends_the_call_without_a_retry() {
    let server = Server::start(|_, _| {
        vec![
            sse_head(),
            event(None, r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#),
            Act::Sleep(Duration::from_secs(30)),
        ]
    })
    .await;
    let (seen, outcome, took) = stream(&*model(&server)).await;
    assert_eq!(seen, "Hel");
    let err = outcome.expect_err("stalled");
    assert!(matches!(err, ModelError::Timeout { phase: TimeoutPhase::Idle, .. }), "{err:?}");
    assert_eq!(server.hits(), 1, "text was already handed over: no retry");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_the_server_asks() {
    let server = Server::start(|n, _| match n {
        0 => vec![respond(
            429,
            &[("retry-after", "1")],
            r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        )],
        _ => vec![respond(200, &[], OK_JSON)],
    })
    .await;
    let started = Instant::now();
    let answer = model(&server).chat(request()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(answer.content, "Hello");
    assert_eq!(answer.usage.total_tokens(), 7);
    assert_eq!(server.hits(), 2);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn server_errors_and_overload_are_classified_and_retried() {
    for (status, body) in [
        (500, r#"{"error":{"message":"The server had an error","type":"server_error"}}"#),
        (503, "Service Unavailable"),
        (529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
    ] {
        let server = Server::start(move |_, _| vec![respond(status, &[], body)]).await;
        let err = model(&server).chat(request()).await.expect_err("always failing");
        match status {
            500 => assert!(matches!(err, ModelError::Server { status: 500, .. }), "{err:?}"),
            _ => assert!(matches!(err, ModelError::Overloaded { .. }), "{status}: {err:?}"),
        }
        assert_eq!(server.hits(), 3, "{status}: one try and two retries");
    }
    // A transient failure is invisible to the caller.
    let server = Server::start(|n, _| match n {
        0 => vec![respond(500, &[], "oops")],
        _ => ok_stream(),
    })
    .await;
    let (seen, outcome, _) = stream(&*model(&server)).await;
    assert_eq!((seen.as_str(), outcome.unwrap().as_str()), ("Hello", "Hello"));
}

#[tokio::test]
async fn malformed_json_is_a_bad_response_and_not_retried() {
    let server = Server::start(|_, _| vec![respond(200, &[], "{\"choices\": [ oops")]).await;
    let err = model(&server).chat(request()).await.expect_err("malformed");
    assert!(matches!(err, ModelError::BadResponse { .. }), "{err:?}");
    assert_eq!(server.hits(), 1);

    let server = Server::start(|_, _| vec![sse_head(), event(None, "{not json")]).await;
    let (_, outcome, _) = stream(&*model(&server)).await;
    assert!(matches!(outcome, Err(ModelError::BadResponse { .. })), "{outcome:?}");
}

#[tokio::test]
async fn a_truncated_stream_is_broken_and_retried_only_before_text() {
    // Cut off after some text: the caller has the text, and a classified error.
    let server = Server::start(|_, _| {
        vec![sse_head(), event(None, r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#)]
    })
    .await;
    let (seen, outcome, _) = stream(&*model(&server)).await;
    assert_eq!(seen, "Hel");
    assert!(matches!(outcome, Err(ModelError::BrokenStream { .. })), "{outcome:?}");
    assert_eq!(server.hits(), 1);

    // Cut off mid-event before any text: retried, and the retry succeeds.
    let server = Server::start(|n, _| match n {
        0 => vec![sse_head(), Act::Send(b"data: {\"choices\":[{\"ind".to_vec())],
        _ => ok_stream(),
    })
    .await;
    let (seen, outcome, _) = stream(&*model(&server)).await;
    assert_eq!((seen.as_str(), outcome.unwrap().as_str()), ("Hello", "Hello"));
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_connection_reset_is_unreachable_and_retried() {
    let server = Server::start(|_, _| vec![Act::Reset]).await;
    let started = Instant::now();
    let err = model(&server).chat(request()).await.expect_err("reset");
    assert!(matches!(err, ModelError::Unreachable { .. }), "{err:?}");
    assert_eq!(server.hits(), 3);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nothing listening at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = open(quick(Api::OpenAi, &format!("http://127.0.0.1:{port}/v1")), "m");
    let err = dead.chat(request()).await.expect_err("refused");
    assert!(matches!(err, ModelError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_huge_response_is_refused_at_the_limit() {
    let huge = format!(
        r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{}"}},"finish_reason":"stop"}}]}}"#,
        "x".repeat(4 << 20)
    );
    let server = Server::start(move |_, _| vec![respond(200, &[], &huge)]).await;
    let err = model(&server).chat(request()).await.expect_err("too large");
    assert!(matches!(err, ModelError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("exceeds 1 MiB"), "{err}");

    // An endless stream stops at the limit too.
    let server = Server::start(|_, _| {
        let piece = event(
            None,
            &format!(
                r#"{{"choices":[{{"index":0,"delta":{{"content":"{}"}}}}]}}"#,
                "y".repeat(60_000)
            ),
        );
        let mut acts = vec![sse_head()];
        acts.extend(std::iter::repeat_n(piece, 100));
        acts
    })
    .await;
    let (_, outcome, _) = stream(&*model(&server)).await;
    assert!(matches!(outcome, Err(ModelError::BadResponse { .. })), "{outcome:?}");
}

#[tokio::test]
async fn a_slow_endless_stream_ends_at_the_total_limit() {
    let server = Server::start(|_, _| drip(200, Duration::from_millis(200))).await;
    let (seen, outcome, took) = stream(&*model(&server)).await;
    assert!(seen.len() > 10, "{seen}");
    let err = outcome.expect_err("endless");
    assert!(matches!(err, ModelError::Timeout { phase: TimeoutPhase::Total, .. }), "{err:?}");
    assert!(took >= Duration::from_secs(6) && took < Duration::from_millis(6500), "{took:?}");
}

#[tokio::test]
async fn a_refused_key_is_an_auth_error_that_never_shows_the_key() {
    let server = Server::start(|_, _| {
        vec![respond(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided: sk-test-supersecret-9876. You can find your API key in your account.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        )]
    })
    .await;
    let mut config = quick(Api::OpenAi, &server.url);
    config.api_key = Some(ApiKey::new("sk-test-supersecret-9876"));
    let err = open(config, "m").chat(request()).await.expect_err("refused");
    assert!(matches!(err, ModelError::Auth { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("supersecret"), "{shown}");
    assert_eq!(server.hits(), 1, "not retried");
    let sent = &server.requests()[0];
    assert_eq!(sent.header("authorization").as_deref(), Some("Bearer sk-test-supersecret-9876"));
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_a_probe_closes_it() {
    let server = Server::start(|n, _| match n {
        0..3 => vec![respond(500, &[], "down")],
        _ => vec![respond(200, &[], OK_JSON)],
    })
    .await;
    let mut config = quick(Api::OpenAi, &server.url);
    config.retry = RetryPolicy { max_retries: 0, ..config.retry };
    config.breaker = BreakerPolicy { failures: 3, cool_down: Duration::from_millis(800) };
    let model = open(config, "m");
    for _ in 0..3 {
        let err = model.chat(request()).await.expect_err("down");
        assert!(matches!(err, ModelError::Server { .. }), "{err:?}");
    }
    let started = Instant::now();
    let err = model.chat(request()).await.expect_err("paused");
    assert!(matches!(err, ModelError::CircuitOpen { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(50), "refused at once");
    assert_eq!(server.hits(), 3, "nothing sent while open");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(model.chat(request()).await.unwrap().content, "Hello", "the probe succeeds");
    assert_eq!(model.chat(request()).await.unwrap().content, "Hello", "closed again");
    assert_eq!(server.hits(), 5);
}

#[tokio::test]
async fn a_fallback_list_moves_on_before_the_first_byte_only() {
    let down = Server::start(|_, _| vec![respond(503, &[], "overloaded")]).await;
    let up = Server::start(|_, _| ok_stream()).await;
    let mut first = quick(Api::OpenAi, &down.url);
    first.retry = RetryPolicy { max_retries: 1, ..first.retry };
    let mut providers = aimos_providers::Providers::from_env();
    providers.configure("down", first);
    providers.configure("up", quick(Api::OpenAi, &up.url));
    let chain = Fallback::new(vec![
        providers.open("down:m", None).unwrap(),
        providers.open("up:m", None).unwrap(),
    ])
    .unwrap();
    let answer = chain.chat(request()).await.unwrap();
    assert_eq!(answer.content, "Hello");
    assert_eq!(answer.model, "up:m", "the answer names the model that gave it");
    assert_eq!(down.hits(), 2, "the first model kept its own retry loop, once");

    // A bad request is not another model's business.
    let refusing =
        Server::start(|_, _| vec![respond(400, &[], r#"{"error":{"message":"bad temperature"}}"#)])
            .await;
    providers.configure("refusing", quick(Api::OpenAi, &refusing.url));
    let chain = Fallback::new(vec![
        providers.open("refusing:m", None).unwrap(),
        providers.open("up:m", None).unwrap(),
    ])
    .unwrap();
    let err = chain.chat(request()).await.expect_err("bad request");
    assert!(matches!(err, ModelError::InvalidRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn an_error_event_inside_an_anthropic_stream_is_classified() {
    let server = Server::start(|_, _| {
        vec![
            sse_head(),
            event(Some("message_start"), r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#),
            event(Some("error"), r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ]
    })
    .await;
    let mut config = quick(Api::Anthropic, &server.url);
    config.retry = RetryPolicy { max_retries: 0, ..config.retry };
    let (_, outcome, _) = stream(&*open(config, "claude")).await;
    assert!(matches!(outcome, Err(ModelError::Overloaded { .. })), "{outcome:?}");
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_upstream_request() {
    let server = Server::start(|_, _| drip(100, Duration::from_millis(50))).await;
    let model = model(&server);
    let mut stream = model.chat_stream(request());
    assert!(matches!(stream.next().await, Some(Ok(ChatEvent::Delta(_)))));
    drop(stream);
    // The server finds the connection closed when it writes next.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.hits(), 1);
    assert_eq!(server.abandoned(), 1, "the upstream connection was closed");
}
