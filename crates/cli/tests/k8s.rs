//! `purser k8s render` as a user runs it: the configured profiles' manifests, one file per
//! object, or one stream on standard output; bad options named.

use std::process::Command;

fn purser(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .output()
        .expect("running purser")
}

#[test]
fn the_configured_profiles_render_one_file_per_object() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purser.toml");
    std::fs::write(
        &config,
        "[[profile]]\nname = \"reviewer\"\nrole = \"quality\"\nreplicas_max = 4\nstorage = \"0\"\n\n[metrics]\nprefix = \"acme_\"\n",
    )
    .unwrap();
    let out = dir.path().join("k8s");
    let output = purser(&[
        "k8s",
        "render",
        "--config",
        config.to_str().unwrap(),
        "--namespace",
        "review-bots",
        "--vpa-mode",
        "auto",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    // No storage: a Deployment, and no headless Service for it.
    assert!(
        files.contains(&"21-deployment-reviewer.yaml".to_string()),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.contains("statefulset-reviewer")),
        "{files:?}"
    );
    let hpa =
        std::fs::read_to_string(out.join("22-horizontalpodautoscaler-reviewer.yaml")).unwrap();
    assert!(
        hpa.contains("namespace: review-bots") && hpa.contains("maxReplicas: 4"),
        "{hpa}"
    );
    assert!(hpa.contains("name: acme_eligible_tasks"), "{hpa}");
    let vpa = std::fs::read_to_string(out.join("23-verticalpodautoscaler-reviewer.yaml")).unwrap();
    assert!(vpa.contains("updateMode: Auto"), "{vpa}");

    let stream = purser(&["k8s", "render"]);
    let text = String::from_utf8_lossy(&stream.stdout);
    assert!(
        text.contains("# Source: 00-namespace.yaml") && text.contains("\n---\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("kind: HorizontalPodAutoscaler").count(),
        3,
        "the guide's three"
    );
}

#[test]
fn bad_options_are_named() {
    let output = purser(&["k8s", "render", "--environment", "staging"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--environment"));
    let output = purser(&["k8s", "render", "--namespace", "Not_A_Label"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("namespace"));
}
