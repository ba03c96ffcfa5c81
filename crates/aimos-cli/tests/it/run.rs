//! `aimos run`, `aimos insights` and `aimos runs` end to end: the real embedded model in both
//! roles and a real SQLite file.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TEST_MODEL, aimos, failure, success, test_model_file};

/// A small project with a bug, as context.
pub(crate) fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("src/stack.rs"),
        "pub struct Stack { items: Vec<i32> }\n\nimpl Stack {\n    pub fn peek(&self) -> i32 {\n        self.items[self.items.len()]\n    }\n}\n",
    )
    .expect("write");
    std::fs::write(dir.join("README.md"), "# stack\nA tiny stack.\n").expect("write");
}

pub(crate) const PROBLEM: &str =
    "peek() panics with index out of bounds: the len is 3 but the index is 3. Fix it.";

/// `aimos run` with the test model in both roles, small limits, and `context` as the context.
pub(crate) fn run_command(store: &Path, context: &Path) -> Command {
    test_model_file();
    let mut command = aimos();
    command
        .args([
            "run",
            "--smart",
            TEST_MODEL,
            "--cheap",
            TEST_MODEL,
            "--ctx",
            "2048",
            "--max-tokens",
            "96",
            "--budget",
            "300",
        ])
        .arg("--store")
        .arg(store)
        .arg("--context")
        .arg(context.file_name().expect("a named context"));
    // A relative context path keeps the temporary folder's random name out of the prompts,
    // so that greedy decoding gives the same answers on every run.
    command.current_dir(context.parent().expect("context inside a folder"));
    command
}

/// `aimos run --json` on [`PROBLEM`] with `extra` options; the run record it printed.
fn run_json(store: &Path, context: &Path, extra: &[&str]) -> Value {
    let out = success(run_command(store, context).arg("--json").args(extra).arg(PROBLEM));
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
}

/// The kinds of a run record's steps, in order.
fn step_kinds(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn consult_prints_the_result_and_a_cost_table_and_stores_the_insight() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let out = success(run_command(&store, &dir.path().join("project")).arg(PROBLEM));
    for needle in ["STEP", "distill", "consult", "execute", "total", "smart-only", "savings:"] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }

    let listed = success(aimos().args(["insights", "list", "--json"]).arg("--store").arg(&store));
    let insights: Vec<Value> = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(insights.len(), 1, "{listed}");
    let id = insights[0]["id"].as_str().expect("id");
    assert!(insights[0]["brief"].as_str().is_some_and(|b| b.contains("index out of bounds")));
    let shown = success(aimos().args(["insights", "show", id]).arg("--store").arg(&store));
    assert!(shown.contains("Diagnosis:") && shown.contains("Plan:"), "{shown}");
    let found = success(
        aimos().args(["insights", "search", "peek bounds", "--json"]).arg("--store").arg(&store),
    );
    assert!(found.contains(id), "{found}");

    let runs: Vec<Value> = serde_json::from_str(&success(
        aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store),
    ))
    .expect("JSON");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["insight_id"].as_str(), Some(id));

    let recorded = success(
        aimos()
            .args(["insights", "feedback", id, "--passed", "--note", "fixed it"])
            .arg("--store")
            .arg(&store),
    );
    assert!(recorded.contains("succeeded 1"), "{recorded}");
    let stderr = failure(
        aimos().args(["insights", "feedback", "no-such-id", "--failed"]).arg("--store").arg(&store),
    );
    assert!(stderr.contains("no insight with id no-such-id"), "{stderr}");

    let stats: Value = serde_json::from_str(&success(
        aimos().args(["stats", "--json"]).arg("--store").arg(&store),
    ))
    .expect("JSON");
    assert_eq!(stats["total"]["runs"], 1);
    assert_eq!(stats["by_model"][0]["model"], "local:smollm2-135m");
    let table = success(aimos().args(["stats"]).arg("--store").arg(&store));
    assert!(table.contains("SMART-ONLY") && table.contains("total"), "{table}");

    // `aimos distill` prints exactly the brief the smart model was given.
    let brief = success(
        aimos()
            .args(["distill", "--smart", TEST_MODEL, "--budget", "300", "--context", "project"])
            .arg(PROBLEM)
            .current_dir(dir.path()),
    );
    assert_eq!(brief, insights[0]["brief"].as_str().expect("brief"));
}

