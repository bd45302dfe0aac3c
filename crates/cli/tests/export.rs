//! `purser export` and `purser import` with the real binary: a server's state goes from the
//! embedded store to PostgreSQL and back, and the state recovered from each copy equals the
//! original's; an export of a running server imports; a damaged or truncated file, or a target
//! that is not empty, is refused with nothing written.
//!
//! Needs the machine's PostgreSQL (`PURSER_TEST_POSTGRES`, `off` to skip).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use purser_engine::state::EngineState;
use purser_store::{Durability, Epoch, Journal, PostgresJournal, SqliteJournal, TempDatabase};
use serde_json::json;

fn purser(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .output()
        .expect("the purser binary runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "unexpectedly succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The state recovered from `journal`, as a snapshot would hold it.
fn recovered(journal: Box<dyn Journal>) -> EngineState {
    let config = purser_server::engine_config(&purser_server::Config::default()).unwrap();
    purser_engine::open_state(journal, &config).unwrap().0
}

fn sqlite_state(data_dir: &Path) -> EngineState {
    let (journal, _) =
        SqliteJournal::open(data_dir.join("journal.sqlite"), Durability::Os).unwrap();
    recovered(Box::new(journal))
}

fn postgres_state(url: &str) -> EngineState {
    let (journal, _) = PostgresJournal::open(url, "main", Epoch::default()).unwrap();
    recovered(Box::new(journal))
}

/// Runs a server on `data_dir` that snapshots every 40 events, makes accounts, usage and holds,
/// and answers it (still running) with its base URL.
fn busy_server(data_dir: &Path, config: &Path) -> (std::process::Child, String) {
    std::fs::write(config, "snapshot_every_events = 40\n").unwrap();
    let (child, url) = common::serve(data_dir, &["--config".as_ref(), config.as_os_str()]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let send = |method: &str, path: &str, body: serde_json::Value| {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{url}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .unwrap();
        let status = agent.run(request).unwrap().status().as_u16();
        assert!((200..300).contains(&status), "{method} {path}: {status}");
    };
    send(
        "PUT",
        "/v1/accounts/acme",
        json!({"limits": {"tokens": 10_000_000}}),
    );
    for agent_idx in 0..5 {
        send(
            "PUT",
            &format!("/v1/accounts/acme/agent-{agent_idx}"),
            json!({"limits": {"tokens": 1_000_000}}),
        );
    }
    for n in 0..150u64 {
        let account = format!("acme/agent-{}", n % 5);
        if n % 7 == 0 {
            send(
                "POST",
                "/v1/reservations",
                json!({"account": account, "amount": {"tokens": 10}, "ttl_ms": 3_600_000,
                    "idempotency_key": format!("h{n}")}),
            );
        } else {
            send(
                "POST",
                "/v1/usage",
                json!({"account": account, "usage": {"tokens": 1 + n}, "idempotency_key": format!("u{n}")}),
            );
        }
    }
    (child, url)
}

#[test]
fn export_import_round_trips_between_sqlite_and_postgres() {
    let Some(database) = TempDatabase::create().expect("the machine's PostgreSQL") else {
        eprintln!("skipped: {}=off", purser_store::TEST_SERVER_ENV);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, _) = busy_server(&data, &dir.path().join("purser.toml"));
    let path = |name: &str| dir.path().join(name).display().to_string();
    let data_arg = data.display().to_string();

    // A running server exports; the copy imports into an empty directory.
    ok(&purser(&[
        "export",
        "--out",
        &path("running.export"),
        "--data-dir",
        &data_arg,
    ]));
    ok(&purser(&[
        "import",
        &path("running.export"),
        "--data-dir",
        &path("from-running"),
    ]));
    server.kill().unwrap();
    server.wait().unwrap();

    // Stopped: SQLite to PostgreSQL and back, equal at every step.
    let original = sqlite_state(&data);
    assert!(original.ledger().last_seq() > 150);
    let said = ok(&purser(&[
        "export",
        "--out",
        &path("a.export"),
        "--data-dir",
        &data_arg,
    ]));
    assert!(said.contains("snapshot at event"), "{said}");
    ok(&purser(&[
        "import",
        &path("a.export"),
        "--store",
        database.url(),
    ]));
    let on_postgres = postgres_state(database.url());
    assert_eq!(on_postgres.to_snapshot(), original.to_snapshot());
    assert_eq!(
        on_postgres.ledger().last_seq(),
        original.ledger().last_seq()
    );
    ok(&purser(&[
        "export",
        "--out",
        &path("b.export"),
        "--store",
        database.url(),
    ]));
    ok(&purser(&[
        "import",
        &path("b.export"),
        "--data-dir",
        &path("back"),
    ]));
    let back = sqlite_state(&dir.path().join("back"));
    assert_eq!(back.to_snapshot(), original.to_snapshot());

    // Into a store that holds anything: refused.
    let error = refused(&purser(&[
        "import",
        &path("a.export"),
        "--store",
        database.url(),
    ]));
    assert!(error.contains("not empty"), "{error}");
    let error = refused(&purser(&[
        "import",
        &path("a.export"),
        "--data-dir",
        &path("back"),
    ]));
    assert!(error.contains("exists"), "{error}");
    // An existing --out is not overwritten.
    let error = refused(&purser(&[
        "export",
        "--out",
        &path("a.export"),
        "--data-dir",
        &data_arg,
    ]));
    assert!(error.contains("exists"), "{error}");

    // Damaged or truncated: refused, and the target is not even created.
    let bytes = std::fs::read(path("a.export")).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    std::fs::write(path("flipped.export"), &flipped).unwrap();
    std::fs::write(path("short.export"), &bytes[..bytes.len() - 9]).unwrap();
    std::fs::write(path("other.export"), b"not an export at all").unwrap();
    for (file, expected) in [
        ("flipped.export", "crc"),
        ("short.export", "truncated"),
        ("other.export", "not a Purser export"),
    ] {
        let target = path(&format!("never-{file}"));
        let error = refused(&purser(&["import", &path(file), "--data-dir", &target]));
        assert!(error.contains(expected), "{file}: {error}");
        assert!(error.contains("nothing was written"), "{file}: {error}");
        assert!(!Path::new(&target).exists(), "{file} created its target");
    }
}
