//! One conformance suite that every model passes: the embedded model, an OpenAI-compatible
//! server (llama.cpp's, with the real smollm2-135m) and Anthropic (replayed).

use std::sync::Arc;
use std::time::Duration;

use aimos_core::{
    ChatEvent, ChatRequest, FinishReason, Message, Model, ModelError, ResponseFormat,
};
use aimos_local::{LoadOptions, LocalOptions, NoProgress};
use aimos_providers::{Api, ApiKey, ProviderConfig, Providers};
use serde_json::json;

use crate::{anthropic_replay, llama_server};

/// Every call of the suite must end within this.
const LIMIT: Duration = Duration::from_secs(90);

fn greedy(prompt: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(vec![Message::user(prompt)])
    }
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {LIMIT:?}"))
}

/// The suite. `over_window` is a prompt the model's context window cannot hold.
pub async fn conformance(model: Arc<dyn Model>, over_window: String) {
    let id = model.info().id.clone();

    // An answer in one piece, with usage.
    let answer = within("chat", model.chat(greedy("What is the capital of France?", 24)))
        .await
        .unwrap_or_else(|err| panic!("{id}: chat failed: {err}"));
    assert!(!answer.content.trim().is_empty(), "{id}: empty answer");
    assert_eq!(answer.model, id);
    assert!(answer.usage.prompt_tokens > 0, "{id}: no prompt tokens counted");
    assert!((1..=24).contains(&answer.usage.completion_tokens), "{id}: {:?}", answer.usage);
    assert!(answer.timings.total > Duration::ZERO);

    // The same, streamed: the pieces add up to the final answer.
    let mut stream = model.chat_stream(greedy("What is the capital of France?", 24));
    let mut pieces = Vec::new();
    let done = within("stream", async {
        loop {
            match stream.next().await {
                Some(Ok(ChatEvent::Delta(piece))) => pieces.push(piece),
                Some(Ok(ChatEvent::Done(done))) => return done,
                Some(Err(err)) => panic!("{id}: stream failed: {err}"),
                None => panic!("{id}: stream ended without its answer"),
            }
        }
    })
    .await;
    assert!(!pieces.is_empty(), "{id}: no pieces streamed");
    assert_eq!(pieces.concat(), done.content, "{id}: pieces differ from the answer");
    assert!(done.usage.completion_tokens > 0);

    // max_tokens ends the answer with `length`.
    let short = within("short", model.chat(greedy("Write a long story about a dragon.", 3)))
        .await
        .unwrap_or_else(|err| panic!("{id}: short chat failed: {err}"));
    assert_eq!(short.finish_reason, FinishReason::Length, "{id}: {short:?}");
    assert!(short.usage.completion_tokens <= 3, "{id}: {:?}", short.usage);

    // Structured output follows the schema, in one piece and streamed.
    let schema = json!({
        "type": "object",
        "properties": { "city": { "type": "string", "maxLength": 24 } },
        "required": ["city"],
    });
    for streamed in [false, true] {
        let mut request = greedy("Name the capital of France as JSON.", 64);
        request.response_format =
            Some(ResponseFormat::JsonSchema { name: "capital".into(), schema: schema.clone() });
        let answer = if streamed {
            within("schema stream", model.chat_stream(request).collect(|_| {})).await
        } else {
            within("schema", model.chat(request)).await
        }
        .unwrap_or_else(|err| panic!("{id}: schema request failed: {err}"));
        let value: serde_json::Value = serde_json::from_str(&answer.content)
            .unwrap_or_else(|err| panic!("{id}: not JSON ({err}): {}", answer.content));
        assert!(value["city"].is_string(), "{id}: {value}");
    }

    // A prompt over the window is refused as such.
    let err = within("too long", model.chat(greedy(&over_window, 8)))
        .await
        .expect_err("a prompt over the window");
    assert!(
        matches!(err, ModelError::ContextTooLong { prompt_tokens, context_window } if prompt_tokens > context_window),
        "{id}: {err:?}"
    );

    // A request with nothing to answer is the caller's mistake.
    let err = within("empty", model.chat(ChatRequest::default())).await.expect_err("no messages");
    assert!(matches!(err, ModelError::InvalidRequest { .. }), "{id}: {err:?}");
}

