//! The OpenAPI 3.1 document, generated from the handlers and wire types.

use utoipa::OpenApi;

use crate::{dag_routes, dag_wire, error, report, routes, wire};

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
        report::report,
        routes::put_account,
        routes::delete_account,
        routes::post_account,
        routes::post_usage,
        routes::post_usage_batch,
        routes::post_reservation,
        routes::settle_reservation,
        routes::void_reservation,
        dag_routes::post_dag,
        dag_routes::get_dag,
        dag_routes::list_dags,
        dag_routes::post_dag_action,
        dag_routes::interrupted,
        dag_routes::lease,
        dag_routes::heartbeat_task,
        dag_routes::checkpoint_task,
        dag_routes::complete_task,
        dag_routes::fail_task,
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
        dag_wire::DagIn,
        dag_wire::TaskIn,
        dag_wire::RequestsIn,
        dag_wire::LeaseIn,
        dag_wire::TaskOpIn,
        dag_wire::CheckpointIn,
        dag_wire::FailIn,
        dag_wire::DagOut,
        dag_wire::TaskOut,
        dag_wire::ResourcesOut,
        dag_wire::LeaseOut,
        dag_wire::LeasedTaskOut,
        dag_wire::TaskStateOut,
        dag_wire::ReasonIn,
        dag_wire::DagSummaryOut,
        dag_wire::DagListOut,
        dag_wire::InterruptedOut,
        report::ReportOut,
        report::ReportAccountOut,
        report::ReportDimensionOut,
        report::ReportForecastOut,
        report::IntervalOut,
        report::EfficiencyOut,
        report::LevelTimesOut,
        report::FairnessOut,
        report::WasteOut,
        report::RecommendationOut,
        report::UtilizationOut,
        report::ChartOut,
        report::ChartPointOut,
        report::LevelSpanOut,
    ))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
