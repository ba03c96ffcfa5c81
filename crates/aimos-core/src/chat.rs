//! Chat types shared by every model: what goes in, what comes out, and what it took.
//!
//! These are aimos's own types, not any vendor's wire format: the gateway and the providers
//! translate to and from them at their edges.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// The name chat templates and wire formats use for this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// The calls an assistant turn asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` turn: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of `role` with text only.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    pub fn system(content: impl Into<String>) -> Message {
        Message::new(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::new(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new(Role::Assistant, content)
    }

    /// The result of the tool call `call_id`.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Message {
        Message { tool_call_id: Some(call_id.into()), ..Message::new(Role::Tool, content) }
    }
}

/// A function the model may ask the caller to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// A call of this tool.
    Tool(String),
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, as JSON text (as the model wrote them; they may not parse).
    pub arguments: String,
}

/// A constraint on the shape of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// The answer is a JSON document that validates against `schema`.
    ///
    /// Embedded models enforce it with a grammar while sampling;
    /// remote models receive it as the provider's structured-output option.
    JsonSchema { name: String, schema: serde_json::Value },
}

/// A request for one assistant turn.
///
/// Fields left `None` take the model's defaults.
/// A `temperature` of zero means greedy decoding: the same input gives the same output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Most tokens to generate; `None` lets the model run until it stops or its window is full.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Seed for sampling when the temperature is above zero.
    pub seed: Option<u64>,
    /// Generation stops before the first occurrence of any of these strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    pub response_format: Option<ResponseFormat>,
    /// Functions the model may call; models that cannot call tools refuse a request with any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
}

impl ChatRequest {
    /// A request with the given messages and every option at the model's default.
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest { messages, ..ChatRequest::default() }
    }

    /// Whether decoding is greedy (and so repeatable).
    pub fn is_greedy(&self) -> bool {
        self.temperature.is_some_and(|t| t <= 0.0)
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn, or a stop sequence was reached.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
    /// The model asked for a tool call.
    ToolCalls,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
        }
    }
}

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Part of `prompt_tokens` that the model served from a cache (cheaper with most providers).
    #[serde(default)]
    pub cached_prompt_tokens: u64,
    /// Part of `prompt_tokens` that the provider wrote into its cache (dearer with some).
    #[serde(default)]
    pub cache_write_prompt_tokens: u64,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, rhs: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens + rhs.prompt_tokens,
            completion_tokens: self.completion_tokens + rhs.completion_tokens,
            cached_prompt_tokens: self.cached_prompt_tokens + rhs.cached_prompt_tokens,
            cache_write_prompt_tokens: self.cache_write_prompt_tokens
                + rhs.cache_write_prompt_tokens,
        }
    }
}

/// Where the time of one model call went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Waiting for the model to be free (embedded models run one request at a time).
    #[serde(with = "duration_ms")]
    pub queued: Duration,
    /// Reading the prompt, up to the first generated token.
    #[serde(with = "duration_ms")]
    pub prompt: Duration,
    /// Generating the completion after the first token.
    #[serde(with = "duration_ms")]
    pub generation: Duration,
    /// Wall time from the request to the last token, queueing included.
    #[serde(with = "duration_ms")]
    pub total: Duration,
    /// Tokens guessed ahead and checked by the model in one pass (prompt-lookup decoding).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub draft_tokens: u64,
    /// Guessed tokens the model agreed with: each saved one pass over the model.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub draft_tokens_accepted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Timings {
    /// Prompt tokens read per second, when measurable.
    pub fn prompt_tokens_per_second(&self, usage: &Usage) -> Option<f64> {
        per_second(usage.prompt_tokens - usage.cached_prompt_tokens, self.prompt)
    }

    /// Completion tokens generated per second, when measurable.
    ///
    /// The first completion token comes out of the prompt pass, so it is not counted here.
    pub fn generation_tokens_per_second(&self, usage: &Usage) -> Option<f64> {
        per_second(usage.completion_tokens.saturating_sub(1), self.generation)
    }
}

fn per_second(n_tokens: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (n_tokens > 0 && secs > 0.0).then(|| n_tokens as f64 / secs)
}

/// The answer to a [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model that answered, as aimos names it (`local:smollm2-135m`, `openai:gpt-4.1`, …).
    pub model: String,
    pub content: String,
    /// Tool calls the model asked for (with `finish_reason` `ToolCalls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
}

/// One item of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The next piece of text, in order. Pieces always end on a UTF-8 character boundary.
    Delta(String),
    /// The last event: the whole answer with usage and timings.
    Done(ChatResponse),
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(deserializer)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_temperature_is_greedy_and_unset_is_not() {
        let mut request = ChatRequest::new(vec![Message::user("hi")]);
        assert!(!request.is_greedy());
        request.temperature = Some(0.0);
        assert!(request.is_greedy());
        request.temperature = Some(0.7);
        assert!(!request.is_greedy());
    }

    #[test]
    fn generation_rate_leaves_out_the_first_token() {
        let usage = Usage { prompt_tokens: 100, completion_tokens: 11, ..Usage::default() };
        let timings = Timings {
            prompt: Duration::from_millis(500),
            generation: Duration::from_secs(2),
            ..Timings::default()
        };
        assert_eq!(timings.prompt_tokens_per_second(&usage), Some(200.0));
        assert_eq!(timings.generation_tokens_per_second(&usage), Some(5.0));
        let one_token = Usage { completion_tokens: 1, ..usage };
        assert_eq!(timings.generation_tokens_per_second(&one_token), None);
    }

    #[test]
    fn timings_serialize_as_milliseconds() {
        let timings = Timings { total: Duration::from_millis(1500), ..Timings::default() };
        let json = serde_json::to_value(timings).expect("timings serialize");
        assert_eq!(json["total"], 1500.0);
        let back: Timings = serde_json::from_value(json).expect("timings deserialize");
        assert_eq!(back.total, Duration::from_millis(1500));
    }
}