#[test]
fn json_prints_the_whole_run_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    for strategy in ["cheap", "consult", "smart"] {
        let out = success(run_command(&store, &dir.path().join("project")).args([
            "--json",
            "--strategy",
            strategy,
            PROBLEM,
        ]));
        let record: Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
        for field in
            ["id", "strategy", "insight_id", "result", "cost", "counterfactual", "savings", "steps"]
        {
            assert!(record.get(field).is_some(), "{strategy}: no {field} in {record}");
        }
        assert_eq!(record["strategy"], strategy);
        let kinds: Vec<&str> = record["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["kind"].as_str())
            .collect();
        match strategy {
            "consult" => assert_eq!(kinds, ["distill", "consult", "execute"], "{record}"),
            _ => assert_eq!(kinds, ["execute"], "{record}"),
        }
        for step in record["steps"].as_array().expect("steps") {
            for field in ["model", "prompt_tokens", "completion_tokens", "cost", "latency_ms"] {
                assert!(step.get(field).is_some(), "no {field} in {step}");
            }
        }
        assert_eq!(record["counterfactual"]["latency_measured"], strategy == "smart");
        let shown = success(
            aimos()
                .args(["runs", "show", record["id"].as_str().expect("id")])
                .arg("--store")
                .arg(&store),
        );
        assert!(shown.contains("smart-only"), "{shown}");
    }
}

#[test]
fn aimos_trace_holds_every_model_call_with_what_was_sent_and_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let trace = dir.path().join("trace.jsonl");
    let out = success(
        run_command(&dir.path().join("aimos.db"), &dir.path().join("project"))
            .env("AIMOS_TRACE", &trace)
            .args(["--json", "--strategy", "consult", PROBLEM]),
    );
    let record: Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
    let lines: Vec<Value> = std::fs::read_to_string(&trace)
        .expect("the trace file was written")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    // One line per model call: the consultation, then the execution.
    let steps: Vec<&str> = lines.iter().filter_map(|l| l["step"].as_str()).collect();
    assert_eq!(steps, ["consult", "execute"], "{lines:?}");
    assert_eq!(lines[0]["role"], "smart");
    assert_eq!(lines[1]["role"], "cheap");
    // The executor saw the file and the problem, and its answer is the run's result.
    let sent = lines[1]["messages"].to_string();
    assert!(sent.contains("self.items[self.items.len()]") && sent.contains("peek()"), "{sent}");
    assert_eq!(lines[1]["answer"], record["result"]);
    assert_eq!(
        lines[1]["usage"]["completion_tokens"], record["steps"][2]["completion_tokens"],
        "{record}"
    );

    // A trace that cannot be written is refused before anything runs.
    let err = failure(
        run_command(&dir.path().join("aimos.db"), &dir.path().join("project"))
            .env("AIMOS_TRACE", dir.path().join("no/such/folder/trace.jsonl"))
            .args(["--strategy", "cheap", PROBLEM]),
    );
    assert!(err.contains("AIMOS_TRACE") && err.contains("cannot be appended to"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let missing = dir.path().join("no-such-folder");
    let stderr = failure(run_command(&store, &missing).arg(PROBLEM));
    assert!(stderr.contains("no-such-folder") && stderr.contains("does not exist"), "{stderr}");

    let stderr = failure(run_command(&store, &dir.path().join("project")).arg("   "));
    assert!(stderr.contains("the problem is empty"), "{stderr}");

    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--smart", "openai:gpt-4.1", PROBLEM])
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL"),
    );
    assert!(stderr.contains("set the environment variable OPENAI_API_KEY"), "{stderr}");

    // A usage error: clap's exit status 2.
    let (output, _, stderr) = crate::run(run_command(&store, &dir.path().join("project")).args([
        "--strategy",
        "fastest",
        PROBLEM,
    ]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cheap, smart, consult"), "{stderr}");
    // The help lists the exit statuses, a failed check apart from a usage error.
    let help = crate::success(crate::aimos().arg("--help"));
    assert!(help.contains("Exit statuses:") && help.contains("3  a check failed"), "{help}");

    let not_a_store = dir.path().join("notes.txt");
    std::fs::write(&not_a_store, "my notes ".repeat(500)).expect("write");
    let stderr = failure(run_command(&not_a_store, &dir.path().join("project")).arg(PROBLEM));
    assert!(stderr.contains("not an aimos store"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&not_a_store).expect("read"), "my notes ".repeat(500));

    if store.exists() {
        let runs: Vec<Value> = serde_json::from_str(&success(
            aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store),
        ))
        .expect("JSON");
        assert!(runs.is_empty(), "{runs:?}");
    }
}

#[test]
fn binary_files_in_the_context_are_skipped_with_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project_dir = dir.path().join("project");
    project(&project_dir);
    std::fs::write(project_dir.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0, 13])
        .expect("write");
    let (output, _, stderr) =
        crate::run(run_command(&dir.path().join("aimos.db"), &project_dir).args([
            "--strategy",
            "cheap",
            PROBLEM,
        ]));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped") && stderr.contains("logo.png") && stderr.contains("binary"),
        "{stderr}"
    );
}

