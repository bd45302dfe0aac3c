//! The OpenAPI document describes the API exactly: every operation, the bearer scheme, the
//! error answers of each operation, unsigned integers, the patterns of path parameters, and no
//! reference to a schema it does not define. The whole document is also kept as a snapshot
//! (`tests/snapshots/openapi.json`), so that a change to the API shows in review;
//! `UPDATE_SNAPSHOTS=1` rewrites it.

use std::path::PathBuf;

use serde_json::Value;

fn document() -> Value {
    purser_server::openapi::document(purser_core::ledger::AMOUNT_MAX_DEFAULT)
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    out
}

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(target)) = object.get("$ref") {
                out.push(target);
            }
            object.values().for_each(|child| refs(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| refs(child, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described_with_its_errors_and_its_auth() {
    let doc = document();
    let operations = operations(&doc);
    let names: Vec<String> = operations
        .iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    for expected in [
        "GET /v1/events",
        "GET /v1/audit",
        "POST /v1/optimizer:run",
        "GET /v1/accounts/{path}:forecast",
        "GET /v1/accounts/{path}:report",
        "POST /v1/usage:batch",
        "POST /v1/workers/{id}:interrupted",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path, operation) in &operations {
        let responses = operation["responses"].as_object().unwrap();
        let public = ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str());
        if public {
            assert_eq!(
                operation["security"],
                serde_json::json!([]),
                "{method} {path}"
            );
            continue;
        }
        for status in ["400", "401", "403"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} lacks 404");
        }
        if operation.get("requestBody").is_some() {
            for status in ["408", "413", "415"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                assert!(
                    parameter["schema"]["pattern"].is_string(),
                    "{method} {path}"
                );
            }
        }
    }
    let path_param = &doc["paths"]["/v1/accounts/{path}"]["get"]["parameters"][0];
    assert_eq!(path_param["example"], "acme/research/wf-42");
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is not defined"
        );
    }
    // Amounts are unsigned, and a request's are bounded by the server's amount_max.
    let spend = &doc["components"]["schemas"]["SpendIn"]["additionalProperties"];
    assert_eq!(spend["maximum"], purser_core::ledger::AMOUNT_MAX_DEFAULT);
    let usage = &doc["components"]["schemas"]["UsageIn"]["properties"]["work_units"];
    assert_eq!(usage["format"], "uint64");
    assert!(
        !doc.to_string()
            .contains("\"format\":\"int64\",\"minimum\":0")
    );
}

#[test]
fn the_document_matches_its_snapshot() {
    let actual = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}; UPDATE_SNAPSHOTS=1 writes it",
            path.display()
        )
    });
    let (expected, actual): (Value, Value) = (
        serde_json::from_str(&expected).unwrap(),
        serde_json::from_str(&actual).unwrap(),
    );
    assert!(
        expected == actual,
        "GET /openapi.json differs from {}: the API changed. If deliberate, rerun with \
         UPDATE_SNAPSHOTS=1 and review the diff",
        path.display()
    );
}
