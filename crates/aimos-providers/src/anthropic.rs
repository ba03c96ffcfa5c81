//! Anthropic's Messages API.

use aimos_core::{
    ChatRequest, FinishReason, Message, ModelError, ResponseFormat, Role, ToolCall, ToolChoice,
    Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::classify;
use crate::remote::{Answer, Endpoint, StreamDecoder, Wire, parse_json};
use crate::sse;

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// `max_tokens` is required by the Messages API; this is sent when a request leaves it open.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic wire format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anthropic;

impl Wire for Anthropic {
    type Decoder = Decoder;

    fn path(&self) -> &'static str {
        "/v1/messages"
    }

    fn headers(
        &self,
        endpoint: &Endpoint,
        builder: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        let builder = builder.header("anthropic-version", VERSION);
        match endpoint.secret() {
            Some(key) => builder.header("x-api-key", key),
            None => builder,
        }
    }

    fn body(
        &self,
        model: &str,
        request: &ChatRequest,
        stream: bool,
        _endpoint: &Endpoint,
    ) -> Result<Value, ModelError> {
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages = messages(&request.messages);
        if messages.is_empty() {
            return Err(ModelError::InvalidRequest {
                message: "no user or assistant message to answer".into(),
            });
        }
        let mut body = json!({
            "model": model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
            "stream": stream,
        });
        let object = body.as_object_mut().ok_or_else(|| ModelError::InvalidRequest {
            message: "request body is not an object".into(),
        })?;
        if !system.is_empty() {
            object.insert("system".into(), json!(system.join("\n\n")));
        }
        if let Some(t) = request.temperature {
            object.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if let Some(p) = request.top_p {
            object.insert("top_p".into(), json!(p));
        }
        if !request.stop.is_empty() {
            object.insert("stop_sequences".into(), json!(request.stop));
        }
        if !request.tools.is_empty() {
            if request.response_format.is_some() {
                return Err(ModelError::InvalidRequest {
                    message: "Anthropic models cannot combine tools with a JSON Schema answer"
                        .into(),
                });
            }
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    let mut tool = json!({ "name": t.name, "input_schema": t.parameters });
                    if let Some(description) = &t.description {
                        tool["description"] = json!(description);
                    }
                    tool
                })
                .collect();
            object.insert("tools".into(), json!(tools));
        }
        if let Some(choice) = &request.tool_choice {
            let choice = match choice {
                ToolChoice::Auto => json!({ "type": "auto" }),
                ToolChoice::None => json!({ "type": "none" }),
                ToolChoice::Required => json!({ "type": "any" }),
                ToolChoice::Tool(name) => json!({ "type": "tool", "name": name }),
            };
            object.insert("tool_choice".into(), choice);
        }
        // Structured output through a tool the model must call: its input is the answer.
        if let Some(ResponseFormat::JsonSchema { name, schema }) = &request.response_format {
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(ModelError::InvalidSchema {
                    path: "$.type".into(),
                    reason: "Anthropic structured output needs an object schema".into(),
                });
            }
            let name = tool_name(name);
            object.insert(
                "tools".into(),
                json!([{
                    "name": name,
                    "description": "Give the answer as this tool's input.",
                    "input_schema": schema,
                }]),
            );
            object.insert("tool_choice".into(), json!({ "type": "tool", "name": name }));
        }
        Ok(body)
    }

    fn parse(
        &self,
        body: &[u8],
        request: &ChatRequest,
        _endpoint: &Endpoint,
    ) -> Result<Answer, ModelError> {
        let message: MessageBody = parse_json(body)?;
        let structured = request.response_format.is_some();
        let mut content = String::new();
        let mut tool_calls = Vec::new();
        for block in message.content {
            match block {
                Block::Text { text } => content.push_str(&text),
                Block::ToolUse { input, .. } if structured => content.push_str(&input.to_string()),
                Block::ToolUse { id, name, input } => {
                    tool_calls.push(ToolCall { id, name, arguments: input.to_string() })
                }
                Block::Other => {}
            }
        }
        Ok(Answer {
            content,
            tool_calls,
            finish_reason: finish_reason(message.stop_reason.as_deref(), structured),
            usage: Some(message.usage.into_usage()),
        })
    }

    fn decoder(&self, request: &ChatRequest) -> Decoder {
        Decoder { structured: request.response_format.is_some(), ..Decoder::default() }
    }
}

