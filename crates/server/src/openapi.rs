//! The OpenAPI 3.1 document, generated from the handlers and wire types, then completed by
//! rules that hold for every operation: the bearer scheme, the error answers each kind of
//! operation can give, unsigned integers as such, and the patterns of path parameters.

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::report;
use crate::routes::{accounts, dags, events, fleet, health, manage, metrics, requests, usage};
use crate::wire::{
    self, accounts as account_wire, dags as dag_wire, fleet as fleet_wire, manage as manage_wire,
    rules as rules_wire, tasks as task_wire, usage as usage_wire,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Purser",
        description = "Budgets, usage and enforcement for fleets of AI agents"
    ),
    paths(
        health::healthz,
        health::readyz,
        health::openapi,
        metrics::metrics,
        accounts::list_accounts,
        accounts::me,
        accounts::get_account,
        accounts::report,
        accounts::forecast,
        accounts::put_account,
        accounts::delete_account,
        accounts::post_account,
        requests::reset,
        requests::start_run,
        requests::request,
        requests::list_requests,
        requests::get_request,
        requests::post_request_action,
        requests::reject_request,
        usage::post_usage,
        usage::post_usage_batch,
        usage::post_reservation,
        usage::settle_reservation,
        usage::void_reservation,
        manage::run_optimizer,
        manage::audit,
        events::events,
        dags::post_dag,
        dags::get_dag,
        dags::list_dags,
        dags::post_dag_action,
        dags::interrupted,
        dags::lease,
        dags::heartbeat_task,
        dags::checkpoint_task,
        dags::complete_task,
        dags::fail_task,
        fleet::list_profiles,
        fleet::get_profile,
        fleet::scale,
        fleet::rightsize,
        fleet::post_samples,
        fleet::list_agents,
        fleet::get_agent,
        fleet::put_agent,
        fleet::post_agent,
        fleet::delete_agent,
    ),
    components(schemas(
        wire::ErrorBody,
        wire::ErrorDetail,
        account_wire::AccountIn,
        account_wire::ThresholdsIn,
        account_wire::PeriodIn,
        account_wire::AllocateIn,
        account_wire::ChildIn,
        usage_wire::UsageIn,
        usage_wire::ReserveIn,
        usage_wire::SettleIn,
        account_wire::AccountOut,
        account_wire::PeriodOut,
        rules_wire::RulesIn,
        rules_wire::RunIn,
        rules_wire::LoopIn,
        rules_wire::RulesOut,
        rules_wire::RunOut,
        rules_wire::LoopOut,
        rules_wire::HaltOut,
        rules_wire::IncreaseIn,
        rules_wire::DecisionIn,
        rules_wire::RequestOut,
        rules_wire::RequestsOut,
        account_wire::AccountsOut,
        account_wire::MeOut,
        usage_wire::TightestOut,
        account_wire::AllocateOut,
        account_wire::AllocationOut,
        usage_wire::UsageOut,
        usage_wire::ReservationOut,
        usage_wire::VoidOut,
        account_wire::ClosedOut,
        usage_wire::UsageBatchOut,
        usage_wire::BatchItemOut,
        wire::ActionOut,
        wire::FiredOut,
        account_wire::ThresholdsOut,
        manage_wire::ForecastOut,
        manage_wire::IntervalOut,
        manage_wire::OptimizerOut,
        manage_wire::MoveOut,
        manage_wire::AuditOut,
        manage_wire::AuditEntry,
        dag_wire::DagIn,
        dag_wire::TaskIn,
        dag_wire::RequestsIn,
        task_wire::LeaseIn,
        task_wire::TaskOpIn,
        task_wire::CheckpointIn,
        task_wire::FailIn,
        dag_wire::DagOut,
        dag_wire::TaskOut,
        dag_wire::ResourcesOut,
        task_wire::LeaseOut,
        task_wire::LeasedTaskOut,
        task_wire::TaskStateOut,
        dag_wire::ReasonIn,
        dag_wire::DagSummaryOut,
        dag_wire::DagListOut,
        task_wire::InterruptedOut,
        report::ReportOut,
        report::ReportAccountOut,
        report::ReportDimensionOut,
        report::ReportForecastOut,
        report::EfficiencyOut,
        report::LevelTimesOut,
        report::FairnessOut,
        report::WasteOut,
        report::RecommendationOut,
        report::ReportRulesOut,
        report::ReportRequestOut,
        report::UtilizationOut,
        report::ChartOut,
        report::ChartPointOut,
        report::LevelSpanOut,
        fleet_wire::QuantitiesOut,
        fleet_wire::ScaleTargetsOut,
        fleet_wire::AgentCountsOut,
        fleet_wire::ProfileOut,
        fleet_wire::ProfilesOut,
        fleet_wire::AgentIn,
        fleet_wire::HeartbeatIn,
        fleet_wire::AgentOut,
        fleet_wire::AgentsOut,
        fleet_wire::SampleIn,
        fleet_wire::SamplesIn,
        fleet_wire::SamplesOut,
        fleet_wire::AmountsOut,
        fleet_wire::ContainerRightsizeOut,
        fleet_wire::RightsizeOut,
        fleet_wire::ScaleMetricOut,
        fleet_wire::ConditionOut,
        fleet_wire::ScaleOut,
    ))
)]
struct ApiDoc;

/// Operations anyone may call, without a token.
const PUBLIC: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// The pattern of an account path: segments of `[a-z0-9][a-z0-9._-]{0,63}`, depth 1 to 8.
pub const ACCOUNT_PATH_PATTERN: &str =
    "^[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63}){0,7}$";

/// The pattern of an agent's name.
pub const AGENT_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,253}$";

