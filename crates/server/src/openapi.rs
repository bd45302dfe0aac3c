//! The OpenAPI 3.1 document, generated from the handlers and wire types.

use utoipa::OpenApi;

use crate::{error, routes, wire};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Purser",
        description = "Budgets, usage and enforcement for fleets of AI agents"
    ),
    paths(
        routes::healthz,
        routes::readyz,
        routes::openapi,
        routes::list_accounts,
        routes::get_account,
        routes::put_account,
        routes::delete_account,
        routes::post_account,
        routes::post_usage,
        routes::post_usage_batch,
        routes::post_reservation,
        routes::settle_reservation,
        routes::void_reservation,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        wire::AccountIn,
        wire::ThresholdsIn,
        wire::AllocateIn,
        wire::ChildIn,
        wire::UsageIn,
        wire::ReserveIn,
        wire::SettleIn,
        wire::AccountOut,
        wire::AccountsOut,
        wire::AllocateOut,
        wire::AllocationOut,
        wire::UsageOut,
        wire::ReservationOut,
        wire::VoidOut,
        wire::ClosedOut,
        wire::UsageBatchOut,
        wire::BatchItemOut,
        wire::ActionOut,
        wire::FiredOut,
        wire::ThresholdsOut,
    ))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
