//! OpenAI's chat completions API, as OpenAI, vLLM, llama.cpp's server, Ollama, OpenRouter and
//! others speak it.

use aimos_core::{
    ChatRequest, FinishReason, Message, ModelError, ResponseFormat, ToolCall, ToolChoice, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::classify;
use crate::remote::{Answer, Endpoint, StreamDecoder, Wire, parse_json};
use crate::sse;

/// The OpenAI wire format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenAi {
    /// OpenAI's own API takes `max_completion_tokens` (its reasoning models refuse
    /// `max_tokens`); other servers know `max_tokens`.
    pub max_completion_tokens: bool,
}

impl Wire for OpenAi {
    type Decoder = Decoder;

    fn path(&self) -> &'static str {
        "/chat/completions"
    }

    fn headers(
        &self,
        endpoint: &Endpoint,
        builder: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        match endpoint.secret() {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    fn body(
        &self,
        model: &str,
        request: &ChatRequest,
        stream: bool,
        endpoint: &Endpoint,
    ) -> Result<Value, ModelError> {
        if request.messages.is_empty() {
            return Err(ModelError::InvalidRequest { message: "no messages to answer".into() });
        }
        let messages: Vec<Value> = request.messages.iter().map(message).collect();
        let mut body = json!({ "model": model, "messages": messages, "stream": stream });
        let object = body.as_object_mut().ok_or_else(|| ModelError::InvalidRequest {
            message: "request body is not an object".into(),
        })?;
        if stream {
            object.insert("stream_options".into(), json!({ "include_usage": true }));
        }
        if let Some(max) = request.max_tokens {
            let field =
                if self.max_completion_tokens { "max_completion_tokens" } else { "max_tokens" };
            object.insert(field.into(), json!(max));
        }
        if let Some(t) = request.temperature {
            object.insert("temperature".into(), json!(t));
        }
        if let Some(p) = request.top_p {
            object.insert("top_p".into(), json!(p));
        }
        if let Some(seed) = request.seed {
            object.insert("seed".into(), json!(seed));
        }
        if !request.stop.is_empty() {
            object.insert("stop".into(), json!(request.stop));
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    let mut function = json!({ "name": t.name, "parameters": t.parameters });
                    if let Some(description) = &t.description {
                        function["description"] = json!(description);
                    }
                    json!({ "type": "function", "function": function })
                })
                .collect();
            object.insert("tools".into(), json!(tools));
        }
        if let Some(choice) = &request.tool_choice {
            let choice = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(name) => {
                    json!({ "type": "function", "function": { "name": name } })
                }
            };
            object.insert("tool_choice".into(), choice);
        }
        if let Some(ResponseFormat::JsonSchema { name, schema }) = &request.response_format {
            let format = if endpoint.uses_json_object_schema() {
                json!({ "type": "json_object", "schema": schema })
            } else {
                json!({ "type": "json_schema", "json_schema": { "name": name, "schema": schema } })
            };
            object.insert("response_format".into(), format);
        }
        Ok(body)
    }

    fn adapt(&self, err: &ModelError, endpoint: &Endpoint) -> bool {
        // Servers refuse it with 400 or 422, and llama-cpp-python with a 500.
        let (ModelError::InvalidRequest { message } | ModelError::Server { message, .. }) = err
        else {
            return false;
        };
        if endpoint.uses_json_object_schema()
            || !(message.contains("response_format") || message.contains("json_schema"))
        {
            return false;
        }
        tracing::info!(
            provider = %endpoint.provider,
            "the server refused the json_schema response format; using json_object with a schema"
        );
        endpoint.use_json_object_schema();
        true
    }

    fn parse(
        &self,
        body: &[u8],
        _request: &ChatRequest,
        _endpoint: &Endpoint,
    ) -> Result<Answer, ModelError> {
        let completion: Completion = parse_json(body)?;
        let choice = completion.choices.into_iter().next().ok_or_else(|| {
            ModelError::BadResponse { message: "the completion has no choices".into() }
        })?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments.unwrap_or_default(),
            })
            .collect();
        Ok(Answer {
            content: choice.message.content.unwrap_or_default(),
            tool_calls,
            finish_reason: finish_reason(choice.finish_reason.as_deref()),
            usage: completion.usage.map(WireUsage::into_usage),
        })
    }

    fn decoder(&self, _request: &ChatRequest) -> Decoder {
        Decoder::default()
    }
}

