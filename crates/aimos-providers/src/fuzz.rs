//! Upstream answers are outside input: no body and no stream makes reading them panic; each is
//! an answer or a classified `ModelError`.

use aimos_core::fuzz::{Rng, run};
use aimos_core::{ChatRequest, ResponseFormat};

use crate::anthropic::Anthropic;
use crate::openai::OpenAi;
use crate::remote::{StreamDecoder, Wire};
use crate::sse;

fn requests() -> [ChatRequest; 2] {
    let structured = ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "s".into(),
            schema: serde_json::json!({"type": "object"}),
        }),
        ..ChatRequest::default()
    };
    [ChatRequest::default(), structured]
}

/// Decodes `input` as a stream cut into pieces at random places, then reads its events with
/// `wire`'s decoder.
fn stream<W: Wire>(wire: &W, endpoint: &crate::remote::Endpoint, input: &[u8]) {
    let mut cuts =
        Rng::new(input.iter().take(16).fold(input.len() as u64, |h, b| h * 31 + u64::from(*b)));
    for request in requests() {
        let mut decoder = sse::Decoder::new(1 << 16);
        let mut events = Vec::new();
        let mut rest = input;
        let mut failed = false;
        while !rest.is_empty() && !failed {
            let take = 1 + cuts.below(rest.len().min(64));
            failed = decoder.feed(&rest[..take], &mut events).is_err();
            rest = &rest[take..];
        }
        let mut reader = wire.decoder(&request);
        let mut delta = String::new();
        let mut done = false;
        for event in events {
            match reader.event(event, &mut delta, endpoint) {
                Ok(true) => {
                    done = true;
                    break;
                }
                Ok(false) => {}
                Err(_) => break,
            }
        }
        let _ = reader.finish(done);
    }
}

#[test]
fn no_openai_answer_makes_reading_it_panic() {
    let wire = OpenAi { max_completion_tokens: false };
    let endpoint = crate::tests::endpoint();
    let bodies: &[&[u8]] = &[
        br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":20,"completion_tokens":1,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":16}}}"#,
        br#"{"choices":[],"usage":null}"#,
    ];
    run("openai-body", bodies, |input| {
        for request in requests() {
            let _ = wire.parse(input, &request, &endpoint);
        }
    });
    let streams: &[&[u8]] = &[
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]},\"finish_reason\":\"stop\"}]}\r\n\r\n: keep-alive\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
        b"data: {\"error\":{\"type\":\"overloaded\",\"message\":\"busy\"}}\n\n",
    ];
    run("openai-stream", streams, |input| stream(&wire, &endpoint, input));
}

#[test]
fn no_anthropic_answer_makes_reading_it_panic() {
    let wire = Anthropic;
    let endpoint = crate::tests::endpoint();
    let bodies: &[&[u8]] = &[
        br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}},{"type":"thinking","thinking":"x"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":1,"cache_creation_input_tokens":2}}"#,
    ];
    run("anthropic-body", bodies, |input| {
        for request in requests() {
            let _ = wire.parse(input, &request, &endpoint);
        }
    });
    let streams: &[&[u8]] = &[
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n",
    ];
    run("anthropic-stream", streams, |input| stream(&wire, &endpoint, input));
}
