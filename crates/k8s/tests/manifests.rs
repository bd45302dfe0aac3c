//! The manifests of the three default profiles, in both environments: the files as a snapshot,
//! the figures they are sized by, YAML that reads back as the objects, and the custom
//! resources valid against their CRDs.
//!
//! `UPDATE_SNAPSHOTS=1` rewrites `tests/snapshots/*.yaml`; `K8S_RENDER_DIR=DIR` also writes
//! the files to `DIR/production/` and `DIR/testing/` for `scripts/k8s-check.py`.

use std::path::{Path, PathBuf};

use purser_k8s::manifests::{
    Environment, Manifest, PURSER_LIMITS, PURSER_REQUESTS, RenderOptions, VpaMode, render,
    to_stream, yaml,
};
use purser_k8s::profile::{Profile, ProfileConfig, parse_bytes, parse_cpu};
use serde::Deserialize;
use serde_json::{Value, json};

const CRD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/k8s-crds");
const SNAPSHOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");
const CLUSTER_SCOPED: [&str; 2] = ["Namespace", "PriorityClass"];

fn default_profiles() -> Vec<Profile> {
    ProfileConfig::defaults()
        .iter()
        .map(|config| config.resolve().unwrap())
        .collect()
}

fn render_defaults(environment: Environment) -> Vec<Manifest> {
    let options = RenderOptions {
        environment,
        ..RenderOptions::default()
    };
    render(&default_profiles(), &options).unwrap()
}

fn object<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a Value {
    let found = manifests.iter().find(|m| m.kind == kind && m.name == name);
    &found.unwrap_or_else(|| panic!("no {kind} {name}")).object
}

fn parse_yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

#[test]
fn snapshots_match_and_render_dir_is_written_on_request() {
    let render_dir = std::env::var_os("K8S_RENDER_DIR").map(PathBuf::from);
    for environment in [Environment::Production, Environment::Testing] {
        let manifests = render_defaults(environment);
        let snapshot = Path::new(SNAPSHOT_DIR).join(format!("{}.yaml", environment.name()));
        check_snapshot(&snapshot, &to_stream(&manifests));
        if let Some(dir) = &render_dir {
            let dir = dir.join(environment.name());
            std::fs::create_dir_all(&dir).unwrap();
            for manifest in &manifests {
                std::fs::write(dir.join(&manifest.file), &manifest.yaml).unwrap();
            }
            println!("wrote {} files to {}", manifests.len(), dir.display());
        }
    }
}

fn check_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return;
    }
    let mut report = format!(
        "{} differs from the rendered manifests or is missing (rerun with UPDATE_SNAPSHOTS=1 if the change is intended):\n",
        path.display()
    );
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let first = (0..expected_lines.len().max(actual_lines.len()))
        .find(|&index| expected_lines.get(index) != actual_lines.get(index))
        .unwrap_or(0);
    for index in first.saturating_sub(3)..(first + 8) {
        let (old, new) = (expected_lines.get(index), actual_lines.get(index));
        match (old, new) {
            (None, None) => break,
            (old, new) if old == new => report += &format!("  {:5} {}\n", index + 1, old.unwrap()),
            _ => {
                if let Some(old) = old {
                    report += &format!("- {:5} {old}\n", index + 1);
                }
                if let Some(new) = new {
                    report += &format!("+ {:5} {new}\n", index + 1);
                }
            }
        }
    }
    panic!("{report}");
}

#[test]
fn every_object_is_named_and_namespaced_and_its_yaml_reads_back() {
    let manifests = render_defaults(Environment::Production);
    let mut files: Vec<&str> = manifests.iter().map(|m| m.file.as_str()).collect();
    files.dedup();
    assert_eq!(files.len(), manifests.len(), "one object per file");
    assert_eq!(manifests[0].file, "00-namespace.yaml");
    for manifest in &manifests {
        let object = &manifest.object;
        assert!(
            object["apiVersion"].is_string(),
            "{}: apiVersion",
            manifest.file
        );
        assert_eq!(object["kind"], manifest.kind.as_str(), "{}", manifest.file);
        assert_eq!(object["metadata"]["name"], manifest.name.as_str());
        let namespace = &object["metadata"]["namespace"];
        if CLUSTER_SCOPED.contains(&manifest.kind.as_str()) {
            assert!(namespace.is_null(), "{} is cluster-scoped", manifest.file);
        } else {
            assert_eq!(namespace, "agents", "{}", manifest.file);
        }
        assert_eq!(
            parse_yaml_documents(&manifest.yaml),
            std::slice::from_ref(object),
            "{}",
            manifest.file
        );
    }
    let stream = parse_yaml_documents(&to_stream(&manifests));
    let objects: Vec<Value> = manifests.iter().map(|m| m.object.clone()).collect();
    assert_eq!(stream, objects);
}

