//! Bad input gets a clear error, never a panic.

use aimos_core::Price;
use aimos_core::{ChatRequest, Message, ModelError, ResponseFormat};
use aimos_local::{GgufModel, LoadError, LocalOptions};
use serde_json::json;

use crate::{ask, greedy, model, model_with};

#[test]
fn a_prompt_longer_than_the_window_names_both_lengths() {
    let model = model_with(LocalOptions { context_window: Some(128), ..LocalOptions::default() });
    let long = "word ".repeat(400);
    let err = ask(&*model, greedy(&long, 8)).expect_err("too long");
    match &err {
        ModelError::ContextTooLong { prompt_tokens, context_window } => {
            assert!(*prompt_tokens > 400, "{prompt_tokens}");
            assert_eq!(*context_window, 128);
        }
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("128") && message.contains("context window"), "{message}");
}

#[test]
fn generation_that_fills_the_window_ends_with_length() {
    let model = model_with(LocalOptions { context_window: Some(128), ..LocalOptions::default() });
    let response = ask(&*model, greedy("Write a long story about a lighthouse keeper.", 1000))
        .expect("answer");
    let used = response.usage.prompt_tokens + response.usage.completion_tokens;
    assert!(used <= 128, "{used}");
}

#[test]
fn an_unusable_schema_is_refused_before_generation() {
    let model = model();
    let request = ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "bad".into(),
            schema: json!({"type": "strnig"}),
        }),
        ..greedy("hi", 8)
    };
    let err = ask(&*model, request).expect_err("bad schema");
    assert!(matches!(err, ModelError::InvalidSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown type `strnig`"), "{err}");
}

#[test]
fn malformed_requests_are_refused() {
    let model = model();
    let empty = ChatRequest::new(vec![]);
    assert!(matches!(ask(&*model, empty), Err(ModelError::InvalidRequest { .. })));
    let negative =
        ChatRequest { temperature: Some(-1.0), ..ChatRequest::new(vec![Message::user("hi")]) };
    let err = ask(&*model, negative).expect_err("negative temperature");
    assert!(err.to_string().contains("temperature"), "{err}");
    let tools = ChatRequest {
        tools: vec![aimos_core::Tool {
            name: "f".into(),
            description: None,
            parameters: serde_json::json!({"type": "object"}),
        }],
        ..ChatRequest::new(vec![Message::user("hi")])
    };
    let err = ask(&*model, tools).expect_err("tools");
    assert!(err.to_string().contains("do not call tools"), "{err}");
}

#[test]
fn a_file_that_is_not_gguf_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.gguf");
    std::fs::write(&path, b"these are not weights").expect("write");
    let err = GgufModel::load(&path, "x", Price::default(), &LocalOptions::default())
        .expect_err("not gguf");
    assert!(matches!(err, LoadError::NotGguf { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.gguf"), "{err}");

    let missing = dir.path().join("missing.gguf");
    let err = GgufModel::load(&missing, "x", Price::default(), &LocalOptions::default())
        .expect_err("missing");
    assert!(matches!(err, LoadError::NotFound { .. }), "{err:?}");
}

#[test]
fn a_truncated_gguf_fails_to_load_without_crashing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = std::fs::read(
        aimos_local::catalog_path(&aimos_local::catalog::find(crate::TEST_MODEL).expect("entry"))
            .expect("home"),
    )
    .expect("the test model is pulled (loading it in other tests pulls it)");
    let path = dir.path().join("truncated.gguf");
    std::fs::write(&path, &real[..real.len() / 3]).expect("write");
    let err = GgufModel::load(&path, "x", Price::default(), &LocalOptions::default())
        .expect_err("truncated");
    assert!(matches!(err, LoadError::Llama { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.gguf"), "{err}");
}
