//! The demo's Python agent: `examples/python/demo_agent.py` on the `purser_client` package of
//! `clients/python`, started when an interpreter that can import the client is found, its
//! lines shown next to the Rust agents'.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::Shared;

/// The agent's script, built into the binary so the demo runs from anywhere.
const SCRIPT: &str = include_str!("../../../../examples/python/demo_agent.py");

/// The agent's account name under the workflow, and its line prefix.
pub(super) const NAME: &str = "docs";

/// The repository's client package, where the binary was built from.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python")
}

/// An interpreter that imports the client, or why there is none. `PURSER_PYTHON` first, then
/// the tests' virtual environment, then `python3` on the PATH.
pub(super) fn find() -> Result<PathBuf, String> {
    let client = client_dir();
    if !client.join("purser_client").is_dir() {
        return Err(format!(
            "the Python client is not at {} (the demo looks for it where the binary was built)",
            client.display()
        ));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv-client/bin/python");
    let candidates = std::env::var_os("PURSER_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")]);
    for python in candidates {
        let imports = Command::new(&python)
            .args(["-c", "import purser_client"])
            .env("PYTHONPATH", &client)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if imports.is_ok_and(|status| status.success()) {
            return Ok(python);
        }
    }
    Err("no python3 here imports the client's httpx and pydantic \
         (pip install -e clients/python, or set PURSER_PYTHON)"
        .into())
}

/// Starts the agent on `account` and forwards its lines; the thread ends with the agent.
pub(super) fn start(
    python: &Path,
    url: &str,
    account: &str,
    seed: u64,
    deadline: Instant,
    shared: std::sync::Arc<Shared>,
    scratch: &Path,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let script = scratch.join("demo_agent.py");
    std::fs::write(&script, SCRIPT)?;
    let seconds = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let mut child = Command::new(python)
        .arg(&script)
        .args(["--url", url, "--account", account])
        .args([
            "--seed",
            &seed.to_string(),
            "--seconds",
            &format!("{seconds:.1}"),
        ])
        .env("PYTHONPATH", client_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    Ok(std::thread::spawn(move || {
        let mut outcome = String::from("ended");
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("STOP") {
                outcome = "stopped: budget exhausted".into();
            } else if let Some(calls) = line.strip_prefix("finished: ")
                && !outcome.starts_with("stopped")
            {
                outcome = format!("finished its {calls}");
            }
            shared.say(format!("{NAME:<7} (Python) {line}"));
        }
        let errors: Vec<String> = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect();
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => shared.say(format!(
                "{NAME:<7} (Python) ended with {status}: {}",
                errors.last().map_or("", String::as_str)
            )),
            Err(err) => shared.say(format!("{NAME:<7} (Python) lost: {err}")),
        }
        shared.python_done(outcome);
    }))
}
