//! `purser serve --config` with a bad pool definition refuses to start, naming the pool and the
//! field, before it touches its data directory.

use std::process::Command;

fn serve_with(config: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purser.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap()
}

#[test]
fn bad_pool_definitions_are_refused_with_the_field_named() {
    for (config, expected) in [
        (
            "[[pool]]\nname = \"rev\"\nkind = \"people\"\npeople = 2\nhours = \"09:00-17:00\"\ntimezone = \"Mars/Olympus\"\n",
            "pool[0]: pool rev is invalid: timezone",
        ),
        (
            "[[pool]]\nname = \"llm\"\nkind = \"api\"\nmachines = 2\n",
            "pool[0]: pool llm is invalid: requests_per_minute",
        ),
        (
            "[[pool]]\nname = \"cad\"\nmachines = 1\ncores = 8\ncapacity = { cores = 2 }\n",
            "capacity.cores",
        ),
        (
            "[[pool]]\nname = \"rev\"\nkind = \"people\"\npeople = 1\nhours = \"17:00-09:00\"\ntimezone = \"UTC\"\n",
            "hours",
        ),
    ] {
        let output = serve_with(config);
        assert!(!output.status.success(), "{config} started");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(expected), "{said} lacks {expected}");
    }
}
