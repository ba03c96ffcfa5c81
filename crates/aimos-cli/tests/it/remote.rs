//! Remote models from the command line: keys from the environment, base URLs like the SDKs'.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread;

use crate::{aimos, failure, success};

/// Serves one OpenAI-style streamed answer on 127.0.0.1 and returns the base URL and the
/// request it received.
fn one_answer_server() -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        let events = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello from"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" upstream"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
            "[DONE]",
        ];
        let mut out = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        );
        for event in events {
            out.push_str(&format!("data: {event}\n\n"));
        }
        stream.write_all(out.as_bytes()).unwrap();
        format!("{head}{}", String::from_utf8_lossy(&body))
    });
    (url, handle)
}

#[test]
fn chat_talks_to_the_server_openai_base_url_names_without_a_key() {
    let (url, server) = one_answer_server();
    let stdout = success(
        aimos()
            .args(["chat", "--model", "openai:any-name", "--temperature", "0", "-v", "hi there"])
            .env("OPENAI_BASE_URL", &url)
            .env_remove("OPENAI_API_KEY")
            .env_remove("AIMOS_CONFIG"),
    );
    assert_eq!(stdout.trim(), "Hello from upstream");
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /v1/chat/completions"), "{request}");
    assert!(request.contains(r#""model":"any-name""#), "{request}");
    assert!(request.contains(r#""stream":true"#), "{request}");
    assert!(!request.to_ascii_lowercase().contains("authorization"), "no key, no header");
}

#[test]
fn a_hosted_model_without_its_key_names_the_variable_to_set() {
    let stderr = failure(
        aimos()
            .args(["chat", "--model", "openai:gpt-4.1", "hi"])
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL"),
    );
    assert!(stderr.contains("set the environment variable OPENAI_API_KEY"), "{stderr}");

    let home = crate::empty_home();
    let stderr = failure(
        aimos()
            .args([
                "run",
                "--smart",
                "anthropic:claude-sonnet-4-5",
                "--cheap",
                "nosuch:model",
                "fix it",
            ])
            .env("AIMOS_HOME", home.path())
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("ANTHROPIC_BASE_URL"),
    );
    assert!(stderr.contains("unknown provider `nosuch`"), "{stderr}");

    let stderr = failure(
        aimos()
            .args([
                "run",
                "--smart",
                "anthropic:claude-sonnet-4-5",
                "--cheap",
                "openai:x",
                "fix it",
            ])
            .env("AIMOS_HOME", home.path())
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("ANTHROPIC_BASE_URL"),
    );
    assert!(stderr.contains("set the environment variable ANTHROPIC_API_KEY"), "{stderr}");
}
