//! OpenAI's chat-completions JSON, read into aimos's own types and written back out.
//! Only this module knows the shape of what clients send.

use aimos_core::{
    ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// A `POST /v1/chat/completions` body, as far as aimos reads it (other fields are ignored,
/// as clients send many).
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<Stop>,
    pub n: Option<u32>,
    pub response_format: Option<Value>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    /// Who the request is for: recorded with the run.
    pub user: Option<String>,
    /// Tags recorded with the run (OpenAI's metadata: string keys and values).
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
    pub tool_call_id: Option<String>,
}

/// Message content: a string, or a list of parts of which the text ones are kept.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

impl CompletionRequest {
    /// The request in aimos's terms; what it cannot be turned into is a 400 naming the field.
    pub fn to_chat(&self) -> Result<ChatRequest, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid("only n = 1 is supported", Some("n")));
        }
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages must not be empty", Some("messages")));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            messages.push(
                message(m)
                    .map_err(|why| ApiError::invalid(&why, Some(&format!("messages[{i}]"))))?,
            );
        }
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(ApiError::invalid(
                &format!("temperature must be between 0 and 2, not {t}"),
                Some("temperature"),
            ));
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        if max_tokens == Some(0) {
            return Err(ApiError::invalid("max_tokens must be at least 1", Some("max_tokens")));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(list)) => list.clone(),
        };
        Ok(ChatRequest {
            messages,
            max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            stop,
            response_format: self
                .response_format
                .as_ref()
                .map(response_format)
                .transpose()?
                .flatten(),
            tools: self.tools.iter().flatten().map(tool).collect::<Result<_, _>>()?,
            tool_choice: self.tool_choice.as_ref().map(tool_choice).transpose()?,
        })
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

fn message(m: &WireMessage) -> Result<Message, String> {
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => return Err(format!("unknown role `{other}`")),
    };
    let content = match &m.content {
        None => String::new(),
        Some(Content::Text(text)) => text.clone(),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some(other) => {
                        return Err(format!("content parts of type `{other}` are not supported"));
                    }
                    None => return Err("a content part has no type".into()),
                }
            }
            text
        }
    };
    let tool_calls = m
        .tool_calls
        .iter()
        .flatten()
        .map(|c| ToolCall {
            id: c.id.clone(),
            name: c.function.name.clone(),
            arguments: c.function.arguments.clone(),
        })
        .collect();
    Ok(Message { role, content, tool_calls, tool_call_id: m.tool_call_id.clone() })
}

fn response_format(value: &Value) -> Result<Option<ResponseFormat>, ApiError> {
    let bad = |why: &str| ApiError::invalid(why, Some("response_format"));
    match value.get("type").and_then(Value::as_str) {
        Some("text") | None => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonSchema {
            name: "json_object".into(),
            schema: value.get("schema").cloned().unwrap_or_else(|| json!({ "type": "object" })),
        })),
        Some("json_schema") => {
            let spec = value.get("json_schema").ok_or_else(|| bad("json_schema is missing"))?;
            let schema =
                spec.get("schema").cloned().ok_or_else(|| bad("json_schema.schema is missing"))?;
            let name = spec.get("name").and_then(Value::as_str).unwrap_or("answer").to_owned();
            Ok(Some(ResponseFormat::JsonSchema { name, schema }))
        }
        Some(other) => Err(bad(&format!("unknown response_format type `{other}`"))),
    }
}

fn tool(value: &Value) -> Result<Tool, ApiError> {
    let function = value
        .get("function")
        .filter(|_| value.get("type").and_then(Value::as_str) == Some("function"))
        .ok_or_else(|| {
            ApiError::invalid("only tools of type `function` are supported", Some("tools"))
        })?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("a tool function has no name", Some("tools")))?;
    Ok(Tool {
        name: name.to_owned(),
        description: function.get("description").and_then(Value::as_str).map(str::to_owned),
        parameters: function
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object" })),
    })
}

fn tool_choice(value: &Value) -> Result<ToolChoice, ApiError> {
    match value {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "none" => Ok(ToolChoice::None),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        _ => value
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_owned()))
            .ok_or_else(|| ApiError::invalid("tool_choice is not understood", Some("tool_choice"))),
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": { "cached_tokens": usage.cached_prompt_tokens },
    })
}

fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(index, c)| {
                json!({
                    "index": index,
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect(),
    )
}

/// A whole `chat.completion` object.
pub fn completion(id: &str, model: &str, created: u64, response: &ChatResponse) -> Value {
    let mut message = json!({ "role": "assistant", "content": response.content });
    if !response.tool_calls.is_empty() {
        message["tool_calls"] = tool_calls_json(&response.tool_calls);
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": response.finish_reason.as_str(),
            "logprobs": null,
        }],
        "usage": usage_json(&response.usage),
    })
}

