//! Verifiers: whether a result does what the task asked, decided without the user — a command
//! (the project's tests, say), a pattern, a JSON Schema, or a judge model that sees only the
//! problem and the result. The pipeline records each verdict as a step, feeds
//! it to the insight that guided the result, and `cascade` escalates on a failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use serde_json::Value;

use crate::model::{BoxFuture, Model};
use crate::price::Cost;
use crate::prompts;
use crate::yes_no::YesNo;

/// Most characters of a failure's output kept as evidence (its end, where errors are).
const EVIDENCE_CHARS: usize = 2000;

/// What a verifier found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    /// Why it failed (the end of a command's output, the pattern that did not match); what a
    /// passing check printed, briefly.
    pub evidence: String,
    /// What a verifier that calls a model spent on the verdict.
    pub spent: Option<Spent>,
}

impl Verdict {
    pub fn new(passed: bool, evidence: impl Into<String>) -> Verdict {
        Verdict { passed, evidence: evidence.into(), spent: None }
    }
}

/// A model call made to reach a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Spent {
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Cost,
    pub latency_ms: f64,
    pub external: bool,
}

/// A verifier that could not run at all (not a failed check).
#[derive(Debug, thiserror::Error)]
#[error("the verifier `{verifier}` could not run: {message}")]
pub struct VerifyError {
    pub verifier: String,
    pub message: String,
}

/// Checks a result.
pub trait Verifier: Send + Sync {
    /// A short description for the ledger (`command: cargo test`).
    fn describe(&self) -> String;

    /// Checks `result`, the answer to `problem`.
    fn verify<'a>(
        &'a self,
        problem: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>>;

    /// The same check run in `dir` (edit mode points a command at the scratch copy the edits
    /// landed in); `None` for checks that read only the result.
    fn in_dir(&self, dir: &Path) -> Option<Arc<dyn Verifier>> {
        let _ = dir;
        None
    }

    /// Whether a check calls a model (a judge), and so costs tokens: `auto` keeps such a check
    /// only when it chooses `cascade`, which escalates on it.
    fn calls_a_model(&self) -> bool {
        false
    }
}

/// Runs a shell command; it passes when the command exits with status 0 within the timeout.
/// The result reaches it on stdin and as a file named by `AIMOS_RESULT_FILE`; the problem as
/// `AIMOS_PROBLEM_FILE`.
#[derive(Debug, Clone)]
pub struct CommandVerifier {
    pub command: String,
    pub timeout: Duration,
    /// Where the command runs (the current folder when `None`).
    pub dir: Option<PathBuf>,
}

impl Verifier for CommandVerifier {
    fn describe(&self) -> String {
        format!("command: {}", self.command)
    }

    fn verify<'a>(
        &'a self,
        problem: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        let this = self.clone();
        let (problem, result) = (problem.to_owned(), result.to_owned());
        Box::pin(crate::on_thread(move || this.run(&problem, &result)))
    }

    fn in_dir(&self, dir: &Path) -> Option<Arc<dyn Verifier>> {
        Some(Arc::new(CommandVerifier { dir: Some(dir.to_path_buf()), ..self.clone() }))
    }
}