#[test]
fn killing_runs_at_random_moments_never_corrupts_the_store_or_loses_an_insight() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    // A reference run tells how long a whole run takes here.
    let started = Instant::now();
    success(run_command(&store, &dir.path().join("project")).arg(PROBLEM));
    let whole = started.elapsed();

    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(std::process::id());
    for _ in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = whole.mul_f64((seed % 1000) as f64 / 1000.0 * 1.2);
        let mut child = run_command(&store, &dir.path().join("project"))
            .arg(PROBLEM)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(at.max(Duration::from_millis(20)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }

    let conn = rusqlite::Connection::open(&store).expect("open");
    let check: String =
        conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("check");
    assert_eq!(check, "ok");
    let insights: Vec<Value> = serde_json::from_str(&success(
        aimos().args(["insights", "list", "--limit", "100", "--json"]).arg("--store").arg(&store),
    ))
    .expect("JSON");
    assert!(!insights.is_empty(), "the reference run's insight is there");
    for insight in &insights {
        let shown = success(
            aimos()
                .args(["insights", "show", insight["id"].as_str().expect("id"), "--json"])
                .arg("--store")
                .arg(&store),
        );
        let full: Value = serde_json::from_str(&shown).expect("JSON");
        assert!(full["diagnosis"].is_string() && full["plan"].is_array(), "{full}");
    }
    // Every recorded run that names an insight finds it.
    let runs: Vec<Value> = serde_json::from_str(&success(
        aimos().args(["runs", "list", "--limit", "100", "--json"]).arg("--store").arg(&store),
    ))
    .expect("JSON");
    for run in &runs {
        if let Some(id) = run["insight_id"].as_str() {
            assert!(
                insights.iter().any(|i| i["id"] == id),
                "run {} names a missing insight",
                run["id"]
            );
        }
    }
}

#[test]
fn a_config_file_chooses_models_store_and_prices_and_options_win_over_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let config = dir.path().join("aimos.toml");
    success(aimos().args(["init", "--preset", "local", "--path"]).arg(&config));
    let text = std::fs::read_to_string(&config).expect("written");
    assert!(text.contains("smart = \"qwen2.5-coder-1.5b\""), "{text}");
    let stderr = failure(aimos().args(["init", "--path"]).arg(&config));
    assert!(stderr.contains("--force"), "{stderr}");

    let store = dir.path().join("from-config.db");
    std::fs::write(
        &config,
        format!(
            "[models]\nsmart = \"{TEST_MODEL}\"\ncheap = \"{TEST_MODEL}\"\n[store]\npath = \"{}\"\n\
             [prices.\"{TEST_MODEL}\"]\ninput = 1000.0\noutput = 2000.0\n",
            store.display()
        ),
    )
    .expect("write config");
    test_model_file();
    let out = success(
        aimos()
            .args([
                "run",
                "--strategy",
                "cheap",
                "--ctx",
                "2048",
                "--max-tokens",
                "16",
                "--json",
                "--config",
            ])
            .arg(&config)
            .arg("--context")
            .arg(dir.path().join("project"))
            .arg(PROBLEM),
    );
    let record: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(record["steps"][0]["model"], "local:smollm2-135m");
    let step = &record["steps"][0];
    let expected = step["prompt_tokens"].as_f64().expect("n") * 1e-3
        + step["completion_tokens"].as_f64().expect("n") * 2e-3;
    assert!((record["cost"]["usd"].as_f64().expect("usd") - expected).abs() < 1e-9, "{record}");
    assert!(store.exists(), "the config's store was used");

    let stderr = failure(aimos().args(["stats", "--config"]).arg(dir.path().join("missing.toml")));
    assert!(stderr.contains("missing.toml") && stderr.contains("does not exist"), "{stderr}");
    std::fs::write(&config, "[models]\nsmrat = \"x\"\n").expect("write");
    let stderr = failure(aimos().args(["stats", "--config"]).arg(&config));
    assert!(stderr.contains("smrat"), "{stderr}");
}

