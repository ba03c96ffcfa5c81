//! `aimos distill`: the brief exactly as the smart model would receive it.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::{aimos, failure, success};

/// A small Python project with a bug three calls deep, and a secret in its settings.
fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::create_dir_all(dir.join("build")).unwrap();
    std::fs::write(dir.join("shop/__init__.py"), "").unwrap();
    let filler: String = (0..40)
        .map(|i| format!("def format_line_{i}(item):\n    return f\"{{item}} #{i}\"\n\n"))
        .collect();
    std::fs::write(dir.join("shop/report.py"), filler).unwrap();
    std::fs::write(
        dir.join("shop/cart.py"),
        "class Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, name, price):\n        self.items.append((name, price))\n\n    def total(self):\n        return sum(price for _, price in self.items) / len(self.items) * 0\n\n    def average(self):\n        return sum(price for _, price in self.items) / len(self.items)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shop/settings.py"),
        "STRIPE_KEY = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"\nCURRENCY = \"EUR\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.py"),
        "from shop.cart import Cart\n\n\ndef main():\n    cart = Cart()\n    print(cart.average())\n\n\nmain()\n",
    )
    .unwrap();
    // Build output is never context.
    std::fs::write(dir.join("build/cart.py"), "def average(): pass\n").unwrap();
}

/// The traceback of really running the project.
fn traceback(dir: &Path) -> String {
    let output = std::process::Command::new("python3")
        .arg("main.py")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
    stderr
}

#[test]
fn a_real_traceback_brings_the_failing_method_first_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    project(&root);
    let problem = traceback(&root);
    let home = crate::empty_home();
    let out = success(
        aimos()
            .args([
                "distill",
                "--json",
                "--budget",
                "400",
                "--smart",
                "openai:gpt-4.1",
                "--context",
            ])
            .arg(&root)
            .arg(&problem)
            .env("AIMOS_HOME", home.path()),
    );
    let brief: Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
    for field in ["problem", "summary", "evidence", "tokens", "redactions", "brief"] {
        assert!(brief.get(field).is_some(), "no {field} in {brief}");
    }
    assert!(brief["tokens"].as_u64().unwrap() <= 400, "{brief}");
    let first = &brief["evidence"][0];
    assert_eq!(first["path"], "shop/cart.py", "{brief}");
    // The frame's line (12) is inside the first excerpt, with 1-based inclusive lines.
    let (start, end) = (first["start_line"].as_u64().unwrap(), first["end_line"].as_u64().unwrap());
    assert!(start <= 12 && 12 <= end, "{first}");
    assert!(first["text"].as_str().unwrap().contains("def average"), "{first}");
    let paths: Vec<&str> =
        brief["evidence"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(!paths.iter().any(|p| p.starts_with("build/")), "{paths:?}");
    assert!(brief["summary"].as_str().unwrap().contains("shop/cart.py: Cart"), "{brief}");
    // The text printed is the brief as sent.
    let text = success(
        aimos()
            .args(["distill", "--budget", "400", "--smart", "openai:gpt-4.1", "--context"])
            .arg(&root)
            .arg(&problem)
            .env("AIMOS_HOME", home.path()),
    );
    assert_eq!(text, brief["brief"].as_str().unwrap());
}

#[test]
fn secrets_are_redacted_for_a_remote_model_and_kept_for_an_embedded_one_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    project(&root);
    let home = crate::empty_home();
    let problem = "Payments fail: which STRIPE_KEY does the shop use, and in which CURRENCY?";
    let distill = |smart: &str, redact: &str| -> Value {
        let out = success(
            aimos()
                .args(["distill", "--json", "--smart", smart, "--redact", redact, "--context"])
                .arg(&root)
                .arg(problem)
                .env("AIMOS_HOME", home.path()),
        );
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
    };
    let remote = distill("anthropic:claude-sonnet-4-5", "external");
    let sent = remote["brief"].as_str().unwrap();
    assert!(!sent.contains("sk_live_4eC39HqLyjWDarjtT1zdp7dc"), "{sent}");
    assert!(sent.contains("[REDACTED:stripe_key]"), "{sent}");
    assert!(remote["redactions"].as_u64().unwrap() >= 1, "{remote}");

    // An embedded smart model (not pulled here: counted with tiktoken) gets the text as it is…
    let local = distill("smollm2-135m", "external");
    assert!(local["brief"].as_str().unwrap().contains("sk_live_4eC39HqLyjWDarjtT1zdp7dc"));
    assert_eq!(local["redactions"], 0);
    // …unless redaction is asked for everywhere.
    let all = distill("smollm2-135m", "all");
    assert!(!all["brief"].as_str().unwrap().contains("sk_live_4eC39HqLyjWDarjtT1zdp7dc"));
}

#[test]
fn bad_input_is_refused_clearly() {
    let home = crate::empty_home();
    let stderr = failure(
        aimos()
            .args(["distill", "why", "--context", "/no/such/place"])
            .env("AIMOS_HOME", home.path()),
    );
    assert!(stderr.contains("/no/such/place"), "{stderr}");
    let stderr = failure(aimos().args(["distill", "why", "--budget", "5"]));
    assert!(stderr.contains("--budget"), "{stderr}");
    let stderr = failure(aimos().args(["distill", "-", "--context", "-"]));
    assert!(stderr.contains("stdin"), "{stderr}");
}

