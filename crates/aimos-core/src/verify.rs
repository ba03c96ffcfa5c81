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
fn kill_group(leader: u32) {
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
/// accepts. The schema may use `type`, `properties`, `required`, `additionalProperties`,
/// `items`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
/// `minLength`, `maxLength`, `minItems`, `maxItems`, `pattern`, `anyOf`, `oneOf`, `allOf`, and
/// annotations (`title`, `description`, `default`, `examples`, `format`, `$schema`, `$id`);
/// anything else is refused when the verifier is made rather than silently ignored.
#[derive(Debug, Clone)]
pub struct SchemaVerifier {
    schema: Value,
    name: String,
}

impl SchemaVerifier {
    /// `name` says where the schema came from, for the ledger.
    pub fn new(name: &str, schema: Value) -> Result<SchemaVerifier, String> {
        check_keywords(&schema, "#")?;
        Ok(SchemaVerifier { schema, name: name.to_owned() })
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
            Some(value) => match validate(&self.schema, &value, "$") {
                Ok(()) => Verdict::new(true, ""),
                Err(why) => Verdict::new(false, format!("the JSON does not fit the schema: {why}")),
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

const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "anyOf",
    "oneOf",
    "allOf",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$schema",
    "$id",
];

fn check_keywords(schema: &Value, at: &str) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{at}: a schema must be an object or a boolean")),
        };
    };
    for (key, value) in object {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) {
            return Err(format!("{at}: the keyword `{key}` is not supported"));
        }
        match key.as_str() {
            "properties" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    check_keywords(sub, &format!("{at}/properties/{name}"))?;
                }
            }
            "items" | "additionalProperties" => check_keywords(value, &format!("{at}/{key}"))?,
            "anyOf" | "oneOf" | "allOf" => {
                for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                    check_keywords(sub, &format!("{at}/{key}/{i}"))?;
                }
            }
            "pattern" => {
                let pattern = value.as_str().unwrap_or_default();
                regex::Regex::new(pattern)
                    .map_err(|e| format!("{at}/pattern: not a valid pattern: {e}"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// Checks `value` against `schema`; the error names the first place that does not fit.
fn validate(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let object = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{at}: nothing is allowed here")),
        Value::Object(object) => object,
        _ => return Ok(()),
    };
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    let count = |key: &str| object.get(key).and_then(Value::as_u64);
    if let Some(wanted) = object.get("type") {
        let names: Vec<&str> = match wanted {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|name| type_matches(name, value)) {
            return Err(format!("{at}: expected {}, found {value}", names.join(" or ")));
        }
    }
    if let Some(options) = object.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {}", Value::Array(options.clone())));
    }
    if let Some(constant) = object.get("const")
        && constant != value
    {
        return Err(format!("{at}: expected {constant}, found {value}"));
    }
    if let Some(x) = value.as_f64() {
        if number("minimum").is_some_and(|m| x < m) {
            return Err(format!("{at}: {x} is below the minimum {}", object["minimum"]));
        }
        if number("maximum").is_some_and(|m| x > m) {
            return Err(format!("{at}: {x} is above the maximum {}", object["maximum"]));
        }
        if number("exclusiveMinimum").is_some_and(|m| x <= m) {
            return Err(format!("{at}: {x} must be above {}", object["exclusiveMinimum"]));
        }
        if number("exclusiveMaximum").is_some_and(|m| x >= m) {
            return Err(format!("{at}: {x} must be below {}", object["exclusiveMaximum"]));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if count("minLength").is_some_and(|m| chars < m) {
            return Err(format!("{at}: shorter than {} characters", object["minLength"]));
        }
        if count("maxLength").is_some_and(|m| chars > m) {
            return Err(format!("{at}: longer than {} characters", object["maxLength"]));
        }
        if let Some(pattern) = object.get("pattern").and_then(Value::as_str)
            && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(text))
        {
            return Err(format!("{at}: does not match the pattern `{pattern}`"));
        }
    }
    if let Some(items) = value.as_array() {
        if count("minItems").is_some_and(|m| (items.len() as u64) < m) {
            return Err(format!("{at}: fewer than {} items", object["minItems"]));
        }
        if count("maxItems").is_some_and(|m| items.len() as u64 > m) {
            return Err(format!("{at}: more than {} items", object["maxItems"]));
        }
        if let Some(item_schema) = object.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Some(fields) = value.as_object() {
        for name in object.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(name) = name.as_str()
                && !fields.contains_key(name)
            {
                return Err(format!("{at}: the field `{name}` is missing"));
            }
        }
        let properties = object.get("properties").and_then(Value::as_object);
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => validate(sub, field, &format!("{at}.{name}"))?,
                None => {
                    if let Some(extra) = object.get("additionalProperties") {
                        validate(extra, field, &format!("{at}.{name}"))
                            .map_err(|_| format!("{at}: the field `{name}` is not allowed here"))?;
                    }
                }
            }
        }
    }
    if let Some(all) = object.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(sub, value, at)?;
        }
    }
    if let Some(any) = object.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|sub| validate(sub, value, at).is_ok())
    {
        return Err(format!("{at}: fits none of the `anyOf` schemas"));
    }
    if let Some(one) = object.get("oneOf").and_then(Value::as_array) {
        let fitting = one.iter().filter(|sub| validate(sub, value, at).is_ok()).count();
        if fitting != 1 {
            return Err(format!("{at}: fits {fitting} of the `oneOf` schemas, not exactly one"));
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
fn tail(text: &str, max: usize) -> String {
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
    fn a_schema_passes_fitting_json_and_names_the_first_misfit() {
        let verifier = schema_verifier(serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                "n": {"type": "integer", "minimum": 0}
            },
            "required": ["name", "n"],
            "additionalProperties": false
        }));
        let check = |result: &str| block_on(verifier.verify("q", result)).expect("runs");
        assert!(check(r#"{"name": "x", "n": 3, "tags": ["a"]}"#).passed);
        assert!(check("Here it is:\n```json\n{\"name\": \"x\", \"n\": 0}\n```\n").passed);
        let cases = [
            (r#"{"name": "x"}"#, "the field `n` is missing"),
            (r#"{"name": "x", "n": -1}"#, "$.n: -1 is below the minimum 0"),
            (r#"{"name": "x", "n": 1.5}"#, "$.n: expected integer"),
            (r#"{"name": "x", "n": 1, "tags": ["c"]}"#, "$.tags[0]"),
            (r#"{"name": "x", "n": 1, "extra": 1}"#, "`extra` is not allowed"),
            ("no json here", "not JSON"),
        ];
        for (result, expected) in cases {
            let verdict = check(result);
            assert!(
                !verdict.passed && verdict.evidence.contains(expected),
                "{result}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_schema_with_keywords_it_cannot_check_is_refused() {
        let err =
            SchemaVerifier::new("s", serde_json::json!({"properties": {"a": {"$ref": "#/x"}}}))
                .expect_err("refused");
        assert!(err.contains("#/properties/a") && err.contains("$ref"), "{err}");
        let err =
            SchemaVerifier::new("s", serde_json::json!({"pattern": "("})).expect_err("refused");
        assert!(err.contains("not a valid pattern"), "{err}");
    }
}