/// One `chat.completion.chunk`: a piece of text, or the last chunk with the finish reason.
pub fn chunk(
    id: &str,
    model: &str,
    created: u64,
    delta: Value,
    finish: Option<FinishReason>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "delta": delta,
            "finish_reason": finish.map(FinishReason::as_str),
            "logprobs": null,
        }],
    })
}

/// The delta that carries `response`'s tool calls, if it has any.
pub fn tool_calls_delta(response: &ChatResponse) -> Option<Value> {
    (!response.tool_calls.is_empty())
        .then(|| json!({ "tool_calls": tool_calls_json(&response.tool_calls) }))
}

/// The usage chunk that `stream_options.include_usage` asks for: no choices, only usage.
pub fn usage_chunk(id: &str, model: &str, created: u64, usage: &Usage) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_json(usage),
    })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn parse(body: Value) -> Result<ChatRequest, ApiError> {
        serde_json::from_value::<CompletionRequest>(body).expect("shape").to_chat()
    }

    /// Reads `body` as the gateway does and compares the chat request it becomes (or the
    /// error the client gets: status, parameter, message) with `expected`.
    fn check_request(body: Value, expected: Expect) {
        let shown = match parse(body) {
            Ok(request) => format!("{request:#?}\n"),
            Err(err) => format!(
                "{} {} param={}: {}\n",
                err.status.as_u16(),
                err.kind,
                err.param.as_deref().unwrap_or("-"),
                err.message
            ),
        };
        expected.assert_eq(&shown);
    }

    /// Compares JSON the gateway writes with `expected`, pretty-printed.
    fn check_json(value: Value, expected: Expect) {
        expected.assert_eq(&(serde_json::to_string_pretty(&value).expect("serialises") + "\n"));
    }

    fn answer(tool_calls: Vec<ToolCall>) -> ChatResponse {
        ChatResponse {
            model: "local:smollm2-135m".into(),
            content: if tool_calls.is_empty() { "Hello.".into() } else { String::new() },
            finish_reason: if tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            },
            tool_calls,
            usage: Usage {
                prompt_tokens: 12,
                completion_tokens: 3,
                cached_prompt_tokens: 4,
                cache_write_prompt_tokens: 0,
            },
            timings: aimos_core::Timings::default(),
        }
    }

    #[test]
    fn the_wire_format_of_requests() {
        check_request(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            expect![[r#"
                ChatRequest {
                    messages: [
                        Message {
                            role: User,
                            content: "hi",
                            tool_calls: [],
                            tool_call_id: None,
                        },
                    ],
                    max_tokens: None,
                    temperature: None,
                    top_p: None,
                    seed: None,
                    stop: [],
                    response_format: None,
                    tools: [],
                    tool_choice: None,
                }
            "#]],
        );
        check_request(
            json!({
                "model": "m",
                "messages": [{"role": "system", "content": "json"}, {"role": "user", "content": "x"}],
                "max_tokens": 5,
                "temperature": 0,
                "seed": 7,
                "stop": ["a", "b"],
                "response_format": {"type": "json_object"},
                "stream": true,
                "stream_options": {"include_usage": true}
            }),
            expect![[r#"
                ChatRequest {
                    messages: [
                        Message {
                            role: System,
                            content: "json",
                            tool_calls: [],
                            tool_call_id: None,
                        },
                        Message {
                            role: User,
                            content: "x",
                            tool_calls: [],
                            tool_call_id: None,
                        },
                    ],
                    max_tokens: Some(
                        5,
                    ),
                    temperature: Some(
                        0.0,
                    ),
                    top_p: None,
                    seed: Some(
                        7,
                    ),
                    stop: [
                        "a",
                        "b",
                    ],
                    response_format: Some(
                        JsonSchema {
                            name: "json_object",
                            schema: Object {
                                "type": String("object"),
                            },
                        },
                    ),
                    tools: [],
                    tool_choice: None,
                }
            "#]],
        );
        check_request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
            expect![[r#"
                ChatRequest {
                    messages: [
                        Message {
                            role: User,
                            content: "x",
                            tool_calls: [],
                            tool_call_id: None,
                        },
                    ],
                    max_tokens: None,
                    temperature: None,
                    top_p: None,
                    seed: None,
                    stop: [],
                    response_format: None,
                    tools: [],
                    tool_choice: Some(
                        Required,
                    ),
                }
            "#]],
        );
        check_request(
            json!({"model": "m", "messages": []}),
            expect![[r#"
            400 invalid_request_error param=messages: messages must not be empty
        "#]],
        );
        check_request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
            expect![[r#"
                400 invalid_request_error param=n: only n = 1 is supported
            "#]],
        );
    }

    #[test]
    fn the_wire_format_of_answers() {
        check_json(
            completion("chatcmpl-1", "cheap", 1_700_000_000, &answer(vec![])),
            expect![[r#"
            {
              "id": "chatcmpl-1",
              "object": "chat.completion",
              "created": 1700000000,
              "model": "cheap",
              "choices": [
                {
                  "index": 0,
                  "message": {
                    "role": "assistant",
                    "content": "Hello."
                  },
                  "finish_reason": "stop",
                  "logprobs": null
                }
              ],
              "usage": {
                "prompt_tokens": 12,
                "completion_tokens": 3,
                "total_tokens": 15,
                "prompt_tokens_details": {
                  "cached_tokens": 4
                }
              }
            }
        "#]],
        );
        let call = ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: r#"{"q":"x"}"#.into(),
        };
        check_json(
            completion("chatcmpl-2", "cheap", 1_700_000_000, &answer(vec![call.clone()])),
            expect![[r#"
                {
                  "id": "chatcmpl-2",
                  "object": "chat.completion",
                  "created": 1700000000,
                  "model": "cheap",
                  "choices": [
                    {
                      "index": 0,
                      "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                          {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {
                              "name": "lookup",
                              "arguments": "{\"q\":\"x\"}"
                            }
                          }
                        ]
                      },
                      "finish_reason": "tool_calls",
                      "logprobs": null
                    }
                  ],
                  "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 3,
                    "total_tokens": 15,
                    "prompt_tokens_details": {
                      "cached_tokens": 4
                    }
                  }
                }
            "#]],
        );
        check_json(
            chunk("chatcmpl-3", "cheap", 1_700_000_000, json!({"content": "Hel"}), None),
            expect![[r#"
                {
                  "id": "chatcmpl-3",
                  "object": "chat.completion.chunk",
                  "created": 1700000000,
                  "model": "cheap",
                  "choices": [
                    {
                      "index": 0,
                      "delta": {
                        "content": "Hel"
                      },
                      "finish_reason": null,
                      "logprobs": null
                    }
                  ]
                }
            "#]],
        );
        check_json(
            chunk("chatcmpl-3", "cheap", 1_700_000_000, json!({}), Some(FinishReason::Length)),
            expect![[r#"
                {
                  "id": "chatcmpl-3",
                  "object": "chat.completion.chunk",
                  "created": 1700000000,
                  "model": "cheap",
                  "choices": [
                    {
                      "index": 0,
                      "delta": {},
                      "finish_reason": "length",
                      "logprobs": null
                    }
                  ]
                }
            "#]],
        );
        check_json(
            tool_calls_delta(&answer(vec![call])).expect("has calls"),
            expect![[r#"
                {
                  "tool_calls": [
                    {
                      "index": 0,
                      "id": "call_1",
                      "type": "function",
                      "function": {
                        "name": "lookup",
                        "arguments": "{\"q\":\"x\"}"
                      }
                    }
                  ]
                }
            "#]],
        );
        check_json(
            usage_chunk("chatcmpl-3", "cheap", 1_700_000_000, &answer(vec![]).usage),
            expect![[r#"
                {
                  "id": "chatcmpl-3",
                  "object": "chat.completion.chunk",
                  "created": 1700000000,
                  "model": "cheap",
                  "choices": [],
                  "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 3,
                    "total_tokens": 15,
                    "prompt_tokens_details": {
                      "cached_tokens": 4
                    }
                  }
                }
            "#]],
        );
    }

    #[test]
    fn what_the_sdk_sends_becomes_a_chat_request() {
        let request = parse(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "max_completion_tokens": 9,
            "stop": "END",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "user": "ignored",
            "logit_bias": {}
        }))
        .expect("valid");
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(request.messages[1].content, "hi there");
        assert_eq!(request.messages[2].tool_calls[0].name, "f");
        assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(request.max_tokens, Some(9));
        assert_eq!(request.stop, vec!["END".to_owned()]);
        assert!(matches!(request.response_format, Some(ResponseFormat::JsonSchema { .. })));
        assert_eq!(request.tool_choice, Some(ToolChoice::Tool("f".into())));
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        let cases = [
            (json!({"model": "m", "messages": []}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0]",
            ),
            (json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}), "n"),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 5}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "messages[0]",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}),
                "response_format",
            ),
        ];
        for (body, param) in cases {
            let err = parse(body.clone()).expect_err("invalid");
            assert_eq!(err.param.as_deref(), Some(param), "{body}");
            assert_eq!(err.status.as_u16(), 400);
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::CompletionRequest;

    /// Request bodies are outside input: none makes reading a chat completion request panic.
    #[test]
    fn no_body_makes_a_chat_completion_request_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"model":"aimos/consult","stream":true,"stream_options":{"include_usage":true},"max_tokens":64,"temperature":0.2,"top_p":0.9,"seed":7,"stop":["\n"],"user":"u","metadata":{"team":"a"},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"42"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","max_completion_tokens":1}"#,
        ];
        aimos_core::fuzz::run("chat-request", seeds, |input| {
            if let Ok(request) = serde_json::from_slice::<CompletionRequest>(input) {
                let _ = request.to_chat();
                let _ = request.include_usage();
            }
        });
    }
}
