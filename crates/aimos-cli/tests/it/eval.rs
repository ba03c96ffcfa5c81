//! `aimos eval` end to end: a small JSONL suite, the real embedded model in both roles, every
//! strategy graded, the report and plots written, and a killed eval resumed.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{TEST_MODEL, aimos, failure, success, test_model_file};

fn suite(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("notes.txt"), "The service listens on port 8431.\n").expect("write");
    let path = dir.join("suite.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"id": "port", "problem": "Which port does the service listen on?", "context_files": ["notes.txt"], "grader": {"type": "contains", "all": ["8431"]}}"#,
            "\n",
            r#"{"id": "greet", "problem": "Write a Python function greet() that returns the string hello.", "grader": {"type": "python", "tests": "assert greet() == 'hello'"}}"#,
            "\n"
        ),
    )
    .expect("write");
    path
}

fn eval_command(suite: &Path, out: &Path) -> Command {
    test_model_file();
    let mut command = aimos();
    command
        .args(["eval", "--smart", TEST_MODEL, "--cheap", TEST_MODEL, "--ctx", "2048"])
        .args(["--max-tokens", "32", "--budget", "300", "--strategies", "cheap,smart,consult"])
        .arg("--suite")
        .arg(suite)
        .arg("--out")
        .arg(out);
    command
}

fn rows(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a row"))
        .collect()
}

#[test]
fn every_task_runs_under_every_strategy_is_graded_reported_and_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = suite(dir.path());
    let out = dir.path().join("out");
    let stdout = success(&mut eval_command(&suite, &out));
    for strategy in ["cheap", "smart", "consult"] {
        assert!(stdout.contains(strategy), "{stdout}");
    }
    let first = rows(&out);
    assert_eq!(first.len(), 6);
    for row in &first {
        assert!(row["passed"].is_boolean() && row["run_id"].is_string(), "{row}");
        assert!(row["cost_usd"].as_f64().unwrap() > 0.0, "{row}");
    }
    // The consult runs sent the smart model a brief; the cheap runs sent it nothing.
    let smart_tokens = |strategy: &str| -> u64 {
        first
            .iter()
            .filter(|r| r["strategy"] == strategy)
            .map(|r| r["smart_prompt_tokens"].as_u64().unwrap())
            .sum()
    };
    assert!(smart_tokens("consult") > 0 && smart_tokens("smart") > 0);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("valid");
    assert_eq!(report["tasks"], 2);
    assert_eq!(report["strategies"].as_array().unwrap().len(), 3);
    let consult = &report["strategies"][2];
    assert_eq!(consult["strategy"], "consult");
    assert!(consult["interval"][1].as_f64().unwrap() >= consult["pass_rate"].as_f64().unwrap());
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("| strategy | passed | pass rate (95% CI)"), "{md}");
    assert!(md.contains("aimos eval"), "the command that produced it: {md}");
    let converter = Command::new("rsvg-convert").arg("--version").output().is_ok();
    for plot in ["quality-cost", "smart-tokens", "latency"] {
        let svg = std::fs::read_to_string(out.join(format!("{plot}.svg"))).expect(plot);
        assert!(svg.starts_with("<svg") && svg.contains("<circle"), "{plot}");
        if converter {
            let png = std::fs::read(out.join(format!("{plot}.png"))).expect("png");
            assert!(png.starts_with(b"\x89PNG"), "{plot}.png is not a PNG");
            assert!(md.contains(&format!("({plot}.png)")), "{md}");
        } else {
            assert!(md.contains("SVG only"), "{md}");
        }
    }

    // Run again: nothing left to do, nothing added.
    let (output, _, stderr) = crate::run(&mut eval_command(&suite, &out));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming: 6 of 6 runs"), "{stderr}");
    assert_eq!(rows(&out).len(), 6);

    // A kill mid-write leaves a partial line: it is dropped and its run done again.
    let text = std::fs::read_to_string(out.join("results.jsonl")).expect("read");
    let kept: Vec<&str> = text.lines().take(4).collect();
    let cut = &text.lines().nth(4).expect("a fifth row")[..20];
    std::fs::write(out.join("results.jsonl"), format!("{}\n{cut}", kept.join("\n"))).expect("cut");
    let (output, _, stderr) = crate::run(&mut eval_command(&suite, &out));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming: 4 of 6 runs"), "{stderr}");
    let again = rows(&out);
    assert_eq!(again.len(), 6);
    let pairs = |rows: &[Value]| -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r["task"].as_str().unwrap().into(), r["strategy"].as_str().unwrap().into()))
            .collect();
        p.sort();
        p
    };
    assert_eq!(pairs(&again), pairs(&first));

    // A suite that is not there says what to name.
    let stderr = failure(&mut eval_command(&dir.path().join("nope.jsonl"), &out));
    assert!(stderr.contains("humaneval"), "{stderr}");
}