impl CommandVerifier {
    fn run(&self, problem: &str, result: &str) -> Result<Verdict, VerifyError> {
        let fail = |message: String| VerifyError { verifier: self.describe(), message };
        let scratch = std::env::temp_dir().join(format!("aimos-verify-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&scratch).map_err(|e| fail(format!("a scratch folder: {e}")))?;
        let _cleanup = RemoveOnDrop(scratch.clone());
        let (result_file, problem_file) = (scratch.join("result.txt"), scratch.join("problem.txt"));
        std::fs::write(&result_file, result).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&problem_file, problem).map_err(|e| fail(e.to_string()))?;
        let output_file = scratch.join("output.txt");
        let output = std::fs::File::create(&output_file).map_err(|e| fail(e.to_string()))?;
        let errors = output.try_clone().map_err(|e| fail(e.to_string()))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env("AIMOS_RESULT_FILE", &result_file)
            .env("AIMOS_PROBLEM_FILE", &problem_file)
            .stdin(Stdio::piped())
            .stdout(output)
            .stderr(errors);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        // A group of its own, so that a timeout stops everything the command started.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| fail(format!("starting sh: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input closes the pipe early: not a failure.
            let _ = stdin.write_all(result.as_bytes());
        }
        let started = Instant::now();
        let status = loop {
            match child.try_wait().map_err(|e| fail(e.to_string()))? {
                Some(status) => break Some(status),
                None if started.elapsed() >= self.timeout => {
                    kill_group(child.id());
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let mut printed = String::new();
        let _ = std::fs::File::open(&output_file).and_then(|mut f| f.read_to_string(&mut printed));
        let tail = tail(&printed, EVIDENCE_CHARS);
        Ok(match status {
            Some(status) if status.success() => Verdict::new(true, tail),
            Some(status) => {
                Verdict::new(false, format!("`{}` failed ({status}):\n{tail}", self.command))
            }
            None => Verdict::new(
                false,
                format!(
                    "`{}` did not finish within {} s and was stopped:\n{tail}",
                    self.command,
                    self.timeout.as_secs()
                ),
            ),
        })
    }
}

/// Sends SIGKILL to the process group `leader` leads (through kill(1): this crate has no
/// unsafe code to call the system directly).
pub fn kill_group(leader: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{leader}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Passes when the result matches a regular expression.
#[derive(Debug, Clone)]
pub struct RegexVerifier {
    pub pattern: regex::Regex,
}

impl Verifier for RegexVerifier {
    fn describe(&self) -> String {
        format!("regex: {}", self.pattern.as_str())
    }

    fn verify<'a>(
        &'a self,
        _: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        let passed = self.pattern.is_match(result);
        let evidence = if passed {
            String::new()
        } else {
            format!("the result does not match the pattern `{}`", self.pattern.as_str())
        };
        Box::pin(std::future::ready(Ok(Verdict::new(passed, evidence))))
    }
}

/// Passes when the result is JSON (alone, or in the first fenced block) that a JSON Schema
/// accepts, as the `jsonschema` crate validates it (every keyword of the drafts up to 2020-12,
/// `$ref` into the schema's own `$defs` included; numbers compare by value, so 1 is 1.0).
/// Anything in the schema that is not a JSON Schema keyword is refused when the verifier is
/// made rather than silently ignored, so every schema `aimos chat --json-schema` accepts is
/// accepted here too, and more (`pattern`, `not`, …).
#[derive(Clone)]
pub struct SchemaVerifier {
    validator: Arc<jsonschema::Validator>,
    name: String,
}

impl std::fmt::Debug for SchemaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaVerifier").field("name", &self.name).finish()
    }
}

impl SchemaVerifier {
    /// `name` says where the schema came from, for the ledger. A keyword that is not JSON
    /// Schema's (a typo, say) is refused here rather than ignored, and so is a schema that
    /// does not compile (a bad pattern, a `$ref` to nowhere); references outside the schema
    /// are not fetched.
    pub fn new(name: &str, schema: Value) -> Result<SchemaVerifier, String> {
        check_keywords(&schema, "#")?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|err| format!("the schema does not compile: {err}"))?;
        Ok(SchemaVerifier { validator: Arc::new(validator), name: name.to_owned() })
    }
}

impl Verifier for SchemaVerifier {
    fn describe(&self) -> String {
        format!("schema: {}", self.name)
    }

    fn verify<'a>(
        &'a self,
        _: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        let verdict = match json_in(result) {
            None => Verdict::new(false, "the result is not JSON (alone, or in a fenced block)"),
            Some(value) => match self.validator.validate(&value) {
                Ok(()) => Verdict::new(true, ""),
                Err(err) => {
                    let at = err.instance_path().to_string();
                    let at = if at.is_empty() { "the top level".to_owned() } else { at };
                    Verdict::new(false, format!("the JSON does not fit the schema at {at}: {err}"))
                }
            },
        };
        Box::pin(std::future::ready(Ok(verdict)))
    }
}

/// The JSON value in `text`: the whole text, or the first fenced block that parses.
fn json_in(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(text.trim()) {
        return Some(value);
    }
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        let end = body.find("```")?;
        if let Ok(value) = serde_json::from_str(body[..end].trim()) {
            return Some(value);
        }
        rest = &body[end + 3..];
    }
    None
}

/// JSON Schema's keywords (draft 2020-12 and the older drafts' names): anything else in a schema
/// is refused, so that a typo never passes as a constraint that is silently not checked.
const SCHEMA_KEYWORDS: &[&str] = &[
    // Core.
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "definitions",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$comment",
    "$vocabulary",
    // Applicators.
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
    "prefixItems",
    "items",
    "additionalItems",
    "contains",
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    // Validation.
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    // Formats, content and annotations.
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
];

/// Keywords whose value is a schema, a list of schemas, or a map of names to schemas.
fn subschemas<'a>(key: &str, value: &'a Value) -> Vec<(String, &'a Value)> {
    match (key, value) {
        (
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas"
            | "dependencies",
            Value::Object(map),
        ) => map.iter().map(|(name, sub)| (format!("{key}/{name}"), sub)).collect(),
        ("allOf" | "anyOf" | "oneOf" | "prefixItems" | "items", Value::Array(list)) => {
            list.iter().enumerate().map(|(i, sub)| (format!("{key}/{i}"), sub)).collect()
        }
        (
            "items"
            | "additionalItems"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "contentSchema",
            sub,
        ) => vec![(key.to_owned(), sub)],
        _ => Vec::new(),
    }
}

