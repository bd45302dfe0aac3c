//! The capacity half of Purser: pools of machines, tenant limits and quotas, task DAGs, and
//! their placement in virtual time (the HEFT baseline and Purser's own scheduler).
//!
//! Main types: [`Workflow`] (parsed by [`parse_workflow`] from WfFormat JSON or Pegasus DAX),
//! [`Platform`] (from [`parse_platform`]), [`plan`] / [`plan_with`] returning a [`Schedule`]
//! with one entry per attempt, [`summary`], [`lower_bound`] (what no plan can beat), the live
//! [`tick`] for a server, the task state machine [`TaskState`], [`LimitRanges`], [`Quotas`] and
//! the priority [`preemptions`] that take borrowed quota back.
//!
//! By design the crate is pure and synchronous: no clock (time is an `f64` of seconds passed in,
//! `Schedule::decision_ms` is filled by the caller), no threads, no file or network I/O (parsers
//! take `&str`), randomness only from a caller's seed through the in-crate [`SplitMix64`].
//! Money is integer micro-dollars. Dependencies: serde (the `Schedule` wire shape), serde_json,
//! toml and quick-xml (the three input formats), thiserror ([`SchedError`]).

mod bheft;
mod bounds;
mod budget_plan;
mod calendar;
mod costs;
mod error;
mod generate;
mod interrupt;
mod limits;
mod list_scheduler;
mod live;
mod parse_dag;
mod parse_dax;
mod parse_wfformat;
mod planner;
mod platform;
mod preempt;
mod profile;
mod quota;
mod resources;
mod rng;
mod schedule;
mod search;
mod state;
mod tick;
mod verify;
mod workflow;

pub use bounds::{LowerBound, lower_bound};
pub use budget_plan::{BudgetPlan, cheapest_plan, plan_within_budget};
pub use calendar::WorkingHours;
pub use error::SchedError;
pub use generate::random_layered_workflow;
pub use limits::{LimitRange, LimitRanges};
pub use live::{
    API_WINDOW_MS, ApiUse, ApiWindows, Budget, CostAsk, Dag, DagAnswer, DagCharge, DagCommand,
    DagConfig, DagError, DagEvent, DagLimits, DagSnapshot, DagState, DagStatus, DagSubmitted,
    LiveTask, MACHINES_MAX, OpenCharge, POOLS_MAX, PoolGauge, QuotaGauge, Refusal, Rung,
    SHARE_PPM_FULL, SchedGauges, SubmitDag, TaskCharge, TaskMove, TaskNeeds, TaskRef, TaskRequest,
    TaskSpec, Unaffordable, Unlimited, cost_micros, pool_price, runtime_on, share_ppm,
};
pub use parse_dax::parse_dax;
pub use parse_wfformat::parse_wfformat;
pub use planner::{Algorithm, PlanOptions, Weights, plan, plan_with};
pub use platform::{Platform, Pool, PoolKind, PoolSpec, custom_dimensions, parse_platform};
pub use preempt::{QuotaHolder, preemptions};
pub use quota::{QuotaDenial, QuotaLimit, Quotas};
pub use resources::{CUSTOM_DIMS_MAX, Dimension, Resources};
pub use rng::SplitMix64;
pub use schedule::{PlanStats, Schedule, ScheduledTask, summary};
pub use state::TaskState;
pub use tick::{Assignment, EligibleTask, FreeMachine, TickPool, tick};
pub use verify::{verify, verify_at};
pub use workflow::{Dep, Task, Workflow};

/// A workflow file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowFormat {
    /// WfCommons WfFormat JSON.
    WfFormat,
    /// Pegasus DAX XML.
    Dax,
    /// The API's DAG shape (`POST /v1/dags`), where a task may need a person.
    Dag,
}

impl std::str::FromStr for WorkflowFormat {
    type Err = SchedError;

    fn from_str(name: &str) -> Result<Self, SchedError> {
        match name {
            "wfformat" | "json" => Ok(WorkflowFormat::WfFormat),
            "dax" | "xml" => Ok(WorkflowFormat::Dax),
            "dag" => Ok(WorkflowFormat::Dag),
            other => Err(SchedError::UnknownFormat(other.to_string())),
        }
    }
}

/// Parses a workflow in the given format.
pub fn parse_workflow(text: &str, format: WorkflowFormat) -> Result<Workflow, SchedError> {
    match format {
        WorkflowFormat::WfFormat => parse_wfformat(text),
        WorkflowFormat::Dax => parse_dax(text),
        WorkflowFormat::Dag => parse_dag::parse_dag(text),
    }
}
