//! What a caller of `GgufModel` relies on: answers, streaming, determinism, limits, concurrency.

use std::sync::Arc;

use aimos_core::{ChatEvent, ChatRequest, FinishReason, Message, Model, ResponseFormat};
use aimos_local::{GgufModel, LocalOptions};
use serde_json::{Value, json};

use crate::{ask, block_on, greedy, model, model_with};

#[test]
fn answers_a_question_with_usage_and_timings() {
    let model = model();
    let response = ask(&*model, greedy("What is the capital of France? Answer in one word.", 16))
        .expect("answer");
    assert!(response.content.contains("Paris"), "{:?}", response.content);
    assert_eq!(response.model, "local:smollm2-135m");
    assert!(response.usage.prompt_tokens > 10, "{:?}", response.usage);
    assert!(response.usage.completion_tokens >= 1 && response.usage.completion_tokens <= 16);
    assert!(response.timings.total >= response.timings.prompt + response.timings.generation);
    assert!(!response.timings.prompt.is_zero());
}

#[test]
fn greedy_decoding_repeats_exactly() {
    let model = model();
    let request = greedy("Write a haiku about compilers.", 48);
    let first = ask(&*model, request.clone()).expect("first answer");
    let second = ask(&*model, request).expect("second answer");
    assert!(!first.content.is_empty());
    assert_eq!(first.content, second.content);
    assert_eq!(
        (first.usage.prompt_tokens, first.usage.completion_tokens),
        (second.usage.prompt_tokens, second.usage.completion_tokens)
    );
    // The second read of the same prompt keeps the whole micro-batches of the first.
    assert_eq!(second.usage.cached_prompt_tokens, (second.usage.prompt_tokens - 1) / 512 * 512);
}

#[test]
fn sampling_with_a_seed_repeats_and_different_seeds_differ() {
    let model = model();
    let with_seed = |seed| ChatRequest {
        temperature: Some(1.0),
        seed: Some(seed),
        ..greedy("Tell me a short story about a cat.", 40)
    };
    let a = ask(&*model, with_seed(7)).expect("answer");
    let b = ask(&*model, with_seed(7)).expect("answer");
    assert_eq!(a.content, b.content);
    let others: Vec<String> =
        (100..104).map(|seed| ask(&*model, with_seed(seed)).expect("answer").content).collect();
    assert!(others.iter().any(|c| *c != a.content), "five seeds gave one answer: {:?}", a.content);
}

#[test]
fn streamed_pieces_make_up_the_final_content() {
    let model = model();
    let mut stream = model.chat_stream(greedy("Count from one to ten in words.", 40));
    let mut pieces = Vec::new();
    let done = block_on(async {
        while let Some(event) = stream.next().await {
            match event.expect("no error") {
                ChatEvent::Delta(piece) => pieces.push(piece),
                ChatEvent::Done(response) => return Some(response),
            }
        }
        None
    })
    .expect("the stream ends with Done");
    assert!(pieces.len() > 3, "tokens arrive one by one: {pieces:?}");
    assert_eq!(pieces.concat(), done.content);
}

#[test]
fn max_tokens_cuts_the_answer_with_finish_reason_length() {
    let model = model();
    let response =
        ask(&*model, greedy("Write a long essay about the history of Rome.", 5)).expect("answer");
    assert_eq!(response.finish_reason, FinishReason::Length);
    assert_eq!(response.usage.completion_tokens, 5);
}

#[test]
fn stop_sequences_end_the_answer_before_them() {
    let model = model();
    let request = greedy("List five fruits, one per line.", 60);
    let full = ask(&*model, request.clone()).expect("answer").content;
    // Stop at a word from the middle of the known greedy answer.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "answer too short to test stops: {full:?}");
    let stop = words[words.len() / 2].to_owned();
    let cut_at = full.find(&stop).expect("the word is in the answer");
    let stopped =
        ask(&*model, ChatRequest { stop: vec![stop.clone()], ..request }).expect("answer");
    assert_eq!(stopped.content, full[..cut_at], "stop {stop:?}");
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
}

#[test]
fn json_schema_output_always_parses_and_validates() {
    let model = model();
    let schema = json!({
        "type": "object",
        "properties": {
            "diagnosis": {"type": "string", "maxLength": 80},
            "steps": {"type": "array", "items": {"type": "string", "maxLength": 40}, "minItems": 1, "maxItems": 3},
            "confidence": {"type": "number"},
            "severity": {"enum": ["low", "medium", "high"]}
        },
        "required": ["diagnosis", "steps", "confidence", "severity"]
    });
    let prompts = [
        "My Rust program panics with index out of bounds. Diagnose it.",
        "Why is my Python script slow?",
        "Say hello.",
    ];
    for (idx, prompt) in prompts.iter().enumerate() {
        let request = ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: "insight".into(),
                schema: schema.clone(),
            }),
            temperature: Some(if idx == 0 { 0.0 } else { 0.7 }),
            seed: Some(idx as u64),
            ..greedy(prompt, 1024)
        };
        let response = ask(&*model, request).expect("answer");
        // Only an answer cut by max_tokens may be incomplete; this budget leaves room to finish.
        assert_eq!(response.finish_reason, FinishReason::Stop, "{:?}", response.content);
        let value: Value = serde_json::from_str(&response.content)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", response.content));
        assert!(value["diagnosis"].as_str().is_some_and(|d| d.chars().count() <= 80), "{value}");
        let steps = value["steps"].as_array().expect("steps is an array");
        assert!((1..=3).contains(&steps.len()), "{value}");
        assert!(value["confidence"].is_number(), "{value}");
        assert!(
            ["low", "medium", "high"].contains(&value["severity"].as_str().unwrap_or("")),
            "{value}"
        );
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["diagnosis", "steps", "confidence", "severity"], "schema order is kept");
    }
}

