//! A bad-input sweep over real TCP: malformed, deeply nested and wrongly typed JSON, huge
//! numbers, invalid UTF-8, oversize headers, slow clients and thousands of idle connections.
//! Every case gets a 4xx or a closed connection within its limit, never a 5xx, and no handler
//! panics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aimos_gateway::Limits;

static PANICS: AtomicUsize = AtomicUsize::new(0);

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts the gateway on a free port in a runtime of its own.
fn serve() -> (SocketAddr, tokio::runtime::Runtime) {
    let limits = Limits {
        max_body_bytes: 256 << 10,
        body_read_timeout: BODY_TIMEOUT,
        header_read_timeout: HEADER_TIMEOUT,
        ..Limits::default()
    };
    let fixture = crate::fixture(limits);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let router = fixture.router;
    runtime.spawn(async move {
        let _store = fixture.store;
        let _dir = fixture._dir;
        aimos_gateway::serve_with(listener, router, HEADER_TIMEOUT, std::future::pending()).await
    });
    (address, runtime)
}

/// Sends `request` as raw bytes and reads until the server answers or closes; returns the
/// status (`None`: closed without an answer) and how long it took.
fn raw(address: SocketAddr, request: &[u8]) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A server may close before reading everything (a 413, say): a failed write is fine.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let status = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| text.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    (status, started.elapsed())
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A 4xx, or a connection closed without an answer, within `limit`.
fn refused(case: &str, (status, took): (Option<u16>, Duration), limit: Duration) {
    if let Some(code) = status {
        assert!((400..500).contains(&code), "{case}: {code}");
    }
    assert!(took <= limit, "{case}: took {took:?}, more than {limit:?}");
}

#[test]
fn bad_input_gets_a_4xx_or_a_closed_connection_in_time_and_never_a_5xx() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        report(info);
    }));
    let (address, _runtime) = serve();
    let quick = Duration::from_secs(5);
    let nested = |depth: usize| {
        let mut text = "[".repeat(depth);
        text.push_str(&"]".repeat(depth));
        text.into_bytes()
    };
    let deep_object = {
        let mut text = r#"{"model":"smollm2-135m","messages":"#.to_owned();
        text.push_str(&"[{\"a\":".repeat(5000));
        text.into_bytes()
    };
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not JSON", b"model=gpt".to_vec()),
        ("cut short", br#"{"model":"smollm2-135m","messages":[{"role":"user","#.to_vec()),
        ("null", b"null".to_vec()),
        ("nested 100000 deep", nested(100_000)),
        ("nested object", deep_object),
        ("wrong types", br#"{"model":5,"messages":{"role":"user"}}"#.to_vec()),
        ("a role that is not one", br#"{"model":"smollm2-135m","messages":[{"role":"wizard","content":"hi"}]}"#.to_vec()),
        ("no messages", br#"{"model":"smollm2-135m","messages":[]}"#.to_vec()),
        ("huge number", br#"{"model":"smollm2-135m","max_tokens":1e400,"messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        ("huge integer", br#"{"model":"smollm2-135m","max_tokens":184467440737095516160,"messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        ("negative tokens", br#"{"model":"smollm2-135m","max_tokens":-1,"messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        ("temperature out of range", br#"{"model":"smollm2-135m","temperature":1e308,"max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        ("invalid UTF-8", b"{\"model\":\"smollm2-135m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\xc3\"}]}".to_vec()),
        ("lone surrogate", br#"{"model":"smollm2-135m","messages":[{"role":"user","content":"\ud800"}]}"#.to_vec()),
        ("NUL bytes", b"{\"model\":\"smollm2-135m\x00\",\"messages\":[]}".to_vec()),
        ("unknown model", br#"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        ("too large", vec![b' '; 300 << 10]),
    ];
    let paths = [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/aimos/consult",
        "/v1/aimos/outcomes",
        "/v1/insights/0190a7e2-0000-7000-8000-000000000000/feedback",
        "/mcp",
    ];
    let mut cases = 0;
    for path in paths {
        for (name, body) in &bodies {
            refused(&format!("{path} {name}"), raw(address, &post(path, body)), quick);
            cases += 1;
        }
    }

    // Oversize and too many headers.
    let big = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(1 << 20));
    refused("a 1 MiB header", raw(address, big.as_bytes()), quick);
    let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    refused("500 headers", raw(address, many.as_bytes()), quick);
    refused("not HTTP", raw(address, b"\x16\x03\x01\x02\x00garbage\r\n\r\n"), quick);
    refused(
        "a bad content-length",
        raw(
            address,
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n",
        ),
        quick,
    );
    refused("a bad chunk", raw(address, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"), quick);
    refused(
        "a wrong method",
        raw(
            address,
            b"DELETE /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        ),
        quick,
    );
    refused(
        "an unknown path",
        raw(address, b"GET /v2/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        quick,
    );
    cases += 7;

    // Slow clients: headers that never end, a body that never comes.
    let margin = Duration::from_secs(3);
    refused(
        "headers that never end",
        raw(address, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"),
        HEADER_TIMEOUT + margin,
    );
    let (status, took) = raw(
        address,
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"model\"",
    );
    assert_eq!(status, Some(408), "a body that never comes");
    assert!(took >= BODY_TIMEOUT && took <= BODY_TIMEOUT + margin, "{took:?}");
    cases += 2;

    // Thousands of idle connections: the server keeps answering, and closes them.
    let idle: Vec<TcpStream> = (0..3000).map(|_| TcpStream::connect(address).unwrap()).collect();
    let (status, took) =
        raw(address, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(status, Some(200), "a request beside 3000 idle connections");
    assert!(took < Duration::from_secs(2), "{took:?}");
    std::thread::sleep(HEADER_TIMEOUT + margin);
    let mut closed = 0;
    for mut connection in idle {
        connection.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut byte = [0u8; 1];
        if matches!(connection.read(&mut byte), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 3000, "idle connections are closed after the header timeout");
    cases += 1;

    // After all that, an ordinary request still works.
    let body = br#"{"model":"smollm2-135m","max_tokens":1,"temperature":0,"messages":[{"role":"user","content":"Hi"}]}"#;
    let (status, _) = raw(address, &post("/v1/chat/completions", body));
    assert_eq!(status, Some(200));
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a handler panicked");
    assert!(cases > 100, "{cases} cases");
}
