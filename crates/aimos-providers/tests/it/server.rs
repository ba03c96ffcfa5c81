//! A scripted HTTP/1.1 server on 127.0.0.1: each request gets the list of actions the test's
//! handler returns (send bytes, pause, reset the connection), so that every way an upstream can
//! misbehave can be played exactly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request line and headers, as sent.
    pub head: String,
    pub body: serde_json::Value,
}

impl Recorded {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }
}

/// What the server does next on a connection.
#[derive(Debug, Clone)]
pub enum Act {
    Send(Vec<u8>),
    Sleep(Duration),
    /// Closes with a TCP reset.
    Reset,
}

pub type Handler = dyn Fn(usize, &Recorded) -> Vec<Act> + Send + Sync;

pub struct Server {
    pub url: String,
    hits: Arc<AtomicUsize>,
    /// Responses the client stopped reading before they were complete.
    abandoned: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Starts serving on a free port; `handler` gets the 0-based request number and the request.
    pub async fn start(
        handler: impl Fn(usize, &Recorded) -> Vec<Act> + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let abandoned = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = {
            let hits = Arc::clone(&hits);
            let abandoned = Arc::clone(&abandoned);
            let requests = Arc::clone(&requests);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    let (hits, abandoned, requests, handler) = (
                        Arc::clone(&hits),
                        Arc::clone(&abandoned),
                        Arc::clone(&requests),
                        Arc::clone(&handler),
                    );
                    tokio::spawn(async move {
                        if !serve(stream, &hits, &requests, &*handler).await {
                            abandoned.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            })
        };
        Server { url, hits, abandoned, requests, task }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Responses whose client went away before they were all written.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plays the handler's script; false when the client went away before it was done.
async fn serve(
    mut stream: TcpStream,
    hits: &AtomicUsize,
    requests: &Mutex<Vec<Recorded>>,
    handler: &Handler,
) -> bool {
    let Some(request) = read_request(&mut stream).await else { return true };
    let n = hits.fetch_add(1, Ordering::SeqCst);
    requests.lock().unwrap().push(request.clone());
    for act in handler(n, &request) {
        match act {
            Act::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                    return false;
                }
            }
            Act::Sleep(pause) => tokio::time::sleep(pause).await,
            Act::Reset => {
                let _ = stream.set_zero_linger();
                return true;
            }
        }
    }
    let _ = stream.shutdown().await;
    true
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Recorded { head, body })
}

/// A whole response with a JSON (or any) body.
pub fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Act {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    Act::Send(out.into_bytes())
}

/// The head of an event stream whose body ends when the connection closes.
pub fn sse_head() -> Act {
    Act::Send(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
            .to_vec(),
    )
}

/// One server-sent event.
pub fn event(name: Option<&str>, data: &str) -> Act {
    let mut out = String::new();
    if let Some(name) = name {
        out.push_str(&format!("event: {name}\n"));
    }
    out.push_str(&format!("data: {data}\n\n"));
    Act::Send(out.into_bytes())
}

/// A whole transcript of server-sent events, sent as written.
pub fn raw(text: &str) -> Act {
    Act::Send(text.as_bytes().to_vec())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