#[test]
fn a_second_brief_over_the_same_tree_comes_from_the_cache_and_sees_edits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    project(&root);
    let home = crate::empty_home();
    let distill = || -> (Value, String) {
        let output = aimos()
            .args(["distill", "--json", "--smart", "openai:x", "--context"])
            .arg(&root)
            .arg("Where is the average price of the cart computed?")
            .env("AIMOS_HOME", home.path())
            .output()
            .unwrap();
        assert!(output.status.success());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (
            serde_json::from_str(&stdout).unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (cold, _) = distill();
    assert!(home.path().join("context-cache").read_dir().unwrap().count() == 1);
    let (warm, _) = distill();
    assert_eq!(cold["brief"], warm["brief"]);
    // An edit is seen: the cache entry of a changed file is not used.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        root.join("shop/cart.py"),
        "class Cart:\n    def mean_price(self):\n        \"\"\"The average price.\"\"\"\n        return 0\n",
    )
    .unwrap();
    let (edited, _) = distill();
    assert!(edited["brief"].as_str().unwrap().contains("mean_price"), "{edited}");
}

#[test]
fn an_embedding_model_re_ranks_a_plain_report_and_leaves_a_traceback_to_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    project(&root);
    let model = crate::embedding_model();
    let distill = |problem: &str, embedding: &str| {
        let (output, stdout, stderr) = crate::run(
            aimos()
                .args(["distill", "--json", "--budget", "400", "--smart", "openai:gpt-4.1"])
                .args(["--embedding", embedding, "--context"])
                .arg(&root)
                .arg(problem),
        );
        assert!(output.status.success(), "{stderr}");
        let brief: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        brief
    };
    let report = "The basket's mean price comes out as a division error when nothing was bought.";
    let brief = distill(report, model);
    assert_eq!(brief["embedding"], "local:minilm-l6", "{brief}");
    let paths: Vec<&str> =
        brief["evidence"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(paths.contains(&"shop/cart.py"), "{paths:?}");
    let (_, _, stderr) = crate::run(
        aimos()
            .args(["distill", "--budget", "400", "--smart", "openai:gpt-4.1"])
            .args(["--embedding", model, "--context"])
            .arg(&root)
            .arg(report),
    );
    assert!(stderr.contains("re-ranked by meaning with local:minilm-l6"), "{stderr}");
    let (_, _, stderr) = crate::run(
        aimos()
            .args(["distill", "--budget", "400", "--smart", "openai:gpt-4.1"])
            .args(["--embedding", model, "--context"])
            .arg(&root)
            .arg(traceback(&root)),
    );
    assert!(!stderr.contains("re-ranked"), "a traceback keeps its frames' order: {stderr}");
    // Off is off; a model that is not there says how to get it, or how to go without.
    assert_eq!(distill(report, "off")["embedding"], Value::Null);
    let stderr = failure(
        aimos()
            .args(["distill", "--embedding", "no-such-model", "--context"])
            .arg(&root)
            .arg(report),
    );
    assert!(
        stderr.contains("unknown model `no-such-model`") && stderr.contains("--embedding off"),
        "{stderr}"
    );
}

#[test]
fn many_skipped_files_are_summed_up_and_listed_whole_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    project(&root);
    for i in 0..7 {
        std::fs::write(root.join(format!("icon{i}.png")), [0x89, b'P', b'N', b'G', 0, 0, 0, 13])
            .unwrap();
    }
    std::fs::write(root.join("latin1.txt"), [b'c', b'a', b'f', 0xe9, b'\n']).unwrap();
    let home = crate::empty_home();
    let distill = |json: bool| {
        let mut command = aimos();
        command
            .args(["distill", "--smart", "openai:x", "--embedding", "off", "--context"])
            .arg(&root)
            .arg("Where is the average price of the cart computed?")
            .env("AIMOS_HOME", home.path());
        if json {
            command.arg("--json");
        }
        crate::run(&mut command)
    };
    let (output, _, stderr) = distill(false);
    assert!(output.status.success(), "{stderr}");
    let named = stderr
        .lines()
        .filter(|l| l.starts_with("note: skipped ") && !l.contains(" more files: "))
        .count();
    assert_eq!(named, 5, "{stderr}");
    assert!(
        stderr.contains("note: skipped 3 more files: ")
            && stderr.contains("(--json lists every one)"),
        "{stderr}"
    );
    let (output, stdout, stderr) = distill(true);
    assert!(output.status.success(), "{stderr}");
    let brief: Value = serde_json::from_str(&stdout).unwrap();
    let skipped = brief["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 8, "{skipped:?}");
    assert_eq!(skipped.iter().filter(|s| s["reason"] == "binary").count(), 7);
    assert!(skipped.iter().any(|s| s["reason"] == "not UTF-8 text"), "{skipped:?}");
}
