//! `aimos chat` and `aimos bench` against the real test model.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use crate::{TEST_MODEL, aimos, failure, success, test_model_file};

fn chat() -> std::process::Command {
    test_model_file();
    let mut command = aimos();
    command.args(["chat", "-m", TEST_MODEL]);
    command
}

#[test]
fn greedy_chat_prints_the_same_answer_every_time() {
    let first =
        success(chat().args(["--temperature", "0", "--max-tokens", "40", "Name three colors."]));
    let second =
        success(chat().args(["--temperature", "0", "--max-tokens", "40", "Name three colors."]));
    assert!(first.trim().len() > 3, "{first:?}");
    assert_eq!(first, second);
}

#[test]
fn verbose_reports_token_counts_and_speeds_on_stderr() {
    let (output, stdout, stderr) =
        crate::run(chat().args(["-v", "--temperature", "0", "--max-tokens", "16", "Say hello."]));
    assert!(output.status.success(), "{stderr}");
    assert!(!stdout.contains("tokens/s"), "speeds stay off stdout: {stdout}");
    assert!(stderr.contains("prompt: ") && stderr.contains("tokens/s"), "{stderr}");
    assert!(stderr.contains("threads: "), "{stderr}");
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let mut child = chat()
        .args(["--temperature", "0", "--max-tokens", "16", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"What is the capital of France? Answer in one word.")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Paris"), "{stdout}");
}

#[test]
fn json_schema_answers_parse_and_follow_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("person.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"name":{"type":"string","maxLength":30},"age":{"type":"integer"}},"required":["name","age"]}"#,
    )
    .expect("write schema");
    for temperature in ["0", "0.8"] {
        let out = success(
            chat()
                .args(["--temperature", temperature, "--max-tokens", "200", "--json-schema"])
                .arg(&schema)
                .arg("Invent a person."),
        );
        let value: Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
        assert!(value["name"].is_string() && value["age"].is_i64(), "{value}");
    }
}

/// Numbers, strings and arrays under a schema end within 64 tokens: no repeat in the grammar is
/// unbounded where a small model could spin (`0.99999…` once went on to the token limit).
#[test]
fn constrained_answers_end_within_64_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("colour.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"colour":{"type":"string"},"confidence":{"type":"number"},"shades":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["colour","confidence","shades"]}"#,
    )
    .expect("write schema");
    for prompt in ["What colour is the sky? Say how sure you are.", "Name a colour and its shades."]
    {
        let out = success(
            chat()
                .args(["--temperature", "0", "--max-tokens", "64", "--json-schema"])
                .arg(&schema)
                .arg(prompt),
        );
        let value: Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
        assert!(value["confidence"].is_number() && value["shades"].is_array(), "{value}");
    }
    // Cut by the token limit: the error names the field it stopped in.
    let (output, _, stderr) = crate::run(
        chat().args(["--max-tokens", "6", "--json-schema"]).arg(&schema).arg("A colour?"),
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("it was cut inside `"), "{stderr}");
}

#[test]
fn an_invalid_json_schema_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{ type: object").expect("write");
    let stderr = failure(chat().arg("--json-schema").arg(&not_json).arg("hi"));
    assert!(stderr.contains("broken.json is not valid JSON"), "{stderr}");

    let bad_schema = dir.path().join("bad.json");
    std::fs::write(&bad_schema, r#"{"type":"object","properties":{"n":{"type":"integr"}}}"#)
        .expect("write");
    let stderr = failure(chat().arg("--json-schema").arg(&bad_schema).arg("hi"));
    assert!(
        stderr.contains("unknown type `integr`") && stderr.contains("#/properties/n"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.json");
    let stderr = failure(chat().arg("--json-schema").arg(&missing).arg("hi"));
    assert!(stderr.contains("missing.json"), "{stderr}");
}

#[test]
fn a_prompt_longer_than_the_window_names_both_lengths() {
    let prompt = "lorem ipsum ".repeat(200);
    let stderr = failure(chat().args(["--ctx", "128", &prompt]));
    assert!(stderr.contains("context window is 128"), "{stderr}");
    assert!(stderr.contains("the prompt is "), "{stderr}");
}

#[test]
fn an_unknown_model_lists_the_catalog() {
    let stderr = failure(aimos().args(["chat", "-m", "llama-9000", "hi"]));
    assert!(
        stderr.contains("unknown model `llama-9000`") && stderr.contains("smollm2-135m"),
        "{stderr}"
    );
}

#[test]
fn stop_sequences_cut_the_printed_answer() {
    let full = success(chat().args([
        "--temperature",
        "0",
        "--max-tokens",
        "60",
        "Count from 1 to 10, separated by commas.",
    ]));
    let stopped = success(chat().args([
        "--temperature",
        "0",
        "--max-tokens",
        "60",
        "--stop",
        "5",
        "Count from 1 to 10, separated by commas.",
    ]));
    let cut = full.find('5').expect("the count reaches 5");
    assert_eq!(stopped.trim_end(), full[..cut].trim_end());
}

#[test]
fn bench_reports_prompt_and_generation_speeds() {
    test_model_file();
    let out = success(
        aimos().args(["bench", "-m", TEST_MODEL, "-p", "64", "-n", "8", "-r", "1", "--json"]),
    );
    let rows: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    let tests: Vec<&str> = rows.iter().filter_map(|r| r["test"].as_str()).collect();
    assert_eq!(tests, ["pp64", "tg8@d64"]);
    assert!(rows.iter().all(|r| r["tokens_per_second"].as_f64().is_some_and(|t| t > 1.0)), "{out}");
}
