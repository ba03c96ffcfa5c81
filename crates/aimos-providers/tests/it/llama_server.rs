//! llama.cpp's OpenAI-compatible server (the Python package `llama-cpp-python[server]`) serving
//! the real smollm2-135m on 127.0.0.1, started for a test and killed after it.
//!
//! The package lives in the test environment that `scripts/test-env.sh` prepares
//! (`$AIMOS_TEST_VENV`, default `~/.cache/aimos/test-venv`); without it these tests fail and
//! say how to prepare it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aimos_local::{LoadOptions, NoProgress};

pub struct LlamaServer {
    pub base_url: String,
    child: Child,
    log: PathBuf,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn python() -> PathBuf {
    let venv = std::env::var_os("AIMOS_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/aimos/test-venv")
    });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no test environment at {}: run scripts/test-env.sh (it installs llama-cpp-python[server])",
        venv.display()
    );
    python
}

/// Starts the server with a context window of `n_ctx` tokens and waits until it answers.
pub async fn start(n_ctx: u32) -> LlamaServer {
    let model = aimos_local::ModelRef::parse(crate::TEST_MODEL).expect("catalog name");
    let path = aimos_local::ensure_file(&model, &LoadOptions::default(), &mut NoProgress)
        .unwrap_or_else(|err| panic!("cannot get {}: {err}", crate::TEST_MODEL));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = std::env::temp_dir().join(format!("aimos-llama-server-{port}.log"));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(python())
        .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--model")
        .arg(&path)
        .args(["--model_alias", "smollm2", "--n_ctx", &n_ctx.to_string(), "--n_threads", "2"])
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start llama_cpp.server");
    let mut server = LlamaServer { base_url: format!("http://127.0.0.1:{port}/v1"), child, log };
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().expect("server status") {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            panic!("llama_cpp.server exited with {status}:\n{log}");
        }
        // Ready when it lists its model (a bare TCP connect can succeed too early).
        let mut providers = aimos_providers::Providers::from_env();
        let config =
            aimos_providers::ProviderConfig::new(aimos_providers::Api::OpenAi, &server.base_url);
        providers.configure("probe", config);
        let listed = providers.list_models("probe").await;
        if listed.is_ok() {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "llama_cpp.server did not listen within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