/// One message in OpenAI's shape, with the tool calls it asked for or the call it answers.
fn message(m: &Message) -> Value {
    let mut value = json!({ "role": m.role.as_str(), "content": m.content });
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect();
        value["tool_calls"] = json!(calls);
    }
    if let Some(id) = &m.tool_call_id {
        value["tool_call_id"] = json!(id);
    }
    value
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_prompt_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default, deserialize_with = "null_as_empty")]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<ChunkDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    content: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of a streamed tool call: the first names it, the rest extend its arguments.
#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// Some servers write `null` where OpenAI leaves a list out.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads `chat.completion.chunk` events up to `[DONE]`.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    content: String,
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl StreamDecoder for Decoder {
    fn event(
        &mut self,
        event: sse::Event,
        delta: &mut String,
        endpoint: &Endpoint,
    ) -> Result<bool, ModelError> {
        if event.data.trim() == "[DONE]" {
            return Ok(true);
        }
        let chunk: Chunk = parse_json(event.data.as_bytes())?;
        if let Some(error) = chunk.error {
            let kind = error.get("type").or_else(|| error.get("code")).and_then(Value::as_str);
            let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            return Err(classify::stream_error(kind, message, endpoint.secret()));
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into_usage());
        }
        for choice in chunk.choices {
            if let Some(piece) = choice.delta {
                if let Some(text) = piece.content {
                    delta.push_str(&text);
                    self.content.push_str(&text);
                }
                for call in piece.tool_calls.unwrap_or_default() {
                    self.tool_call_piece(call)?;
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        Ok(false)
    }

    fn finish(self, complete: bool) -> Result<Answer, ModelError> {
        if self.tool_calls.iter().any(|c| c.name.is_empty()) {
            return Err(ModelError::BadResponse {
                message: "a streamed tool call has no name".into(),
            });
        }
        // Some servers close the stream without `[DONE]`; a finish reason still says the
        // answer is whole.
        if !complete && self.finish_reason.is_none() {
            return Err(ModelError::BrokenStream {
                message: "the stream ended before the answer was finished".into(),
            });
        }
        Ok(Answer {
            content: self.content,
            tool_calls: self.tool_calls,
            finish_reason: finish_reason(self.finish_reason.as_deref()),
            usage: self.usage,
        })
    }
}

impl Decoder {
    fn tool_call_piece(&mut self, call: ToolCallDelta) -> Result<(), ModelError> {
        if call.index >= 128 {
            return Err(ModelError::BadResponse {
                message: format!("tool call index {} in a stream", call.index),
            });
        }
        while self.tool_calls.len() <= call.index {
            let empty =
                ToolCall { id: String::new(), name: String::new(), arguments: String::new() };
            self.tool_calls.push(empty);
        }
        let slot = &mut self.tool_calls[call.index];
        if let Some(id) = call.id {
            slot.id = id;
        }
        if let Some(function) = call.function {
            // OpenAI names the function in the first piece only; some servers repeat the
            // whole name in every piece.
            match function.name {
                Some(name) if slot.name.is_empty() => slot.name = name,
                Some(name) if name != slot.name => slot.name.push_str(&name),
                _ => {}
            }
            slot.arguments.push_str(function.arguments.as_deref().unwrap_or_default());
        }
        Ok(())
    }
}

/// The ids of the models an OpenAI-compatible endpoint serves (`GET /models`).
pub(crate) async fn list_models(endpoint: &Endpoint) -> Result<Vec<String>, ModelError> {
    #[derive(Deserialize)]
    struct List {
        data: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        id: String,
    }
    let url = format!("{}/models", endpoint.base_url);
    let mut builder = endpoint.client.get(&url);
    if let Some(key) = endpoint.secret() {
        builder = builder.bearer_auth(key);
    }
    let response = tokio::time::timeout(endpoint.timeouts.first_token, builder.send())
        .await
        .map_err(|_| ModelError::Timeout {
            phase: aimos_core::TimeoutPhase::FirstToken,
            after: endpoint.timeouts.first_token,
        })?
        .map_err(|err| classify::transport_error(&err, &url, endpoint.timeouts.connect))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|err| ModelError::BrokenStream { message: aimos_core::error_chain(&err) })?;
    if !status.is_success() {
        return Err(classify::status_error(
            status.as_u16(),
            &headers,
            &body,
            endpoint.secret(),
            &endpoint.key_hint(),
        ));
    }
    let list: List = parse_json(&body)?;
    Ok(list.data.into_iter().map(|e| e.id).collect())
}

#[cfg(test)]
mod tests {
    use aimos_core::Message;

    use super::*;

    #[test]
    fn the_body_carries_every_option_and_the_schema() {
        let mut request = ChatRequest::new(vec![Message::system("be brief"), Message::user("hi")]);
        request.max_tokens = Some(16);
        request.temperature = Some(0.0);
        request.stop = vec!["\n".into()];
        request.response_format = Some(ResponseFormat::JsonSchema {
            name: "x".into(),
            schema: json!({"type": "object"}),
        });
        let endpoint = crate::tests::endpoint();
        let wire = OpenAi { max_completion_tokens: false };
        let body = wire.body("m", &request, true, &endpoint).expect("body");
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(body["max_tokens"], 16);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["response_format"]["json_schema"]["schema"]["type"], "object");
        let body = OpenAi { max_completion_tokens: true }
            .body("m", &request, false, &endpoint)
            .expect("body");
        assert_eq!(body["max_completion_tokens"], 16);
        assert!(body.get("stream_options").is_none());
        // A server that refuses `json_schema` gets the older form from then on.
        let refusal = ModelError::InvalidRequest {
            message: "HTTP 422: Input should be 'text' or 'json_object' (response_format.type)"
                .into(),
        };
        assert!(wire.adapt(&refusal, &endpoint));
        assert!(!wire.adapt(&refusal, &endpoint), "adapts once");
        let body = wire.body("m", &request, false, &endpoint).expect("body");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object", "schema": {"type": "object"}})
        );
    }

    #[test]
    fn a_completion_with_cached_tokens_is_read() {
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":20,"completion_tokens":1,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":16}}}"#;
        let endpoint = crate::tests::endpoint();
        let wire = OpenAi { max_completion_tokens: false };
        let answer = wire.parse(body, &ChatRequest::default(), &endpoint).expect("parse");
        assert_eq!(answer.content, "Hi");
        assert_eq!(answer.finish_reason, FinishReason::Length);
        let usage = answer.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.cached_prompt_tokens), (20, 16));
    }
}
