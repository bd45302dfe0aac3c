//! The commands on accounts, usage and holds: each builds its request, calls the API and
//! reads the answer through the server's wire types, printing a table for people or the
//! server's JSON with `--json`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use purser_server::wire::accounts::{AccountOut, AccountsOut, AllocateOut, ClosedOut};
use purser_server::wire::usage::{ReservationOut, UsageOut, VoidOut};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Remote;
use crate::client::Client;
use crate::table;

/// `tokens=450` pairs to a JSON amount map.
pub fn amounts(pairs: &[String]) -> anyhow::Result<Value> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let Some((dim, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not DIM=N")
        };
        let value: u64 = value
            .replace('_', "")
            .parse()
            .with_context(|| format!("{pair:?}: {value:?} is not a non-negative integer"))?;
        map.insert(dim.to_string(), json!(value));
    }
    Ok(Value::Object(map))
}

/// A JSON object without its null fields (options the user did not give).
fn without_nulls(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, field| !field.is_null());
    }
    value
}

pub fn status(remote: &Remote, path: Option<&str>, depth: usize) -> anyhow::Result<ExitCode> {
    let query = match path {
        Some(path) => format!("/v1/accounts?prefix={path}&depth={depth}"),
        None => format!("/v1/accounts?depth={}", depth.saturating_sub(1)),
    };
    show(remote, "GET", &query, None, |answer: &AccountsOut| {
        table::accounts(&answer.accounts)
    })
}

pub fn close(remote: &Remote, path: &str) -> anyhow::Result<ExitCode> {
    let target = format!("/v1/accounts/{path}");
    show(remote, "DELETE", &target, None, |answer: &ClosedOut| {
        format!("closed {}\n", answer.path)
    })
}

pub fn put(
    remote: &Remote,
    path: &str,
    limits: &[String],
    kind: Option<String>,
    weight: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let mut body = serde_json::Map::new();
    if !limits.is_empty() {
        body.insert("limits".into(), amounts(limits)?);
    }
    if let Some(kind) = kind {
        body.insert("kind".into(), json!(kind));
    }
    if let Some(weight) = weight {
        body.insert("weight".into(), json!(weight));
    }
    let target = format!("/v1/accounts/{path}");
    show(
        remote,
        "PUT",
        &target,
        Some(Value::Object(body)),
        |answer: &AccountOut| table::accounts(std::slice::from_ref(answer)),
    )
}

/// What `purser allocate` asks for.
pub struct Allocation {
    pub strategy: String,
    /// `NAME` or `NAME:WEIGHT`.
    pub children: Vec<String>,
    pub total: Vec<String>,
    pub min_share: Option<f64>,
    pub max_share: Option<f64>,
}

pub fn allocate(remote: &Remote, path: &str, asked: Allocation) -> anyhow::Result<ExitCode> {
    let mut children = Vec::new();
    for child in &asked.children {
        match child.split_once(':') {
            Some((name, weight)) => {
                let weight: f64 = weight
                    .parse()
                    .with_context(|| format!("--child {child}: {weight:?} is not a weight"))?;
                children.push(json!({ "name": name, "weight": weight }));
            }
            None => children.push(json!({ "name": child })),
        }
    }
    let mut body = json!({ "strategy": asked.strategy, "children": children });
    if !asked.total.is_empty() {
        body["total"] = amounts(&asked.total)?;
    }
    body["min_share"] = json!(asked.min_share);
    body["max_share"] = json!(asked.max_share);
    let target = format!("/v1/accounts/{path}:allocate");
    show(
        remote,
        "POST",
        &target,
        Some(without_nulls(body)),
        |answer: &AllocateOut| {
            let mut rows = vec![vec!["CHILD".to_string(), "LIMITS".to_string()]];
            for allocation in &answer.allocations {
                rows.push(vec![
                    allocation.path.clone(),
                    json!(allocation.limits).to_string(),
                ]);
            }
            format!("{}pool: {}\n", table::render(&rows), json!(answer.pool))
        },
    )
}

pub fn report_usage(
    remote: &Remote,
    path: &str,
    usage: &[String],
    key: Option<String>,
    operation: Option<String>,
    work_units: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "account": path, "usage": amounts(usage)?, "idempotency_key": key,
                       "operation": operation, "work_units": work_units });
    show(
        remote,
        "POST",
        "/v1/usage",
        Some(without_nulls(body)),
        usage_line,
    )
}

pub fn reserve(
    remote: &Remote,
    path: &str,
    amount: &[String],
    ttl_ms: Option<u64>,
    key: Option<String>,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "account": path, "amount": amounts(amount)?, "ttl_ms": ttl_ms,
                       "idempotency_key": key });
    show(
        remote,
        "POST",
        "/v1/reservations",
        Some(without_nulls(body)),
        |answer: &ReservationOut| {
            format!(
                "{}  expires {}  level {}  action {}\n",
                answer.id, answer.expires_at, answer.level, answer.action.kind
            )
        },
    )
}

pub fn settle(
    remote: &Remote,
    id: &str,
    usage: &[String],
    operation: Option<String>,
    work_units: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let body =
        json!({ "usage": amounts(usage)?, "operation": operation, "work_units": work_units });
    let target = format!("/v1/reservations/{id}:settle");
    show(
        remote,
        "POST",
        &target,
        Some(without_nulls(body)),
        usage_line,
    )
}

pub fn void(remote: &Remote, id: &str) -> anyhow::Result<ExitCode> {
    let target = format!("/v1/reservations/{id}:void");
    show(remote, "POST", &target, None, |answer: &VoidOut| {
        format!("{} {}\n", answer.id, answer.state)
    })
}

fn usage_line(answer: &UsageOut) -> String {
    let fired = match &answer.fired {
        Some(fired) => format!(
            "  fired by {} {} at {:.1}%",
            fired.account,
            fired.dimension,
            fired.fraction * 100.0
        ),
        None => String::new(),
    };
    let duplicate = if answer.duplicate {
        "  (duplicate: counted once)"
    } else {
        ""
    };
    format!(
        "seq {}  level {}  action {}{fired}  remaining {}{duplicate}\n",
        answer.seq,
        answer.level,
        answer.action.kind,
        json!(answer.remaining)
    )
}

/// Calls the API and prints the answer: a table for people, the server's JSON with --json.
/// Exit codes: 0 success, 2 refused (4xx other than 409), 3 a budget or state conflict (409).
pub fn show<T: DeserializeOwned>(
    remote: &Remote,
    method: &str,
    path: &str,
    body: Option<Value>,
    render: impl Fn(&T) -> String,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(&remote.server, remote.token.clone());
    match client.call_as::<T>(method, path, body.as_ref())? {
        Ok((answer, json)) => {
            if remote.json {
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                print!("{}", render(&answer));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if remote.json {
                println!("{}", serde_json::to_string_pretty(&failure.body)?);
            } else {
                let mut line = format!("error {failure}");
                if let Some(field) = &failure.detail.field {
                    line.push_str(&format!(" [field {field}]"));
                }
                eprintln!("{line}");
            }
            Ok(ExitCode::from(if failure.status == 409 { 3 } else { 2 }))
        }
    }
}