/// The document a server with the given `amount_max` serves.
pub fn document(amount_max: u64) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut doc = serde_json::to_value(doc).expect("the document encodes");
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A token of purser.toml's [[tokens]]: role admin, operator or agent, scoped to an account path prefix. A server without tokens accepts anonymous requests on loopback only."}
    });
    doc["security"] = json!([{"bearer": []}]);
    doc["components"]["schemas"]["SpendIn"]["additionalProperties"]["maximum"] = json!(amount_max);
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().expect("a path item") {
            complete_operation(path, method, operation);
        }
    }
    unsigned_integers(&mut doc);
    doc
}

/// Adds what every operation of its kind has: security, error answers, parameter patterns.
fn complete_operation(path: &str, method: &str, operation: &mut Value) {
    let public = PUBLIC.contains(&path);
    let has_body = operation.get("requestBody").is_some();
    // A decision's body (a note) is optional.
    if path.starts_with("/v1/requests/") && has_body {
        operation["requestBody"]["required"] = json!(false);
    }
    let mut has_query = false;
    let mut has_path_param = false;
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for parameter in parameters {
        match parameter["in"].as_str() {
            Some("query") => {
                has_query = true;
                let name = parameter["name"].as_str().unwrap_or("").to_string();
                for (key, value) in query_schema(path, &name) {
                    parameter["schema"][key] = value;
                }
            }
            Some("path") => {
                has_path_param = true;
                let (pattern, example) = id_pattern(path, parameter["name"].as_str().unwrap_or(""));
                parameter["schema"]["pattern"] = json!(pattern);
                parameter["example"] = json!(example);
            }
            _ => {}
        }
    }
    if public {
        operation["security"] = json!([]);
    }
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if !public {
        errors.push(("400", "Invalid input: the field at fault is named"));
        errors.push(("401", "No token, or an unknown one"));
        errors.push(("403", "Outside the token's scope, or beyond its role"));
        errors.push((
            "503",
            "The server is at its connection limit or stopping; retry",
        ));
    }
    if has_query || has_path_param {
        errors.push(("400", "Invalid input: the field at fault is named"));
    }
    if has_path_param {
        errors.push(("404", "Unknown, or no such method"));
    }
    if has_body {
        errors.push((
            "408",
            "The body did not arrive within the body-read timeout",
        ));
        errors.push(("413", "The body is larger than the route allows"));
        errors.push(("415", "The body is not declared as JSON"));
    }
    if method == "post" && has_path_param && path.contains(':') {
        errors.push(("405", "The method after the colon is missing"));
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("an operation has responses");
    for (status, description) in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// The pattern and an example of the path parameter `name` of `path`.
fn id_pattern(path: &str, name: &str) -> (&'static str, &'static str) {
    match (path, name) {
        (_, "path") => (ACCOUNT_PATH_PATTERN, "acme/research/wf-42"),
        (path, _) if path.starts_with("/v1/dags/") => ("^dag_[0-9]{1,19}$", "dag_1"),
        (path, _) if path.starts_with("/v1/tasks/") => ("^tsk_[0-9]{1,19}_[0-9]{1,10}$", "tsk_1_0"),
        (path, _) if path.starts_with("/v1/reservations/") => ("^rsv_[0-9]{1,19}$", "rsv_1"),
        (path, _) if path.starts_with("/v1/requests/") => ("^req_[0-9]{1,19}$", "req_12"),
        (path, _) if path.starts_with("/v1/profiles/") => {
            ("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", "implementation")
        }
        (path, _) if path.starts_with("/v1/agents/") => (AGENT_NAME_PATTERN, "impl-7"),
        (path, _) if path.starts_with("/v1/workers/") => {
            ("^[A-Za-z0-9._-]+-[0-9]{1,10}$", "local-0")
        }
        _ => ("^.+$", "x"),
    }
}

/// What a query parameter accepts beyond its type.
fn query_schema(path: &str, name: &str) -> Vec<(&'static str, Value)> {
    match name {
        "after" if path == "/v1/agents" => vec![("pattern", json!(AGENT_NAME_PATTERN))],
        "profile" => vec![("pattern", json!("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"))],
        "prefix" | "tenant" => vec![("pattern", json!(ACCOUNT_PATH_PATTERN))],
        "dimension" => vec![("pattern", json!(crate::wire::schemas::DIMENSION_PATTERN))],
        "format" => vec![("enum", json!(["json", "markdown", "html"]))],
        "state" if path == "/v1/requests" => vec![("enum", json!(["pending", "all"]))],
        "state" => vec![(
            "enum",
            json!(["running", "completed", "failed", "cancelled"]),
        )],
        "after" => vec![("pattern", json!("^dag_[0-9]{1,19}$"))],
        "depth" => vec![("maximum", json!(crate::routes::accounts::LIST_DEPTH_MAX))],
        _ => Vec::new(),
    }
}

/// utoipa writes `u64` and `u32` as signed formats with a minimum of 0: say what they are.
fn unsigned_integers(value: &mut Value) {
    match value {
        Value::Object(object) => {
            mark_unsigned(object);
            for child in object.values_mut() {
                unsigned_integers(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_integers),
        _ => {}
    }
}

fn mark_unsigned(object: &mut Map<String, Value>) {
    let is_integer = match object.get("type") {
        Some(Value::String(kind)) => kind == "integer",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "integer"),
        _ => false,
    };
    if !is_integer || object.get("minimum") != Some(&json!(0)) {
        return;
    }
    match object.get("format").and_then(Value::as_str) {
        Some("int64") => {
            object.insert("format".into(), json!("uint64"));
            object.entry("maximum").or_insert_with(|| json!(u64::MAX));
        }
        Some("int32") => {
            object.insert("format".into(), json!("uint32"));
            object.entry("maximum").or_insert_with(|| json!(u32::MAX));
        }
        _ => {}
    }
}