#[test]
fn tricky_strings_read_back_as_written() {
    #[rustfmt::skip]
    let strings = [
        "yes", "on", "No", "1.0", "1e3", "0x1F", "12:30", ": ", "a: b", "#", "x #y", "  lead",
        "trail ", "two\nlines", "", "~", "null", "-", "- item", "---", "\"quoted\"", "'single'",
        "tab\tin", "back\\slash", "café ☕", "\u{2028}", "@at", "%percent", "*star", "&amp",
        "!bang", "|pipe", ">fold", "[a, b]", "{a: b}", "--listen", "-1", ".inf", "8Gi", "250m",
        "sum by (pod) (rate(x{namespace=\"agents\", container!=\"\"}[5m])) > 0.9",
        "{{ $labels.pod }} at {{ $value | humanizePercentage }}",
    ];
    let value = json!({
        "strings": strings.to_vec(),
        "keys": strings.iter().map(|s| (s.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "nested": [[{"a": [1, 2.5, -3]}], [], {}, null, true],
    });
    let text = yaml::to_yaml(&value);
    assert_eq!(parse_yaml_documents(&text), [value], "{text}");
}

/// Which figure of a profile a quota figure sums.
type Pick = fn(&Profile) -> u64;

#[test]
fn resource_quota_is_the_peak_times_the_buffer() {
    let profiles = default_profiles();
    for (environment, replicas) in [
        (
            Environment::Production,
            profiles.iter().map(|p| p.replicas_max).collect::<Vec<_>>(),
        ),
        (
            Environment::Testing,
            profiles.iter().map(|p| p.replicas_max).collect(),
        ),
    ] {
        let manifests = render_defaults(environment);
        let hard = &object(&manifests, "ResourceQuota", "purser")["spec"]["hard"];
        let figure = |key: &str| hard[key].as_str().unwrap_or_else(|| panic!("{key}"));
        let peak = |pick: Pick, purser: u64| {
            let agents: u64 = profiles
                .iter()
                .zip(&replicas)
                .map(|(p, r)| pick(p) * u64::from(*r))
                .sum();
            (agents + purser) * 5 / 4
        };
        let total_replicas: u64 = replicas.iter().map(|r| u64::from(*r)).sum();
        let purser_storage = RenderOptions::default().purser_storage_bytes;
        let (requests, limits) = (PURSER_REQUESTS, PURSER_LIMITS);
        #[rustfmt::skip]
        let figures: [(&str, Pick, u64); 5] = [
            ("requests.cpu", |p| p.requests.cpu_millicores, requests.cpu_millicores),
            ("limits.cpu", |p| p.limits.cpu_millicores, limits.cpu_millicores),
            ("requests.memory", |p| p.requests.memory_bytes, requests.memory_bytes),
            ("limits.memory", |p| p.limits.memory_bytes, limits.memory_bytes),
            ("requests.storage", |p| p.storage_bytes, purser_storage),
        ];
        for (key, pick, purser) in figures {
            let parse = if key.ends_with(".cpu") {
                parse_cpu
            } else {
                parse_bytes
            };
            let name = environment.name();
            assert_eq!(
                parse(figure(key)).unwrap(),
                peak(pick, purser),
                "{name} {key}"
            );
        }
        // Every default profile has storage, so each pod but none else has a claim.
        let pods = ((total_replicas + 1) * 5).div_ceil(4).to_string();
        assert_eq!(
            (figure("pods"), figure("persistentvolumeclaims")),
            (&*pods, &*pods)
        );
    }
    let production = render_defaults(Environment::Production);
    let hard = &object(&production, "ResourceQuota", "purser")["spec"]["hard"];
    // (3 x 10 agents + Purser) x 1.25 = 38.75, rounded up; 102 cores of limits x 1.25.
    assert_eq!(
        (&hard["pods"], &hard["limits.cpu"]),
        (&json!("39"), &json!("127500m"))
    );
}

#[test]
fn limit_range_admits_every_rendered_container_and_defaults_to_the_smallest() {
    let manifests = render_defaults(Environment::Production);
    let limits = &object(&manifests, "LimitRange", "purser")["spec"]["limits"];
    assert_eq!(
        limits[0],
        json!({"type": "Container",
            "min": {"cpu": "500m", "memory": "512Mi"}, "max": {"cpu": "4", "memory": "16Gi"},
            "defaultRequest": {"cpu": "500m", "memory": "512Mi"},
            "default": {"cpu": "2", "memory": "2Gi"}})
    );
    assert_eq!(
        limits[1],
        json!({"type": "PersistentVolumeClaim", "min": {"storage": "10Gi"}, "max": {"storage": "50Gi"}})
    );
}

#[test]
fn autoscalers_scale_on_utilization_and_the_eligible_queue() {
    let profiles = default_profiles();
    let manifests = render_defaults(Environment::Production);
    for profile in &profiles {
        let spec = &object(&manifests, "HorizontalPodAutoscaler", &profile.name)["spec"];
        assert_eq!(
            spec["scaleTargetRef"],
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": profile.name})
        );
        assert_eq!(
            (&spec["minReplicas"], &spec["maxReplicas"]),
            (&json!(1), &json!(10))
        );
        assert_eq!(
            spec["behavior"],
            json!({
                "scaleUp": {"stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 60}]},
                "scaleDown": {"stabilizationWindowSeconds": 900,
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]},
            })
        );
        let metrics = spec["metrics"].as_array().unwrap();
        assert_eq!(
            metrics[0]["resource"],
            json!({"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}})
        );
        assert_eq!(metrics[1]["resource"]["target"]["averageUtilization"], 80);
        assert_eq!(
            metrics[2],
            json!({"type": "External", "external": {"metric": {"name": "purser_eligible_tasks"},
                "target": {"type": "AverageValue", "averageValue": "4"}}})
        );
    }
}

#[test]
fn vertical_autoscalers_recommend_between_the_minimums_and_the_limits() {
    for (mode, expected) in [(VpaMode::Off, "Off"), (VpaMode::Auto, "Auto")] {
        let options = RenderOptions {
            vpa_mode: mode,
            ..RenderOptions::default()
        };
        let manifests = render(&default_profiles(), &options).unwrap();
        let spec = &object(&manifests, "VerticalPodAutoscaler", "testing")["spec"];
        assert_eq!(spec["updatePolicy"]["updateMode"], expected);
        let policy = &spec["resourcePolicy"]["containerPolicies"][0];
        assert_eq!(
            policy["minAllowed"],
            json!({"cpu": "25m", "memory": "250Mi"})
        );
        assert_eq!(policy["maxAllowed"], json!({"cpu": "4", "memory": "16Gi"}));
        assert_eq!(policy["controlledResources"], json!(["cpu", "memory"]));
    }
}

#[test]
fn a_profile_without_storage_is_a_deployment_without_a_headless_service() {
    let config = ProfileConfig {
        name: "reviewer".into(),
        storage: Some("0".into()),
        ..ProfileConfig::default()
    };
    let manifests = render(&[config.resolve().unwrap()], &RenderOptions::default()).unwrap();
    let kinds: Vec<&str> = manifests
        .iter()
        .filter(|m| m.name == "reviewer")
        .map(|m| m.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "HorizontalPodAutoscaler",
            "VerticalPodAutoscaler",
            "PodDisruptionBudget"
        ]
    );
    let pod = &object(&manifests, "Deployment", "reviewer")["spec"]["template"]["spec"];
    let env = &pod["containers"][0]["env"];
    assert_eq!(
        env[0],
        json!({"name": "PURSER_URL", "value": "http://purser.agents.svc:7543"})
    );
    assert_eq!(pod["priorityClassName"], "purser-standard");
    let hard = &object(&manifests, "ResourceQuota", "purser")["spec"]["hard"];
    // Only Purser's own claim: (0 + 1) x 1.25, rounded up.
    assert_eq!(hard["persistentvolumeclaims"], "2");
}

#[test]
fn bad_options_and_colliding_profiles_are_refused_by_name() {
    let profiles = default_profiles();
    let mut purser_named = profiles[0].clone();
    purser_named.name = "purser".into();
    let with = |edit: fn(&mut RenderOptions)| {
        let mut options = RenderOptions::default();
        edit(&mut options);
        options
    };
    let twice = [profiles[0].clone(), profiles[0].clone()];
    let cases: [(&[Profile], RenderOptions, &str); 5] = [
        (
            &profiles,
            with(|o| o.namespace = "Agents".into()),
            "namespace",
        ),
        (&profiles, with(|o| o.quota_buffer = -0.1), "quota buffer"),
        (
            &profiles,
            with(|o| o.metrics_prefix = "9x".into()),
            "metrics prefix",
        ),
        (&twice, RenderOptions::default(), "given twice"),
        (&[purser_named], RenderOptions::default(), "collide"),
    ];
    for (profiles, options, expected) in cases {
        let err = render(profiles, &options).unwrap_err();
        assert!(err.contains(expected), "{err} should name {expected}");
    }
}

#[test]
fn custom_resources_validate_against_their_crds() {
    let Some(crds) = load_crds() else { return };
    let manifests = render_defaults(Environment::Production);
    let custom = ["VerticalPodAutoscaler", "PrometheusRule", "ServiceMonitor"];
    let mut checked = 0;
    for manifest in manifests
        .iter()
        .filter(|m| custom.contains(&m.kind.as_str()))
    {
        let schema = crd_schema(&crds, &manifest.object)
            .unwrap_or_else(|| panic!("{}: no served CRD version", manifest.file));
        let errors = schema_errors(&manifest.object, schema);
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            manifest.file,
            errors.join("\n")
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        3 + 2,
        "3 VPAs, the PrometheusRule and the ServiceMonitor"
    );
    // The checker is not vacuous: a misspelt field, a mode outside the enum and a missing
    // required field are each found.
    let mut broken = object(&manifests, "VerticalPodAutoscaler", "quality").clone();
    broken["spec"]["updatePolicy"]["updateMode"] = json!("Sometimes");
    broken["spec"]["resourcePolicy"]["containerPolicies"][0]["maxAllowd"] = json!({});
    broken["spec"].as_object_mut().unwrap().remove("targetRef");
    let errors = schema_errors(&broken, crd_schema(&crds, &broken).unwrap());
    assert_eq!(errors.len(), 3, "{errors:?}");
}

fn load_crds() -> Option<Vec<Value>> {
    let dir = Path::new(CRD_DIR);
    if !dir.is_dir() {
        println!("skipping the CRD validation: {} is absent", dir.display());
        return None;
    }
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            crds.extend(parse_yaml_documents(
                &std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    Some(crds)
}

/// The openAPIV3Schema of the served version of the CRD for the object's group and kind.
fn crd_schema<'a>(crds: &'a [Value], object: &Value) -> Option<&'a Value> {
    let (group, version) = object["apiVersion"].as_str()?.split_once('/')?;
    let crd = crds.iter().find(|crd| {
        crd["spec"]["group"] == group && crd["spec"]["names"]["kind"] == object["kind"]
    })?;
    let versions = crd["spec"]["versions"].as_array()?;
    let served = versions
        .iter()
        .find(|v| v["name"] == version && v["served"] == true)?;
    Some(&served["schema"]["openAPIV3Schema"])
}

/// The subset of a structural schema that CRDs use: type, properties (unknown fields are
/// errors, as `kubectl apply --validate=strict` makes them), required, items, enum,
/// additionalProperties, minLength and `x-kubernetes-int-or-string`. Patterns are left to
/// `scripts/k8s-check.py`.
fn schema_errors(value: &Value, schema: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_schema(value, schema, "", &mut errors);
    errors
}

fn check_schema(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            errors.push(format!(
                "{path}: {value} is neither an integer nor a string"
            ));
        }
        return;
    }
    if let Some(allowed) = schema["enum"]
        .as_array()
        .filter(|allowed| !allowed.contains(value))
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value
            .as_str()
            .is_some_and(|s| s.len() as u64 >= schema["minLength"].as_u64().unwrap_or(0)),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        errors.push(format!("{path}: {value} is not a valid {}", schema["type"]));
        return;
    }
    if let Some(items) = value.as_array() {
        for (index, item) in items.iter().enumerate() {
            check_schema(item, &schema["items"], &format!("{path}[{index}]"), errors);
        }
    }
    let Some(map) = value.as_object() else { return };
    for key in schema["required"].as_array().into_iter().flatten() {
        if !map.contains_key(key.as_str().unwrap()) {
            errors.push(format!("{path}: {key} is required"));
        }
    }
    let properties = schema["properties"].as_object();
    let open = schema["x-kubernetes-preserve-unknown-fields"] == true || properties.is_none();
    for (key, item) in map {
        let item_path = format!("{path}.{key}");
        match (
            properties.and_then(|p| p.get(key)),
            &schema["additionalProperties"],
        ) {
            (Some(property), _) => check_schema(item, property, &item_path, errors),
            (None, additional) if additional.is_object() => {
                check_schema(item, additional, &item_path, errors)
            }
            (None, _) if open => {}
            (None, _) => errors.push(format!("{item_path}: unknown field")),
        }
    }
}
