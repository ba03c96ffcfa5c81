//! `aimos mcp` as an agent runs it: the official MCP Python SDK spawns the real binary over
//! stdio, with the real embedded model in both roles and a real SQLite store.

use std::process::Command;

use crate::{TEST_MODEL, aimos, success, test_model_file};

#[test]
fn the_mcp_python_sdk_consults_and_records_an_outcome_over_stdio() {
    test_model_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(
        root.join("cart.py"),
        "def total(items):\n    s = 0\n    for i in range(len(items) - 1):\n        s += items[i]\n    return s\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("outside.txt"), "secret").expect("write");
    let store = dir.path().join("aimos.db");
    let stdout = crate::sdk_script(
        "mcp_sdk.py",
        &[
            ("AIMOS_BIN", std::ffi::OsStr::new(env!("CARGO_BIN_EXE_aimos"))),
            ("AIMOS_ROOT", root.as_os_str()),
            ("AIMOS_STORE", store.as_os_str()),
            ("AIMOS_MODEL", std::ffi::OsStr::new(TEST_MODEL)),
        ],
        &[
            "initialize",
            "list",
            "schema",
            "consult",
            "consult fields",
            "distill",
            "record_outcome",
            "search_insights",
            "outside the root",
            "wrong type",
            "unknown tool",
        ],
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("insight "))
        .expect("the script names the insight");
    // The store the server wrote, read back by the CLI: the insight, its outcome, and the
    // advice run in the ledger.
    let shown =
        success(aimos().args(["insights", "show", id, "--json"]).arg("--store").arg(&store));
    let insight: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(insight["succeeded"], 1, "{insight}");
    let runs = success(aimos().args(["runs", "list", "--json"]).arg("--store").arg(&store));
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("json");
    let advice = runs
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["insight_id"] == id)
        .unwrap_or_else(|| panic!("no run for the insight: {runs}"));
    assert_eq!(advice["reason"], "advice only: the caller executes");
    assert_eq!(advice["status"], "succeeded");
}

#[test]
fn the_mcp_python_sdk_consults_over_streamable_http_at_the_gateway_behind_its_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("aimos.db");
    let key = crate::gateway::key(&store, "agent", "10");
    let gateway = crate::gateway::start(&store);
    let url = format!("{}/mcp", gateway.base_url.trim_end_matches("/v1"));
    let stdout = crate::sdk_script(
        "mcp_sdk.py",
        &[("AIMOS_MCP_URL", std::ffi::OsStr::new(&url)), ("AIMOS_KEY", std::ffi::OsStr::new(&key))],
        &[
            "no key",
            "initialize",
            "list",
            "consult",
            "distill",
            "record_outcome",
            "search_insights",
            "no files over http",
            "no commands over http",
            "wrong type",
            "unknown tool",
        ],
    );
    drop(gateway);
    let id = stdout.lines().find_map(|l| l.strip_prefix("insight ")).expect("an insight");
    let shown =
        success(aimos().args(["insights", "show", id, "--json"]).arg("--store").arg(&store));
    let insight: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(insight["succeeded"], 1, "{insight}");
    // The consultation was charged to the key that made it.
    let keys = success(aimos().args(["keys", "list", "--json"]).arg("--store").arg(&store));
    let keys: serde_json::Value = serde_json::from_str(&keys).expect("json");
    let spent = keys.as_array().expect("keys")[0]["spent_usd"].as_f64().expect("spent");
    assert!(spent > 0.0, "{keys}");
}

/// The MCP Inspector's command line, which `scripts/test-env.sh` installs.
fn inspector() -> std::path::PathBuf {
    let dir =
        std::env::var_os("AIMOS_TEST_NPM").map(std::path::PathBuf::from).unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/aimos/test-npm")
        });
    let bin = dir.join("node_modules/.bin/mcp-inspector");
    assert!(bin.exists(), "no MCP Inspector at {}: run scripts/test-env.sh", bin.display());
    bin
}

#[test]
fn the_mcp_inspector_lists_and_calls_the_tools() {
    test_model_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(root.join("cart.py"), "def total(items):\n    return sum(items[:-1])\n")
        .expect("write");
    let store = dir.path().join("aimos.db");
    let inspect = |method: &[&str]| -> serde_json::Value {
        let output = Command::new(inspector())
            .arg("--cli")
            .arg(env!("CARGO_BIN_EXE_aimos"))
            .args(["mcp", "--smart", TEST_MODEL, "--cheap", TEST_MODEL, "--root"])
            .arg(&root)
            .arg("--store")
            .arg(&store)
            .args(method)
            .output()
            .expect("the inspector runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
    };
    let listed = inspect(&["--method", "tools/list"]);
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["consult", "distill", "fix", "search_insights", "record_outcome"]);
    let brief = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "distill",
        "--tool-arg",
        "problem=total([1, 2, 3]) returns 3",
        "--tool-arg",
        r#"paths=["cart.py"]"#,
    ]);
    assert_eq!(brief["isError"], false, "{brief}");
    assert!(
        brief["structuredContent"]["brief"].as_str().unwrap_or("").contains("items[:-1]"),
        "{brief}"
    );
    let refused = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "consult",
        "--tool-arg",
        "problem=x",
        "--tool-arg",
        r#"paths=["../../etc/passwd"]"#,
    ]);
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(refused.to_string().contains("outside the folders"), "{refused}");
}
