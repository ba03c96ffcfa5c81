//! Prefix reuse and prompt-lookup decoding: less work for the same greedy answer.

use aimos_core::{ChatRequest, ChatResponse, Message, ResponseFormat};
use aimos_local::LocalOptions;
use serde_json::json;

use crate::{ask, model_with};

fn options(prefix_cache: bool, lookup_decoding: bool) -> LocalOptions {
    LocalOptions {
        context_window: Some(2048),
        prefix_cache,
        lookup_decoding,
        ..LocalOptions::default()
    }
}

fn greedy_chat(messages: Vec<Message>, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(messages)
    }
}

/// Source text for prompts: real code, long enough to make a prefix worth keeping.
fn code(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "def handler_{i}(request, limit={i}):\n    \"\"\"Serve request {i} within the limit.\"\"\"\n    if request.size > limit:\n        raise ValueError(\"request {i} is too large\")\n    return request.body[:limit]\n\n"
            )
        })
        .collect()
}

const QUESTIONS: [&str; 6] = [
    "Which handler raises for request 3?",
    "What does handler_2 return?",
    "Name one function above.",
    "What is the default limit of handler_4?",
    "Does any handler log anything?",
    "Summarise the code in one sentence.",
];

#[test]
fn a_second_turn_reads_only_its_new_tokens_and_answers_as_a_fresh_read_would() {
    let cached = model_with(options(true, false));
    let fresh = model_with(options(false, false));
    let system = Message::system(format!("You answer questions about this code.\n\n{}", code(22)));
    let mut differing = Vec::new();
    for question in &QUESTIONS[..5] {
        let first = vec![system.clone(), Message::user(*question)];
        let answer = ask(&*cached, greedy_chat(first.clone(), 24)).expect("first turn");
        let second = [
            first,
            vec![Message::assistant(answer.content.clone()), Message::user("Why? Say more.")],
        ]
        .concat();
        let with_reuse = ask(&*cached, greedy_chat(second.clone(), 24)).expect("second turn");
        let without = ask(&*fresh, greedy_chat(second, 24)).expect("second turn, read afresh");
        assert_eq!(without.usage.cached_prompt_tokens, 0, "reuse switched off reuses nothing");
        assert_eq!(with_reuse.usage.prompt_tokens, without.usage.prompt_tokens);
        // The first turn's prompt was in the context already: its whole micro-batches of 512
        // tokens are kept.
        assert!(answer.usage.prompt_tokens > 1024, "{:?}", answer.usage);
        assert_eq!(
            with_reuse.usage.cached_prompt_tokens,
            answer.usage.prompt_tokens / 512 * 512,
            "{:?} after a first turn of {:?}",
            with_reuse.usage,
            answer.usage
        );
        if with_reuse.content != without.content {
            differing.push((question, with_reuse.content, without.content));
        }
    }
    assert!(differing.is_empty(), "greedy answers differ with reuse: {differing:#?}");
}

#[test]
fn a_conversation_set_aside_for_another_is_put_back_when_it_returns() {
    let model = model_with(options(true, false));
    let a = Message::system(format!("Answer about this code.\n\n{}", code(22)));
    let b = Message::system(format!(
        "Answer about this other code.\n\n{}",
        code(14).replace("def ", "async def ")
    ));
    let ask_about = |system: &Message, question: &str| -> ChatResponse {
        ask(&*model, greedy_chat(vec![system.clone(), Message::user(question)], 8)).expect("answer")
    };
    let a1 = ask_about(&a, QUESTIONS[0]);
    let b1 = ask_about(&b, QUESTIONS[0]);
    assert_eq!(b1.usage.cached_prompt_tokens, 0, "b shares only the template's start");
    let a2 = ask_about(&a, QUESTIONS[1]);
    assert!(a1.usage.prompt_tokens > 1024, "{:?}", a1.usage);
    assert_eq!(a2.usage.cached_prompt_tokens, 1024, "a's copy was put back: {:?}", a2.usage);

    // With no memory for copies, only the sequence in the context is reused.
    let bounded = model_with(LocalOptions { kv_cache_mib: Some(0), ..options(true, false) });
    let ask_bounded = |system: &Message, question: &str| -> ChatResponse {
        ask(&*bounded, greedy_chat(vec![system.clone(), Message::user(question)], 8))
            .expect("answer")
    };
    ask_bounded(&a, QUESTIONS[0]);
    ask_bounded(&b, QUESTIONS[0]);
    let again = ask_bounded(&a, QUESTIONS[1]);
    assert_eq!(again.usage.cached_prompt_tokens, 0, "{:?}", again.usage);
}