fn check_keywords(schema: &Value, at: &str) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{at}: a schema must be an object or a boolean")),
        };
    };
    for (key, value) in object {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) {
            return Err(format!("{at}: `{key}` is not a JSON Schema keyword"));
        }
        for (path, sub) in subschemas(key, value) {
            // A `dependencies` entry may be a list of names rather than a schema.
            if key == "dependencies" && sub.is_array() {
                continue;
            }
            check_keywords(sub, &format!("{at}/{path}"))?;
        }
    }
    Ok(())
}

/// A model judges the result, seeing only the problem and the result — never the context —
/// and answers under a JSON schema whether the result solves the problem.
#[derive(Clone)]
pub struct JudgeVerifier {
    pub model: Arc<dyn Model>,
}

impl std::fmt::Debug for JudgeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeVerifier").field("model", &self.model.info().id).finish()
    }
}

/// The judge's question: does the result pass?
const PASSES: YesNo = YesNo { name: "verdict", field: "passed" };

impl Verifier for JudgeVerifier {
    fn describe(&self) -> String {
        format!("judge: {}", self.model.info().id)
    }

    fn calls_a_model(&self) -> bool {
        true
    }

    fn verify<'a>(
        &'a self,
        problem: &'a str,
        result: &'a str,
    ) -> BoxFuture<'a, Result<Verdict, VerifyError>> {
        Box::pin(async move {
            let request = PASSES.request(
                prompts::JUDGE_SYSTEM,
                format!("Problem:\n{problem}\n\nResult:\n{result}\n\nDoes the result pass?"),
            );
            let started = Instant::now();
            let response = self.model.chat(request).await.map_err(|err| VerifyError {
                verifier: self.describe(),
                message: crate::error_chain(&err),
            })?;
            let spent = Spent {
                model: response.model.clone(),
                prompt_tokens: response.usage.prompt_tokens,
                completion_tokens: response.usage.completion_tokens,
                cost: self.model.price_of(&response.model).cost(&response.usage),
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                external: self.model.info().external,
            };
            let (passed, reason) = PASSES.read(&response.content, "the judge");
            Ok(Verdict { passed, evidence: reason, spent: Some(spent) })
        })
    }
}

