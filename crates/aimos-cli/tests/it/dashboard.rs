//! The dashboard as a user opens it: a store filled by real runs of the test model, `aimos ui`
//! serving it, and headless Chromium (Debian's `chromium`) driven by Playwright for Python
//! logging in, reading every page, checking the figures against `aimos stats --json`, and
//! recording feedback by clicking.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::{PROBLEM, project, run_command};
use crate::{aimos, sdk_script, success};

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `aimos ui` on a free port; returns it with the dashboard's URL.
fn start_ui(store: &Path, eval: &Path) -> (Served, String) {
    let mut child = aimos()
        .args(["ui", "--bind", "127.0.0.1:0", "--eval"])
        .arg(eval)
        .arg("--store")
        .arg(store)
        .stderr(Stdio::piped())
        .spawn()
        .expect("aimos ui starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let url = loop {
        let line = lines.next().expect("aimos ui exited early").expect("stderr line");
        if let Some(rest) = line.strip_prefix("aimos dashboard on ") {
            break rest.split(';').next().expect("address").trim().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "aimos ui did not start");
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (Served(child), url)
}

#[test]
fn the_dashboard_shows_real_runs_in_a_real_browser() {
    let chromium = std::env::var("AIMOS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: apt-get install chromium (or set AIMOS_CHROMIUM)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let context = dir.path().join("project");
    project(&context);
    let store = dir.path().join("aimos.db");

    // Real runs of the test model: the cheap model checked by a command, a consultation with
    // a shadow check, and a consultation on a report holding markup.
    success(
        run_command(&store, &context)
            .args(["--strategy", "cheap", "--verify", "grep -q ."])
            .arg(PROBLEM),
    );
    success(
        run_command(&store, &context)
            .args([
                "--strategy",
                "consult",
                "--verify",
                "grep -q .",
                "--reuse-check",
                "never",
                "--shadow",
            ])
            .arg(PROBLEM),
    );
    success(
        run_command(&store, &context)
            .args(["--strategy", "consult", "--reuse-check", "never"])
            .arg("peek() shows <script>alert(1)</script> then panics: index out of bounds."),
    );
    success(aimos().arg("calibrate").arg("--store").arg(&store));
    let admin = success(
        aimos().args(["keys", "create", "--name", "admin", "--admin"]).arg("--store").arg(&store),
    );
    success(
        aimos()
            .args(["keys", "create", "--name", "app", "--budget-usd", "1"])
            .arg("--store")
            .arg(&store),
    );
    let stats = success(aimos().args(["stats", "--json"]).arg("--store").arg(&store));
    let stats_file = dir.path().join("stats.json");
    std::fs::write(&stats_file, &stats).expect("write");

    let eval = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval-results/bugfix-heldout");
    let (_served, url) = start_ui(&store, &eval);
    // Screenshots go to AIMOS_UI_SCREENSHOTS when set (docs/ keeps the README's), else here.
    let shots = std::env::var_os("AIMOS_UI_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("shots"));
    std::fs::create_dir_all(&shots).expect("mkdir");
    let out = sdk_script(
        "dashboard_browser.py",
        &[
            ("AIMOS_UI", url.as_ref()),
            ("AIMOS_ADMIN_KEY", admin.trim().as_ref()),
            ("AIMOS_STATS", stats_file.as_os_str()),
            ("AIMOS_SHOTS", shots.as_os_str()),
            ("AIMOS_CHROMIUM", chromium.as_ref()),
        ],
        &[
            "logged in",
            "runs figure",
            "cost figure",
            "counterfactual figure",
            "savings figure",
            "quality retained figure",
            "reuse figure",
            "navigation by keyboard",
            "filter by strategy",
            "model text escaped",
            "failed count",
            "outcome listed",
            "reliability diagram",
            "eval plot loads",
            "unknown run is a 404 page",
            "phone width /runs",
            "no console errors or dialogs",
        ],
    );

    // The click reached the store.
    let id = out.lines().find_map(|l| l.strip_prefix("feedback ")).expect("the insight clicked");
    let shown =
        success(aimos().args(["insights", "show", id, "--json"]).arg("--store").arg(&store));
    let insight: Value = serde_json::from_str(&shown).expect("json");
    assert!(insight["failed"].as_u64() >= Some(1), "{insight}");
    for shot in ["dashboard-overview.png", "dashboard-run.png", "dashboard-phone.png"] {
        assert!(shots.join(shot).metadata().map(|m| m.len() > 10_000).unwrap_or(false), "{shot}");
    }
}