/// Messages in Anthropic's shape: assistant tool calls become `tool_use` blocks, and tool
/// results `tool_result` blocks of a user turn (consecutive results share one turn).
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in messages.iter().filter(|m| m.role != Role::System) {
        match m.role {
            Role::Tool => {
                let block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                });
                let previous = out.last_mut().filter(|last| {
                    last["role"] == "user"
                        && last["content"]
                            .as_array()
                            .is_some_and(|blocks| blocks.iter().all(|b| b["type"] == "tool_result"))
                });
                match previous.and_then(|last| last["content"].as_array_mut()) {
                    Some(blocks) => blocks.push(block),
                    None => out.push(json!({ "role": "user", "content": [block] })),
                }
            }
            Role::Assistant if !m.tool_calls.is_empty() => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": m.content }));
                }
                for call in &m.tool_calls {
                    let input: Value =
                        serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": input,
                    }));
                }
                out.push(json!({ "role": "assistant", "content": blocks }));
            }
            Role::Assistant => out.push(json!({ "role": "assistant", "content": m.content })),
            _ => out.push(json!({ "role": "user", "content": m.content })),
        }
    }
    out
}

/// Tool names allow letters, digits, `_` and `-`, at most 64.
fn tool_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if cleaned.is_empty() { "answer".into() } else { cleaned }
}