#[test]
fn concurrent_requests_each_get_their_own_whole_answer() {
    let model = model();
    let prompts = [
        "Name a color.",
        "What is 2 + 2?",
        "Write one word about the sea.",
        "Give me a synonym of happy.",
        "What language is spoken in Spain?",
        "Name a planet.",
    ];
    let sequential: Vec<String> =
        prompts.iter().map(|p| ask(&*model, greedy(p, 24)).expect("answer").content).collect();
    let handles: Vec<_> = prompts
        .iter()
        .map(|prompt| {
            let model: Arc<GgufModel> = Arc::clone(&model);
            let prompt = prompt.to_string();
            std::thread::spawn(move || ask(&*model, greedy(&prompt, 24)).expect("answer").content)
        })
        .collect();
    let concurrent: Vec<String> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert_eq!(concurrent, sequential);
}

#[test]
fn a_dropped_stream_stops_generation_and_the_model_keeps_serving() {
    let model = model();
    let mut stream = model.chat_stream(greedy("Write a very long story about dragons.", 400));
    block_on(async {
        match stream.next().await {
            Some(Ok(ChatEvent::Delta(_))) => {}
            other => panic!("expected a first piece, got {other:?}"),
        }
    });
    drop(stream);
    let response = ask(&*model, greedy("Say yes.", 4)).expect("the model still answers");
    assert!(!response.content.is_empty());
    // The abandoned request must not have run on to its 400 tokens (several seconds) first.
    assert!(response.timings.queued.as_secs_f64() < 3.0, "queued {:?}", response.timings.queued);
}

#[test]
fn the_model_is_loaded_once_per_process_and_options() {
    let a = model();
    let b = model();
    assert!(Arc::ptr_eq(&a, &b));
    let small = model_with(LocalOptions { context_window: Some(256), ..LocalOptions::default() });
    assert!(!Arc::ptr_eq(&a, &small));
    assert_eq!(small.info().context_window, Some(256));
}

#[test]
fn the_gguf_chat_template_is_rendered_with_its_default_system_prompt() {
    let model = model();
    let prompt =
        model.render_prompt(&ChatRequest::new(vec![Message::user("hi")])).expect("renders");
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt:?}");
    assert!(
        prompt.contains("SmolLM"),
        "SmolLM2's template supplies a default system prompt: {prompt:?}"
    );
    assert!(
        prompt.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
        "{prompt:?}"
    );
    let with_system = model
        .render_prompt(&ChatRequest::new(vec![Message::system("Be terse."), Message::user("hi")]))
        .expect("renders");
    assert!(with_system.starts_with("<|im_start|>system\nBe terse.<|im_end|>"), "{with_system:?}");
}

#[test]
fn tokens_are_counted_with_the_models_tokenizer() {
    let model = model();
    let n = model.count_tokens("Hello, world!").expect("local models count tokens");
    assert!((2..=6).contains(&n), "{n}");
    assert_eq!(model.count_tokens(""), Some(0));
    // The vocabulary alone, read without the weights, counts the same.
    let entry = aimos_local::catalog::find("smollm2-135m").expect("in the catalog");
    let path = aimos_local::catalog_path(&entry).expect("a models folder");
    let tokenizer = aimos_local::Tokenizer::load(&path).expect("the vocabulary loads");
    for text in ["Hello, world!", "", "fn main() { println!(\"é\"); }\n\tdone"] {
        assert_eq!(Some(tokenizer.count(text)), model.count_tokens(text), "{text:?}");
    }
    let missing = aimos_local::Tokenizer::load(std::path::Path::new("/nonexistent/model.gguf"));
    assert!(missing.is_err());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn llama_cpp_uses_the_vector_instructions_of_this_cpu() {
    let info = aimos_local::system_info();
    assert!(info.contains("CPU"), "{info}");
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(info.contains("AVX2 = 1"), "built without AVX2 on a CPU that has it: {info}");
    }
    if std::arch::is_x86_feature_detected!("fma") {
        assert!(info.contains("FMA = 1"), "built without FMA on a CPU that has it: {info}");
    }
}