/// The last `max` characters of `text`, on a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let skip = count - max;
    format!("[…]{}", text.chars().skip(skip).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::block_on;

    fn command(text: &str, timeout: u64) -> CommandVerifier {
        CommandVerifier { command: text.into(), timeout: Duration::from_secs(timeout), dir: None }
    }

    #[test]
    fn a_command_sees_the_result_and_its_exit_status_decides() {
        let verdict =
            block_on(command("grep -q 'answer is 42'", 10).verify("q", "the answer is 42"))
                .expect("runs");
        assert!(verdict.passed, "{verdict:?}");
        let check =
            "test \"$(cat \"$AIMOS_RESULT_FILE\")\" = yes || { echo expected yes >&2; exit 3; }";
        let verdict = block_on(command(check, 10).verify("q", "no")).expect("runs");
        assert!(!verdict.passed);
        assert!(verdict.evidence.contains("expected yes"), "{verdict:?}");
        assert!(verdict.evidence.contains("exit status: 3"), "{verdict:?}");
    }

    #[test]
    fn a_command_that_runs_too_long_is_stopped_and_fails() {
        let started = Instant::now();
        let verdict =
            block_on(command("echo started; sleep 30", 1).verify("q", "r")).expect("runs");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(!verdict.passed);
        assert!(verdict.evidence.contains("did not finish within 1 s"), "{verdict:?}");
        assert!(verdict.evidence.contains("started"), "{verdict:?}");
    }

    #[test]
    fn a_timeout_stops_what_the_command_started_too() {
        let dir = std::env::temp_dir().join(format!("aimos-verify-test-{}", crate::ids::new_id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let verifier = CommandVerifier {
            command: "sleep 60 & echo $! > child.pid; wait".into(),
            timeout: Duration::from_secs(1),
            dir: None,
        };
        let verifier = verifier.in_dir(&dir).expect("a command runs in a folder");
        let verdict = block_on(verifier.verify("q", "r")).expect("runs");
        assert!(!verdict.passed);
        let pid = std::fs::read_to_string(dir.join("child.pid")).expect("the command ran in dir");
        std::thread::sleep(Duration::from_millis(200));
        // Gone, or a zombie waiting for whoever adopted it to reap it.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let alive = stat
            .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z')));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!alive, "the command's child {} outlived the timeout", pid.trim());
    }

    #[test]
    fn a_pattern_passes_or_says_what_it_wanted() {
        let verifier = RegexVerifier { pattern: regex::Regex::new(r"fn \w+\(").expect("valid") };
        assert!(block_on(verifier.verify("q", "pub fn peek(&self)")).expect("ok").passed);
        let verdict = block_on(verifier.verify("q", "no code")).expect("ok");
        assert!(!verdict.passed && verdict.evidence.contains(r"fn \w+\("), "{verdict:?}");
        assert_eq!(tail("abcdef", 3), "[…]def");
    }

    fn schema_verifier(schema: Value) -> SchemaVerifier {
        SchemaVerifier::new("test", schema).expect("supported")
    }

    #[test]
    fn a_schema_passes_fitting_json_and_names_where_it_does_not_fit() {
        let verifier = schema_verifier(serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                "n": {"type": "integer", "minimum": 0},
                "unit": {"$ref": "#/$defs/unit"}
            },
            "required": ["name", "n"],
            "additionalProperties": false,
            "$defs": {"unit": {"enum": ["s", "ms"]}}
        }));
        let check = |result: &str| block_on(verifier.verify("q", result)).expect("runs");
        assert!(check(r#"{"name": "x", "n": 3, "tags": ["a"], "unit": "ms"}"#).passed);
        assert!(check("Here it is:\n```json\n{\"name\": \"x\", \"n\": 0}\n```\n").passed);
        // 1.0 is the integer 1, as JSON Schema says.
        assert!(check(r#"{"name": "x", "n": 1.0}"#).passed);
        let cases = [
            (r#"{"name": "x"}"#, "at the top level: \"n\" is a required property"),
            (r#"{"name": "x", "n": -1}"#, "at /n: -1 is less than the minimum of 0"),
            (r#"{"name": "x", "n": 1.5}"#, "at /n: 1.5 is not of type \"integer\""),
            (r#"{"name": "x", "n": 1, "tags": ["c"]}"#, "at /tags/0"),
            (r#"{"name": "x", "n": 1, "unit": "h"}"#, "at /unit"),
            (r#"{"name": "x", "n": 1, "extra": 1}"#, "'extra' was unexpected"),
            ("no json here", "not JSON"),
        ];
        for (result, expected) in cases {
            let verdict = check(result);
            assert!(
                !verdict.passed && verdict.evidence.contains(expected),
                "{result}: {verdict:?}"
            );
        }
        let one = schema_verifier(serde_json::json!({"const": 1}));
        assert!(block_on(one.verify("q", "1.0")).expect("runs").passed, "1 and 1.0 are equal");
    }

    #[test]
    fn a_schema_with_a_keyword_that_is_not_json_schemas_or_that_does_not_compile_is_refused() {
        let err =
            SchemaVerifier::new("s", serde_json::json!({"properties": {"a": {"maxlength": 3}}}))
                .expect_err("a typo");
        assert!(err.contains("#/properties/a") && err.contains("`maxlength`"), "{err}");
        let err =
            SchemaVerifier::new("s", serde_json::json!({"pattern": "("})).expect_err("refused");
        assert!(err.contains("does not compile"), "{err}");
        let err = SchemaVerifier::new("s", serde_json::json!({"$ref": "#/$defs/missing"}))
            .expect_err("a reference to nowhere");
        assert!(err.contains("does not compile"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    /// A result checked against a schema is outside input, and so is the schema a user gives.
    #[test]
    fn no_result_or_schema_makes_the_schema_check_panic() {
        let schema = serde_json::json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]});
        let verifier = super::SchemaVerifier::new("s", schema).expect("a schema");
        let seeds: &[&[u8]] =
            &[br#"{"n": 3}"#, b"Here it is:\n```json\n{\"n\": 1}\n```\nand ```\n[1]\n```"];
        crate::fuzz::run("schema-check", seeds, |input| {
            let text = crate::fuzz::text(input);
            let _ = crate::testing::block_on(crate::Verifier::verify(&verifier, "q", &text));
        });
        let schemas: &[&[u8]] = &[
            br#"{"type": "object", "properties": {"a": {"type": "string", "maxLength": 4}}, "required": ["a"]}"#,
            br##"{"$defs": {"u": {"enum": ["s", "ms"]}}, "items": {"$ref": "#/$defs/u"}, "minItems": 1}"##,
        ];
        crate::fuzz::run("schema", schemas, |input| {
            if let Ok(schema) = serde_json::from_slice::<serde_json::Value>(input) {
                let _ = super::SchemaVerifier::new("s", schema);
            }
        });
    }
}