#[test]
fn cascade_stops_when_the_check_passes_and_escalates_to_the_smart_model_when_it_keeps_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let steps = |out: &str| -> Vec<String> {
        step_kinds(&serde_json::from_str(out).unwrap_or_else(|err| panic!("{err}: {out}")))
    };

    // A check that any answer passes: the cheap model's first answer stands.
    let out = success(
        run_command(&store, &dir.path().join("project"))
            .args(["--json", "--strategy", "cascade", "--verify", "grep -q ."])
            .arg(PROBLEM),
    );
    assert_eq!(steps(&out), ["execute", "verify"], "{out}");
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["verified"], true, "{out}");

    // A check that always fails: consult, retry, then the smart model; exit status 3.
    let (output, stdout, stderr) = crate::run(
        run_command(&store, &dir.path().join("project"))
            .args(["--strategy", "cascade", "--verify", "echo the tests failed >&2; exit 1"])
            .arg(PROBLEM),
    );
    assert_eq!(output.status.code(), Some(3), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("failed its check"), "{stderr}");
    assert!(stdout.contains("check: FAILED"), "{stdout}");
    assert!(stdout.contains("cascade 3/3: the smart model from the brief"), "{stdout}");
    assert!(stdout.contains("the tests failed"), "the verifier's output is in the notes: {stdout}");
    let runs = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store));
    let runs: Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(
        step_kinds(&runs[0]),
        ["execute", "verify", "distill", "consult", "execute", "verify", "execute", "verify"]
    );
    // The failed check counts against the insight that guided the second attempt.
    let listed = success(aimos().args(["insights", "list", "--json"]).arg("--store").arg(&store));
    let insights: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(insights[0]["failed"], 1, "{listed}");

    // Without a check, cascade says what to pass.
    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--strategy", "cascade"])
            .arg(PROBLEM),
    );
    assert!(stderr.contains("--verify"), "{stderr}");
    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--verify-regex", "(unclosed"])
            .arg(PROBLEM),
    );
    assert!(stderr.contains("not a valid regular expression"), "{stderr}");
    let (output, _, stderr) = crate::run(
        run_command(&store, &dir.path().join("project"))
            .args(["--reuse-threshold", "1.5"])
            .arg(PROBLEM),
    );
    assert_eq!(output.status.code(), Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("not a probability"), "{stderr}");
}

#[test]
fn a_second_run_of_a_solved_problem_reuses_its_insight_without_the_smart_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let run = |extra: &[&str]| run_json(&store, &dir.path().join("project"), extra);
    // The tiny test model states whatever confidence it likes: let any record pass the bar.
    let first = run(&["--reuse-threshold", "0"]);
    assert_eq!(step_kinds(&first), ["distill", "consult", "execute"]);
    let second = run(&["--reuse-threshold", "0", "--reuse-check", "off"]);
    assert_eq!(step_kinds(&second), ["distill", "recall", "execute"], "{second}");
    assert_eq!(second["insight_id"], first["insight_id"]);
    assert!(second["reason"].as_str().unwrap().contains("reused insight"), "{second}");
    // `never` consults again.
    let third = run(&["--reuse-check", "never"]);
    assert_eq!(step_kinds(&third), ["distill", "consult", "execute"]);
}

#[test]
fn with_an_embedding_model_a_problem_told_in_other_words_reuses_the_insight() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let run = |problem: &str, extra: &[&str]| -> Value {
        let out = success(
            run_command(&store, &dir.path().join("project"))
                .env("AIMOS_EMBEDDING", crate::embedding_model())
                .arg("--json")
                .args(extra)
                .arg(problem),
        );
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
    };
    let first = run(PROBLEM, &["--reuse-threshold", "0"]);
    assert_eq!(step_kinds(&first), ["distill", "consult", "execute"]);
    let note = first["steps"][0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("re-ranked by meaning with local:minilm-l6"), "{note}");
    // Other words, the same problem: found by meaning, with no word of the report in common
    // but `peek()`.
    let paraphrase = "Calling peek() on our stack crashes because it reads one slot past the end.";
    let second = run(paraphrase, &["--reuse-threshold", "0", "--reuse-check", "off"]);
    assert_eq!(step_kinds(&second), ["distill", "recall", "execute"], "{second}");
    assert_eq!(second["insight_id"], first["insight_id"]);
    // The same words about another method are another problem.
    let near_miss = PROBLEM.replace("peek()", "pop()");
    let third = run(&near_miss, &["--reuse-threshold", "0", "--reuse-check", "off"]);
    assert_eq!(step_kinds(&third), ["distill", "consult", "execute"], "{third}");
    // Without the model, words alone do not find the paraphrase.
    let words = success(
        run_command(&store, &dir.path().join("project"))
            .args(["--json", "--reuse-threshold", "0", "--reuse-check", "off"])
            .arg(paraphrase),
    );
    let words: Value = serde_json::from_str(&words).unwrap();
    assert_eq!(step_kinds(&words), ["distill", "consult", "execute"], "{words}");
    // A model that is not there is an error that says what to do.
    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--embedding", "no-such-model"])
            .arg(PROBLEM),
    );
    assert!(stderr.contains("--embedding off"), "{stderr}");
}

