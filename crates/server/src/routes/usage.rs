//! Usage and holds: `POST /v1/usage`, `/v1/usage:batch`, `/v1/reservations` and a hold's
//! `:settle` and `:void`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_core::SettleRequest;
use purser_engine::view::account::HoldOutcome;

use super::{AppState, BATCH_BODY_MAX, BODY_MAX, Target, json, parse_or_default, read_body};
use crate::auth::Need;
use crate::error::ApiError;
use crate::wire::usage::{
    BatchItemOut, ReservationOut, ReserveIn, SettleIn, TightestOut, UsageBatchIn, UsageBatchOut,
    UsageIn, UsageOut, VoidOut,
};
use crate::wire::{self, ErrorBody};

/// The most reports one batch may carry.
pub const BATCH_REPORTS_MAX: usize = 10_000;

#[utoipa::path(post, path = "/v1/usage", tag = "routes", request_body = UsageIn,
    responses((status = 200, body = UsageOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let body = read_body(body, BODY_MAX).await?;
    let report = wire::parse::<UsageIn>(&body)?.into_report()?;
    caller.allow(Need::Spend, Some(report.account.as_str()))?;
    let view = state.engine.usage(report, caller.scope()).await?;
    let out = UsageOut::from(view);
    Ok(with_remaining(&out.tightest, json(&out)))
}

/// `Purser-Remaining-<dimension>` headers: what the tightest account on the path has left,
/// for a proxy that reads headers and not bodies.
fn with_remaining(tightest: &[TightestOut], mut response: Response) -> Response {
    for tight in tightest {
        let name = format!("purser-remaining-{}", tight.dimension);
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&tight.remaining.to_string()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[utoipa::path(post, path = "/v1/usage:batch", tag = "routes", request_body = UsageBatchIn,
    responses((status = 200, body = UsageBatchOut), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn post_usage_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // Every role may spend; each report's account is checked against the scope by the engine.
    let body = read_body(body, BATCH_BODY_MAX).await?;
    let batch: UsageBatchIn = wire::parse(&body)?;
    if batch.reports.len() > BATCH_REPORTS_MAX {
        return Err(ApiError::invalid(
            "too_many_reports",
            "reports",
            format!(
                "a batch holds at most {BATCH_REPORTS_MAX} reports, this one {}",
                batch.reports.len()
            ),
        ));
    }
    // Items that do not decode are answered here; the others go to the engine, in order.
    let mut results: Vec<Option<BatchItemOut>> = Vec::with_capacity(batch.reports.len());
    let mut reports = Vec::with_capacity(batch.reports.len());
    for (idx, raw) in batch.reports.iter().enumerate() {
        match wire::parse::<UsageIn>(raw.get().as_bytes()).and_then(UsageIn::into_report) {
            Ok(report) => {
                reports.push(report);
                results.push(None);
            }
            Err(err) => {
                let mut err = ApiError::from(err);
                err.detail.field = Some(match err.detail.field.take() {
                    Some(field) => format!("reports[{idx}].{field}"),
                    None => format!("reports[{idx}]"),
                });
                results.push(Some(BatchItemOut::Error(err.body())));
            }
        }
    }
    let mut answers = state
        .engine
        .usage_batch(reports, caller.scope())
        .await?
        .into_iter();
    let results = results
        .into_iter()
        .enumerate()
        .map(|(idx, decoded)| match decoded {
            Some(refused) => refused,
            None => match answers.next().expect("one answer per report sent") {
                Ok(view) => BatchItemOut::Usage(view.into()),
                Err(err) => {
                    let mut err = ApiError::from(err);
                    if let Some(field) = err.detail.field.take() {
                        err.detail.field = Some(format!("reports[{idx}].{field}"));
                    }
                    BatchItemOut::Error(err.body())
                }
            },
        })
        .collect();
    Ok(json(UsageBatchOut { results }))
}

#[utoipa::path(post, path = "/v1/reservations", tag = "routes", request_body = ReserveIn,
    responses((status = 201, body = ReservationOut),
              (status = 404, description = "No such account", body = ErrorBody),
              (status = 409, description = "The hold would take an account on its path to its stop threshold", body = ErrorBody)))]
pub async fn post_reservation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let body = read_body(body, BODY_MAX).await?;
    let request = wire::parse::<ReserveIn>(&body)?.into_request()?;
    caller.allow(Need::Spend, Some(request.account.as_str()))?;
    match state.engine.reserve(request, caller.scope()).await? {
        HoldOutcome::Reserved(view) => {
            let out = ReservationOut::from(view);
            let tightest = out.tightest.clone();
            let response = (StatusCode::CREATED, axum::Json(out)).into_response();
            Ok(with_remaining(&tightest, response))
        }
        HoldOutcome::Denied(denial) => Err(ApiError::denied(denial)),
        HoldOutcome::Refused(refusal) => Err(ApiError::refused(refusal)),
    }
}

/// `POST /v1/reservations/{id}:settle` and `:void` share one route (the method follows a colon
/// inside the last segment); each has its own function so that both appear in /openapi.json.
pub async fn post_reservation_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/reservations/")?;
    let (id_text, method) = target.action("reservation", ":settle or :void")?;
    let reservation = wire::reservation_id(id_text)?;
    let body = read_body(body, BODY_MAX).await?;
    match method {
        "settle" => {
            let request = settle_reservation(reservation, &body)?;
            let view = state.engine.settle(request, caller.scope()).await?;
            let out = UsageOut::from(view);
            Ok(with_remaining(&out.tightest, json(&out)))
        }
        "void" => {
            let id = void_reservation(reservation);
            let voided = state.engine.void(id, caller.scope()).await?;
            Ok(json(VoidOut::of(voided)))
        }
        other => Err(ApiError::not_found(format!(
            "no method :{other} on reservations"
        ))),
    }
}

#[utoipa::path(post, path = "/v1/reservations/{id}:settle", tag = "routes",
    params(("id" = String, Path, description = "rsv_...")), request_body = SettleIn,
    responses((status = 200, body = UsageOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn settle_reservation(reservation: u64, body: &[u8]) -> Result<SettleRequest, ApiError> {
    Ok(parse_or_default::<SettleIn>(body)?.into_request(reservation))
}

#[utoipa::path(post, path = "/v1/reservations/{id}:void", tag = "routes",
    params(("id" = String, Path, description = "rsv_...")),
    responses((status = 200, body = VoidOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn void_reservation(reservation: u64) -> u64 {
    reservation
}
