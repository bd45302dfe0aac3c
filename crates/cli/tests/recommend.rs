//! `purser recommend rightsize --samples FILE` as a user runs it: a CSV of a day of samples
//! gives the VPA's requests per container, and a bad line is refused with its number.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .output()
        .expect("running purser")
}

#[test]
fn a_day_of_samples_gives_requests_per_container() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samples.csv");
    let mut csv = String::from("timestamp,container,cpu_millicores,memory_bytes,oom\n");
    for minute in 0..1_440u64 {
        let t = 1_764_547_200_000 + minute * 60_000;
        csv.push_str(&format!(
            "{t},agent,{},{},\n",
            300 + minute % 7 * 10,
            1u64 << 30
        ));
        csv.push_str(&format!("{t},sidecar,20,,\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let output = run(&[
        "recommend",
        "rightsize",
        "--samples",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["samples_accepted"], 2_880, "{answer}");
    let containers = answer["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{answer}");
    let agent = &containers[0];
    assert_eq!(agent["container"], "agent");
    let cpu = agent["target"]["cpu_millicores"].as_i64().unwrap();
    // The 90th percentile of 300..360 plus a 15 % margin, in the histogram's 5 % buckets.
    assert!((360..=460).contains(&cpu), "{answer}");
    assert!(
        agent["target"]["memory_bytes"].as_i64().unwrap() >= 1 << 30,
        "{answer}"
    );
    // The sidecar's 20 m is below the floor the recommender keeps (a share of 25 m per pod).
    assert!(
        containers[1]["target"]["cpu_millicores"].as_i64().unwrap() >= 12,
        "{answer}"
    );

    let table = run(&[
        "recommend",
        "rightsize",
        "--samples",
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("CONTAINER") && text.contains("agent"),
        "{text}"
    );
}

#[test]
fn a_bad_line_is_refused_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samples.csv");
    std::fs::write(
        &file,
        "timestamp,container,cpu_millicores\n2026-12-01T00:00:00Z,agent,250\n2026-12-01T00:01:00Z,agent,lots\n",
    )
    .unwrap();
    let output = run(&[
        "recommend",
        "rightsize",
        "--samples",
        file.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("samples.csv:3") && err.contains("not a number"),
        "{err}"
    );
    std::fs::write(&file, "when,who\n1,agent\n").unwrap();
    let output = run(&[
        "recommend",
        "rightsize",
        "--samples",
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("timestamp"), "{err}");
}