/// A bug-fix task end to end with the real model, from a folder that is not the suite's: each
/// run works on its own copy in edit mode, is checked by the task's tests there, and is graded
/// by its patch; then the results are re-priced at a price sheet.
#[test]
fn a_bug_fix_task_runs_in_edit_mode_on_its_own_copy_and_is_repriced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let package = dir.path().join("suite/packages/calc");
    std::fs::create_dir_all(&package).expect("mkdir");
    let clean = "def add(a, b):\n    return a + b\n";
    std::fs::write(package.join("calc.py"), clean).expect("write");
    std::fs::write(
        package.join("test_calc.py"),
        "import unittest\nfrom calc import add\n\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
    )
    .expect("write");
    let bug = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return a - b\n";
    let line = serde_json::json!({
        "id": "calc-1",
        "problem": "test_add fails: add(2, 3) returns -1, expected 5",
        "context_dir": "packages/calc",
        "setup_patch": bug,
        "grader": {"type": "patch", "tests": "python3 -m unittest -q test_calc", "full_tests": "python3 -m unittest -q"}
    });
    std::fs::write(dir.path().join("suite/bugs.jsonl"), format!("{line}\n")).expect("write");
    test_model_file();
    // Relative paths, from the temporary folder: the copies must still be found.
    let stdout = success(
        aimos()
            .current_dir(dir.path())
            .args(["eval", "--smart", TEST_MODEL, "--cheap", TEST_MODEL, "--ctx", "2048"])
            .args(["--max-tokens", "48", "--strategies", "cheap", "--attempts", "1"])
            .args(["--suite", "suite/bugs.jsonl", "--out", "out"]),
    );
    assert!(stdout.contains("cheap"), "{stdout}");
    let out = dir.path().join("out");
    let row = &rows(&out)[0];
    assert!(row["error"].is_null(), "{row}");
    assert!(row["counterfactual_tokens"]["prompt"].as_u64().unwrap() > 0, "{row}");
    // The run was checked in its copy: the record's steps show the check before any edit.
    let runs =
        success(aimos().args(["runs", "list", "--json", "--store"]).arg(out.join("eval-cheap.db")));
    assert!(
        runs.contains("before any edit: failed command: python3 -m unittest -q test_calc"),
        "{runs}"
    );
    // The user's folder keeps its clean file: the bug lives only in the copies.
    assert_eq!(std::fs::read_to_string(package.join("calc.py")).expect("read"), clean);
    assert!(!out.join(".scratch").exists(), "scratch copies are removed");

    // Re-priced at a sheet: nothing runs again, the dollars follow the tokens.
    std::fs::write(
        dir.path().join("hosted.toml"),
        "[smart]\ninput_per_mtok = 3.0\noutput_per_mtok = 15.0\n[cheap]\ninput_per_mtok = 0.15\noutput_per_mtok = 0.6\n",
    )
    .expect("write");
    success(aimos().current_dir(dir.path()).args([
        "eval",
        "--out",
        "out",
        "--prices",
        "hosted.toml",
    ]));
    let priced: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report-hosted.json")).expect("re-priced report"),
    )
    .expect("json");
    let cost = priced["strategies"][0]["cost_usd"].as_f64().unwrap();
    // One model in both roles: its tokens are priced as the smart model's.
    let tokens = &row["tokens"][format!("local:{TEST_MODEL}")];
    let expected = (tokens["prompt"].as_f64().unwrap() * 3.0
        + tokens["completion"].as_f64().unwrap() * 15.0)
        / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} against {expected}");
    let stderr = failure(aimos().current_dir(dir.path()).args([
        "eval",
        "--out",
        "out",
        "--prices",
        "nowhere.toml",
    ]));
    assert!(stderr.contains("reading the price sheet nowhere.toml"), "{stderr}");
}