/// Prompts whose answers quote them (edits, copies) and prompts whose answers do not.
fn lookup_prompts() -> Vec<String> {
    let mut prompts: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "Copy this Python function exactly, renaming it to serve_{i}:\n\n```python\n{}```",
                code(i + 1).split("\n\n").nth(i).unwrap_or_default()
            )
        })
        .collect();
    prompts.extend(
        [
            "Rewrite this sentence with the word 'fast' replaced by 'quick': The fast brown fox jumps over the lazy dog, and the fast dog sleeps.",
            "Write a short poem about the sea.",
            "List the numbers from 1 to 20, separated by commas.",
            "Explain what a hash map is.",
            "Repeat after me: to be or not to be, that is the question; to be or not to be.",
            "Write a Rust function that adds two numbers, then the same function for three numbers.",
        ]
        .map(String::from),
    );
    prompts
}

#[test]
fn lookup_decoding_gives_plain_greedy_answers_token_for_token() {
    let drafting = model_with(options(false, true));
    let plain = model_with(options(false, false));
    let (mut drafted, mut kept, mut differing) = (0, 0, Vec::new());
    for prompt in lookup_prompts() {
        let request = greedy_chat(vec![Message::user(prompt.clone())], 96);
        let fast = ask(&*drafting, request.clone()).expect("answer with drafts");
        let slow = ask(&*plain, request).expect("plain answer");
        assert_eq!(slow.timings.draft_tokens, 0, "drafting switched off drafts nothing");
        assert!(fast.timings.draft_tokens_accepted <= fast.timings.draft_tokens);
        drafted += fast.timings.draft_tokens;
        kept += fast.timings.draft_tokens_accepted;
        if (&fast.content, fast.usage.completion_tokens, fast.finish_reason)
            != (&slow.content, slow.usage.completion_tokens, slow.finish_reason)
        {
            differing.push((prompt, fast.content, slow.content));
        }
    }
    assert!(differing.is_empty(), "answers differ with drafting: {differing:#?}");
    assert!(kept > 50, "copies are drafted and kept: {kept} of {drafted}");
}

#[test]
fn lookup_decoding_keeps_to_a_json_schema_and_to_sampling() {
    let drafting = model_with(options(true, true));
    let plain = model_with(options(false, false));
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
        },
        "required": ["name", "lines"]
    });
    let prompt = format!("Give the function's name and its lines as JSON.\n\n{}", code(1));
    let request = ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema { name: "f".into(), schema }),
        ..greedy_chat(vec![Message::user(prompt)], 160)
    };
    let fast = ask(&*drafting, request.clone()).expect("answer with drafts");
    let slow = ask(&*plain, request).expect("plain answer");
    assert_eq!(fast.content, slow.content);
    assert!(fast.timings.draft_tokens_accepted > 0, "the lines are copied: {:?}", fast.timings);
    serde_json::from_str::<serde_json::Value>(&fast.content)
        .unwrap_or_else(|err| panic!("{err}: {}", fast.content));

    // Sampling draws nothing ahead: the same seed gives the same answer as without drafts.
    let sampled = ChatRequest {
        temperature: Some(0.7),
        seed: Some(11),
        ..greedy_chat(vec![Message::user(lookup_prompts()[0].clone())], 48)
    };
    let a = ask(&*drafting, sampled.clone()).expect("sampled");
    let b = ask(&*plain, sampled).expect("sampled, plain");
    assert_eq!(a.timings.draft_tokens, 0);
    assert_eq!(a.content, b.content);
}