#[test]
fn auto_learns_from_verified_runs_and_stats_show_quality_shadow_checks_and_calibration() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let run = |extra: &[&str]| run_json(&store, &dir.path().join("project"), extra);
    let auto = ["--strategy", "auto", "--target-quality", "0.8", "--reuse-check", "never"];

    // Nothing learned: of the priors, only the smart model's reaches 0.8.
    let first = run(&auto);
    assert_eq!(first["strategy"], "smart", "{first}");
    assert_eq!(step_kinds(&first), ["decide", "execute"]);
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.starts_with("auto chose smart") && reason.contains("target 0.80"), "{reason}");

    // Three verified successes of the cheap model on this kind of task…
    for _ in 0..3 {
        let cheap = run(&["--strategy", "cheap", "--verify", "grep -q ."]);
        assert_eq!(cheap["verified"], true, "{cheap}");
    }
    // …and auto gives the next one to the cheap model.
    let later = run(&auto);
    assert_eq!(later["strategy"], "cheap", "{later}");
    let note = later["steps"][0]["note"].as_str().unwrap();
    assert!(note.contains("cheap 0.89 (3 outcomes"), "{note}");

    // A consultation checked by a command: an outcome for the insight, to calibrate on; and
    // a shadow check of it.
    let (output, stdout, stderr) = crate::run(
        run_command(&store, &dir.path().join("project"))
            .args(["--verify", "grep -q .", "--reuse-check", "never", "--shadow"])
            .arg(PROBLEM),
    );
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("shadow check (run "), "{stderr}");

    let out = success(aimos().args(["calibrate"]).arg("--store").arg(&store));
    assert!(out.contains(&format!("local:{TEST_MODEL}: fitted on 2 outcomes")), "{out}");
    let stats = success(aimos().args(["stats", "--json"]).arg("--store").arg(&store));
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let quality = &stats["quality"];
    let cheap = quality["by_strategy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == "cheap")
        .expect("cheap judged");
    assert_eq!((cheap["judged"].as_u64(), cheap["passed"].as_u64()), (Some(3), Some(3)));
    assert_eq!(quality["shadow"]["checks"], 1, "{quality}");
    assert_eq!(quality["calibration"][0]["stated"]["points"], 2, "{quality}");
    assert!(quality["calibration"][0]["calibration"]["slope"].is_number(), "{quality}");
    let text = success(aimos().args(["stats"]).arg("--store").arg(&store));
    for expected in ["PASS RATE", "reuse: ", "shadow checks: ", "calibration of ", "ECE"] {
        assert!(text.contains(expected), "{expected}: {text}");
    }

    // Bad steering says what to do.
    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--target-quality", "0.9"])
            .arg(PROBLEM),
    );
    assert!(stderr.contains("add --strategy auto"), "{stderr}");
}

#[test]
fn a_schema_check_fails_text_that_is_not_the_json_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(&dir.path().join("project"));
    let store = dir.path().join("aimos.db");
    let schema = dir.path().join("answer.schema.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "properties": {"fix": {"type": "string"}}, "required": ["fix"]}"#,
    )
    .expect("write");
    let (output, stdout, stderr) = crate::run(
        run_command(&store, &dir.path().join("project"))
            .args(["--strategy", "cheap", "--verify-schema"])
            .arg(&schema)
            .arg(PROBLEM),
    );
    // The tiny model answers in prose: not JSON, so the check fails and says why.
    assert_eq!(output.status.code(), Some(3), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("failed schema: "), "{stdout}");
    let bad = dir.path().join("bad.schema.json");
    std::fs::write(&bad, r##"{"$ref": "#/defs/x"}"##).expect("write");
    let stderr = failure(
        run_command(&store, &dir.path().join("project"))
            .args(["--verify-schema"])
            .arg(&bad)
            .arg(PROBLEM),
    );
    assert!(
        stderr.contains("the schema does not compile") && stderr.contains("/defs/x"),
        "{stderr}"
    );
}