fn finish_reason(reason: Option<&str>, structured: bool) -> FinishReason {
    match reason {
        Some("max_tokens") => FinishReason::Length,
        // With a JSON Schema answer the tool call is the answer, not a call to make.
        Some("tool_use") if !structured => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

#[derive(Deserialize)]
struct MessageBody {
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Anthropic counts cache reads and writes apart from `input_tokens`; aimos's prompt
    /// tokens are all three, with the cached and written parts named.
    fn into_usage(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let written = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: self.input_tokens.unwrap_or(0) + read + written,
            completion_tokens: self.output_tokens.unwrap_or(0),
            cached_prompt_tokens: read,
            cache_write_prompt_tokens: written,
        }
    }

    fn update(&mut self, newer: WireUsage) {
        let keep = |old: &mut Option<u64>, new: Option<u64>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(&mut self.input_tokens, newer.input_tokens);
        keep(&mut self.output_tokens, newer.output_tokens);
        keep(&mut self.cache_creation_input_tokens, newer.cache_creation_input_tokens);
        keep(&mut self.cache_read_input_tokens, newer.cache_read_input_tokens);
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        content_block: Value,
    },
    ContentBlockDelta {
        delta: BlockDelta,
    },
    ContentBlockStop,
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: Value,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
}

/// Reads the named events of a streamed message up to `message_stop`.
#[derive(Default)]
pub(crate) struct Decoder {
    /// The request asked for a JSON Schema answer: tool input is the content.
    structured: bool,
    content: String,
    tool_calls: Vec<ToolCall>,
    /// The block being streamed is a tool call (its input goes to the call, not the text).
    in_tool_call: bool,
    stop_reason: Option<String>,
    usage: WireUsage,
    started: bool,
}

impl StreamDecoder for Decoder {
    fn event(
        &mut self,
        event: sse::Event,
        delta: &mut String,
        endpoint: &Endpoint,
    ) -> Result<bool, ModelError> {
        let parsed: StreamEvent = parse_json(event.data.as_bytes())?;
        match parsed {
            StreamEvent::MessageStart { message } => {
                self.started = true;
                self.usage.update(message.usage);
            }
            StreamEvent::ContentBlockStart { content_block } => {
                let kind = content_block.get("type").and_then(Value::as_str);
                self.in_tool_call = kind == Some("tool_use") && !self.structured;
                if self.in_tool_call {
                    let field = |name: &str| {
                        content_block
                            .get(name)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    self.tool_calls.push(ToolCall {
                        id: field("id"),
                        name: field("name"),
                        arguments: String::new(),
                    });
                } else if let Some(text) = content_block.get("text").and_then(Value::as_str) {
                    delta.push_str(text);
                    self.content.push_str(text);
                }
            }
            StreamEvent::ContentBlockDelta { delta: piece } => {
                let text = match piece {
                    BlockDelta::TextDelta { text } => text,
                    BlockDelta::InputJsonDelta { partial_json } => partial_json,
                    BlockDelta::Other => String::new(),
                };
                match self.tool_calls.last_mut().filter(|_| self.in_tool_call) {
                    Some(call) => call.arguments.push_str(&text),
                    None => {
                        delta.push_str(&text);
                        self.content.push_str(&text);
                    }
                }
            }
            StreamEvent::MessageDelta { delta: body, usage } => {
                if body.stop_reason.is_some() {
                    self.stop_reason = body.stop_reason;
                }
                if let Some(usage) = usage {
                    self.usage.update(usage);
                }
            }
            StreamEvent::MessageStop => return Ok(true),
            StreamEvent::Error { error } => {
                let kind = error.get("type").and_then(Value::as_str);
                let message =
                    error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
                return Err(classify::stream_error(kind, message, endpoint.secret()));
            }
            StreamEvent::ContentBlockStop | StreamEvent::Ping | StreamEvent::Unknown => {}
        }
        Ok(false)
    }

    fn finish(self, complete: bool) -> Result<Answer, ModelError> {
        if !complete || !self.started {
            return Err(ModelError::BrokenStream {
                message: "the stream ended before `message_stop`".into(),
            });
        }
        let mut tool_calls = self.tool_calls;
        for call in &mut tool_calls {
            // A call without arguments streams none; its input is the empty object.
            if call.arguments.trim().is_empty() {
                call.arguments = "{}".into();
            }
        }
        Ok(Answer {
            content: self.content,
            tool_calls,
            finish_reason: finish_reason(self.stop_reason.as_deref(), self.structured),
            usage: Some(self.usage.into_usage()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aimos_core::Message;

    use super::*;

    #[test]
    fn system_goes_to_the_top_and_a_schema_becomes_a_forced_tool() {
        let mut request = ChatRequest::new(vec![
            Message::system("be brief"),
            Message::user("hi"),
            Message::assistant("hello"),
            Message::user("name a colour"),
        ]);
        request.stop = vec!["END".into()];
        request.response_format = Some(ResponseFormat::JsonSchema {
            name: "colour answer".into(),
            schema: json!({"type": "object", "properties": {"colour": {"type": "string"}}}),
        });
        let endpoint = crate::tests::endpoint();
        let body = Anthropic.body("claude", &request, false, &endpoint).expect("body");
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["stop_sequences"][0], "END");
        assert_eq!(body["tools"][0]["name"], "colour_answer");
        assert_eq!(body["tool_choice"]["name"], "colour_answer");
        request.response_format =
            Some(ResponseFormat::JsonSchema { name: "x".into(), schema: json!({"type": "array"}) });
        assert!(matches!(
            Anthropic.body("claude", &request, false, &endpoint),
            Err(ModelError::InvalidSchema { .. })
        ));
    }

    #[test]
    fn cache_reads_and_writes_are_part_of_the_prompt() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":5}}"#;
        let answer = Anthropic
            .parse(body, &ChatRequest::default(), &crate::tests::endpoint())
            .expect("parse");
        let usage = answer.usage.expect("usage");
        assert_eq!(usage.prompt_tokens, 1110);
        assert_eq!(usage.cached_prompt_tokens, 1000);
        assert_eq!(usage.cache_write_prompt_tokens, 100);
        assert_eq!(usage.completion_tokens, 5);
    }
}