fn words(n: usize) -> String {
    "alpha beta gamma delta ".repeat(n / 4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_model_conforms() {
    let options = LoadOptions {
        run: LocalOptions { context_window: Some(512), ..LocalOptions::default() },
        ..LoadOptions::default()
    };
    let model = aimos_local::load(crate::TEST_MODEL, &options, &mut NoProgress).unwrap();
    conformance(model, words(2000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_compatible_server_conforms() {
    let server = llama_server::start(512).await;
    let model = crate::open(ProviderConfig::new(Api::OpenAi, &server.base_url), "smollm2");
    conformance(model, words(2000)).await;

    // The endpoint lists what it serves.
    let mut providers = Providers::from_env();
    providers.configure("llama", ProviderConfig::new(Api::OpenAi, &server.base_url));
    let listed = providers.list_models("llama").await.unwrap();
    assert_eq!(listed, vec!["smollm2".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_conforms() {
    let server = anthropic_replay::start().await;
    let model = anthropic(&server.url, Some(anthropic_replay::KEY));
    conformance(model, "x".repeat(anthropic_replay::PROMPT_LIMIT + 1)).await;

    let requests = server.requests();
    let tool = requests.iter().find(|r| r.body.get("tools").is_some()).expect("a schema request");
    assert_eq!(tool.body["tools"][0]["input_schema"]["required"][0], "city");
    assert_eq!(tool.body["tool_choice"]["type"], "tool");
}

fn anthropic(url: &str, key: Option<&str>) -> Arc<dyn Model> {
    let mut config = ProviderConfig::new(Api::Anthropic, url);
    config.api_key = key.map(ApiKey::new);
    crate::open(config, "claude-sonnet-4-5")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_cache_tokens_and_a_bad_key() {
    let server = anthropic_replay::start().await;
    let model = anthropic(&server.url, Some("sk-ant-wrong-key-000000000000"));
    let err = model.chat(greedy("hi", 16)).await.expect_err("bad key");
    assert!(matches!(err, ModelError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("invalid x-api-key") && !text.contains("wrong-key"), "{text}");
    assert_eq!(server.hits(), 1, "an auth failure is not retried");
}

fn weather_tool() -> aimos_core::Tool {
    aimos_core::Tool {
        name: "get_weather".into(),
        description: Some("Get the current weather in a given location".into()),
        parameters: json!({
            "type": "object",
            "properties": { "location": { "type": "string", "maxLength": 32 } },
            "required": ["location"],
        }),
    }
}

/// Tool calls pass through: the model asks for a call, in one piece and streamed.
async fn calls_a_tool(model: &dyn Model, choice: aimos_core::ToolChoice) {
    for streamed in [false, true] {
        let mut request = greedy("What is the weather like in Paris?", 64);
        request.tools = vec![weather_tool()];
        request.tool_choice = Some(choice.clone());
        let answer = if streamed {
            within("tool stream", model.chat_stream(request).collect(|_| {})).await
        } else {
            within("tool", model.chat(request)).await
        }
        .unwrap_or_else(|err| panic!("tool request failed: {err}"));
        let call = answer.tool_calls.first().unwrap_or_else(|| panic!("no tool call: {answer:?}"));
        assert_eq!(call.name, "get_weather");
        assert!(!call.id.is_empty(), "{call:?}");
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|err| panic!("arguments are not JSON ({err}): {}", call.arguments));
        assert!(arguments["location"].is_string(), "{arguments}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_pass_through_an_openai_compatible_server() {
    let server = llama_server::start(1024).await;
    let model = crate::open(ProviderConfig::new(Api::OpenAi, &server.base_url), "smollm2");
    calls_a_tool(&*model, aimos_core::ToolChoice::Tool("get_weather".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_pass_through_anthropic() {
    let server = anthropic_replay::start().await;
    let model = anthropic(&server.url, Some(anthropic_replay::KEY));
    calls_a_tool(&*model, aimos_core::ToolChoice::Auto).await;
    let requests = server.requests();
    let sent = &requests[0].body;
    assert_eq!(sent["tools"][0]["input_schema"]["required"][0], "location");
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));

    // The call's result goes back as a tool_result block, and the answer is text again.
    let mut request = greedy("What is the weather like in Paris?", 64);
    request.tools = vec![weather_tool()];
    request.messages.push(aimos_core::Message {
        tool_calls: vec![aimos_core::ToolCall {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"Paris"}"#.into(),
        }],
        ..aimos_core::Message::assistant("")
    });
    request.messages.push(aimos_core::Message::tool("toolu_01A09q90qw90lq917835lq9", "15 degrees"));
    let answer = model.chat(request).await.unwrap();
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    let requests = server.requests();
    let sent = &requests.last().unwrap().body;
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], "toolu_01A09q90qw90lq917835lq9");
}
