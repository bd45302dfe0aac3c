//! The built-in kinds `purser k8s render` writes, read back from their YAML into k8s-openapi's
//! types, which are generated from the Kubernetes OpenAPI schemas: a field the schema does not
//! have is dropped on the way in (so the object would not come back equal), a required field
//! missing comes back as its default (so it shows too), and a value of the wrong type fails to
//! read. Formats and patterns (quantities, names)
//! are left to `kubernetes-validate --strict` in CI (`scripts/k8s-check.py`).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use purser_k8s::manifests::{Environment, RenderOptions, render};
use purser_k8s::profile::{ProfileConfig, QuantitiesConfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const CUSTOM: [&str; 3] = ["VerticalPodAutoscaler", "PrometheusRule", "ServiceMonitor"];

/// Reads `object` as `T` and writes it back: the errors, or the paths where it differs (a
/// field the type does not have, a required one missing, a value read otherwise).
fn round_trip<T: DeserializeOwned + serde::Serialize>(object: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|err| err.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|err| err.to_string())?;
    let mut differences = Vec::new();
    diff(object, &back, "", &mut differences);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join("; "))
    }
}

fn diff(written: &Value, read: &Value, path: &str, out: &mut Vec<String>) {
    match (written, read) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => diff(value, other, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: not in the schema")),
                }
            }
            // k8s-openapi reads a missing required field as its default and always writes it:
            // one that comes back but was not written is required and missing.
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(format!("{path}.{key}: required, missing"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (idx, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{idx}]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: wrote {a}, read {b}")),
        _ => {}
    }
}

/// Checks one built-in object by its kind.
fn check(kind: &str, object: &Value) -> Result<(), String> {
    match kind {
        "Namespace" => round_trip::<Namespace>(object),
        "ResourceQuota" => round_trip::<ResourceQuota>(object),
        "LimitRange" => round_trip::<LimitRange>(object),
        "PriorityClass" => round_trip::<PriorityClass>(object),
        "Service" => round_trip::<Service>(object),
        "StatefulSet" => round_trip::<StatefulSet>(object),
        "Deployment" => round_trip::<Deployment>(object),
        "HorizontalPodAutoscaler" => round_trip::<HorizontalPodAutoscaler>(object),
        "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
        other => Err(format!("{other} is not a kind this test knows")),
    }
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

#[test]
fn every_built_in_object_reads_back_through_its_schema_type() {
    // The guide's three profiles and one without storage (a Deployment), in both environments.
    let mut profiles: Vec<_> = ProfileConfig::defaults()
        .iter()
        .map(|config| config.resolve().unwrap())
        .collect();
    profiles.push(
        ProfileConfig {
            name: "stateless".into(),
            storage: Some("0".into()),
            requests: QuantitiesConfig {
                cpu: Some("250m".into()),
                memory: Some("512Mi".into()),
            },
            ..ProfileConfig::default()
        }
        .resolve()
        .unwrap(),
    );
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for environment in [Environment::Production, Environment::Testing] {
        let options = RenderOptions {
            environment,
            ..RenderOptions::default()
        };
        for manifest in render(&profiles, &options).unwrap() {
            if CUSTOM.contains(&manifest.kind.as_str()) {
                continue;
            }
            for object in documents(&manifest.yaml) {
                let kind = object["kind"].as_str().unwrap().to_string();
                if let Err(err) = check(&kind, &object) {
                    panic!("{}: {kind} does not read back: {err}", manifest.file);
                }
                *checked.entry(kind).or_default() += 1;
            }
        }
    }
    let kinds: Vec<&str> = checked.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "HorizontalPodAutoscaler",
            "LimitRange",
            "Namespace",
            "PodDisruptionBudget",
            "PriorityClass",
            "ResourceQuota",
            "Service",
            "StatefulSet"
        ],
        "{checked:?}"
    );
}

#[test]
fn the_check_finds_an_unknown_field_a_wrong_type_and_a_missing_required_field() {
    let profiles = vec![ProfileConfig::defaults()[0].resolve().unwrap()];
    let manifests = render(&profiles, &RenderOptions::default()).unwrap();
    let find = |kind: &str| {
        manifests
            .iter()
            .find(|m| m.kind == kind)
            .map(|m| m.object.clone())
            .unwrap()
    };
    let mut unknown = find("StatefulSet");
    unknown["spec"]["replica"] = json!(3);
    assert!(
        check("StatefulSet", &unknown)
            .unwrap_err()
            .contains(".spec.replica")
    );
    let mut wrong = find("HorizontalPodAutoscaler");
    wrong["spec"]["maxReplicas"] = json!("ten");
    assert!(check("HorizontalPodAutoscaler", &wrong).is_err());
    let mut missing = find("HorizontalPodAutoscaler");
    missing["spec"]
        .as_object_mut()
        .unwrap()
        .remove("scaleTargetRef");
    let err = check("HorizontalPodAutoscaler", &missing).unwrap_err();
    assert!(
        err.contains(".spec.scaleTargetRef: required, missing"),
        "{err}"
    );
}
