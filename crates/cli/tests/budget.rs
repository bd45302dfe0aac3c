//! `purser budget` against a real server: an agent's run capped and restarted, a manual reset,
//! and a request for more asked, listed, approved and rejected, with the exit codes a script
//! switches on (0 done, 3 a conflict such as a request already decided).

mod common;

use std::process::{Child, Command, Output};

use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(data_dir: &std::path::Path) -> Server {
        let (child, url) = common::serve(data_dir, &[]);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server { child, url, agent }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        common::call(
            &self.agent,
            method,
            &format!("{}{path}", self.url),
            Some(&body),
        )
        .unwrap()
    }

    fn budget(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_purser"))
            .arg("budget")
            .args(args)
            .args(["--server", &self.url])
            .output()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn budget_commands_reset_restart_and_decide_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, _) = server.call(
        "PUT",
        "/v1/accounts/acme",
        json!({"limits": {"tokens": 10_000}}),
    );
    assert_eq!(status, 200);
    let (status, body) = server.call(
        "PUT",
        "/v1/accounts/acme/agent",
        json!({"limits": {"tokens": 1_000}, "rules": {"run": {"max_turns": 2}}}),
    );
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        let (status, _) = server.call(
            "POST",
            "/v1/usage",
            json!({"account": "acme/agent", "usage": {"tokens": 100}}),
        );
        assert_eq!(status, 200);
    }
    let (_, agent) = server.call("GET", "/v1/accounts/acme/agent", json!(null));
    assert_eq!(agent["action"]["kind"], "stop", "{agent}");

    let run = server.budget(&["run", "acme/agent"]);
    assert!(run.status.success(), "{run:?}");
    assert!(stdout(&run).contains("continue"), "{}", stdout(&run));
    let reset = server.budget(&["reset", "acme/agent", "--json"]);
    assert!(reset.status.success(), "{reset:?}");
    let reset: Value = serde_json::from_slice(&reset.stdout).unwrap();
    assert_eq!(reset["remaining"]["tokens"], 1_000, "{reset}");

    let asked = server.budget(&[
        "request",
        "acme/agent",
        "tokens=2_000",
        "--reason",
        "a second review pass",
        "--json",
    ]);
    assert!(asked.status.success(), "{asked:?}");
    let asked: Value = serde_json::from_slice(&asked.stdout).unwrap();
    let id = asked["id"].as_str().unwrap().to_string();
    let listed = server.budget(&["requests"]);
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));
    assert!(stdout(&listed).contains("a second review pass"));
    let approved = server.budget(&["approve", &id, "--note", "go"]);
    assert!(approved.status.success(), "{approved:?}");
    assert!(stdout(&approved).contains("approved"));
    let (_, agent) = server.call("GET", "/v1/accounts/acme/agent", json!(null));
    assert_eq!(agent["limits"]["tokens"], 3_000, "{agent}");
    // Deciding twice is a conflict: exit code 3, with the server's code on stderr.
    let again = server.budget(&["reject", &id]);
    assert_eq!(again.status.code(), Some(3), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("request_decided"));
    let none = server.budget(&["requests"]);
    assert_eq!(stdout(&none), "no increase requests\n");
    let all = server.budget(&["requests", "--all"]);
    assert!(stdout(&all).contains("approved"), "{}", stdout(&all));
}
