//! The report as JSON: wire types with their OpenAPI schemas, converted from the core's report.

use purser_core::level::Level;
use purser_core::report::{AccountRow, Chart, DagCost, Recommendation, Report, Utilization};
use serde::Serialize;
use utoipa::ToSchema;

use purser_engine::time::rfc3339;

pub use crate::wire::manage::{IntervalOut, ReportForecastOut};

/// The report as JSON.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportOut {
    pub path: String,
    pub kind: Option<String>,
    pub at: String,
    /// The account first, then its open children by name, then its closed children.
    pub accounts: Vec<ReportAccountOut>,
    /// Children left out of the report (it lists at most 1,000).
    pub children_omitted: usize,
    pub fairness: Vec<FairnessOut>,
    pub waste: Vec<WasteOut>,
    pub recommendations: Vec<RecommendationOut>,
    pub chart: Option<ChartOut>,
    /// Machine time of the DAGs charged to the account or below it (the newest 100).
    pub dags: Vec<ReportDagOut>,
    /// The budget rules of the accounts shown that have any, and the caps in force.
    pub rules: Vec<ReportRulesOut>,
    /// Increase requests on the accounts shown, newest first (at most 50).
    pub requests: Vec<ReportRequestOut>,
}

/// One account's budget rules, in words.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportRulesOut {
    pub account: String,
    pub rules: Vec<String>,
    pub expires_at: Option<String>,
    /// The cap in force: what it is and why.
    pub halt: Option<String>,
}

/// An increase request on one of the report's accounts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportRequestOut {
    pub id: String,
    pub account: String,
    #[schema(value_type = crate::wire::schemas::Amounts)]
    pub amount: std::collections::BTreeMap<String, u64>,
    pub reason: String,
    pub requested_at: String,
    /// `pending`, `approved` or `rejected`.
    pub state: &'static str,
    pub note: Option<String>,
}

/// What a DAG's machine time cost, in micro-units of money (`cost_micros`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportDagOut {
    pub id: String,
    pub name: Option<String>,
    pub account: String,
    pub state: &'static str,
    pub spent_micros: u64,
    pub reserved_micros: u64,
    pub projected_micros: u64,
    /// Its most expensive tasks (at most 20), most expensive first.
    pub tasks: Vec<ReportTaskOut>,
    pub tasks_omitted: usize,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportTaskOut {
    pub id: String,
    pub name: String,
    pub account: String,
    pub attempts: u32,
    pub spent_micros: u64,
    pub time_ms: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportAccountOut {
    pub path: String,
    /// One of `subject child closed`.
    pub role: &'static str,
    pub kind: Option<String>,
    pub level: &'static str,
    pub work_units: u64,
    pub opened_at: String,
    pub dimensions: Vec<ReportDimensionOut>,
    pub efficiency: EfficiencyOut,
    pub time_per_level_ms: LevelTimesOut,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportDimensionOut {
    pub dimension: String,
    pub limit: u64,
    /// Consumed in the current period.
    pub consumed: u64,
    pub reserved: u64,
    /// consumed / limit.
    pub utilization: f64,
    /// A closed account's limit left unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waste: Option<u64>,
    pub forecast: Option<ReportForecastOut>,
}

/// Work units per cost unit.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EfficiencyOut {
    /// Per 1,000,000 cost_micros.
    pub work_units_per_dollar: Option<f64>,
    pub work_units_per_1k_tokens: Option<f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LevelTimesOut {
    pub green: u64,
    pub yellow: u64,
    pub orange: u64,
    pub red: u64,
    pub black: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FairnessOut {
    pub dimension: String,
    /// Jain's index over the children's utilizations: 1 is perfectly even.
    pub jain_index: f64,
    pub children: usize,
    pub utilization_min: f64,
    pub utilization_max: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WasteOut {
    pub dimension: String,
    /// Limit the closed children left unused.
    pub unused: u64,
    pub limits: u64,
    pub closed_children: usize,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UtilizationOut {
    pub account: String,
    pub limit: u64,
    pub used: u64,
    pub utilization: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecommendationOut {
    /// Move part of the `from` siblings' allocation to the `to` siblings.
    Move {
        dimension: String,
        account_kind: Option<String>,
        from: Vec<UtilizationOut>,
        to: Vec<UtilizationOut>,
        share: f64,
        amount: u64,
        text: String,
    },
    /// Raise an account's limit by its forecast overage.
    Raise {
        account: String,
        dimension: String,
        limit: u64,
        projected_total: u64,
        by: u64,
        method: &'static str,
        confidence: f64,
        n_backtests: u32,
        text: String,
    },
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChartPointOut {
    pub at: String,
    pub value: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LevelSpanOut {
    pub from: String,
    pub to: String,
    pub level: &'static str,
}

/// The account's main dimension over time, its limit, its forecast and its levels.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChartOut {
    pub dimension: String,
    pub start: String,
    pub now: String,
    pub end: String,
    pub limit: Option<u64>,
    pub consumption: Vec<ChartPointOut>,
    pub forecast: Option<ReportForecastOut>,
    pub levels: Vec<LevelSpanOut>,
}

impl From<&Report> for ReportOut {
    fn from(report: &Report) -> ReportOut {
        ReportOut {
            path: report.path.to_string(),
            kind: report.kind.as_deref().map(str::to_string),
            at: rfc3339(report.at_ms),
            accounts: report.rows.iter().map(account_out).collect(),
            children_omitted: report.n_children_omitted,
            fairness: report
                .fairness
                .iter()
                .map(|fairness| FairnessOut {
                    dimension: fairness.dimension.to_string(),
                    jain_index: fairness.jain_index,
                    children: fairness.n_children,
                    utilization_min: fairness.utilization_min,
                    utilization_max: fairness.utilization_max,
                })
                .collect(),
            waste: report
                .waste
                .iter()
                .map(|waste| WasteOut {
                    dimension: waste.dimension.to_string(),
                    unused: waste.unused,
                    limits: waste.limits,
                    closed_children: waste.n_closed,
                })
                .collect(),
            recommendations: report
                .recommendations
                .iter()
                .map(recommendation_out)
                .collect(),
            chart: report.chart.as_ref().map(chart_out),
            dags: report.dags.iter().map(dag_out).collect(),
            rules: report
                .rules
                .iter()
                .map(|row| ReportRulesOut {
                    account: row.path.to_string(),
                    rules: row.rules.clone(),
                    expires_at: row.expires_ms.map(rfc3339),
                    halt: row.halt.clone(),
                })
                .collect(),
            requests: report
                .requests
                .iter()
                .map(|row| ReportRequestOut {
                    id: purser_core::ledger::request_name(row.id),
                    account: row.path.to_string(),
                    amount: row
                        .amount
                        .iter()
                        .map(|(name, value)| (name.to_string(), *value))
                        .collect(),
                    reason: row.reason.to_string(),
                    requested_at: rfc3339(row.at_ms),
                    state: row.state,
                    note: row.note.as_deref().map(str::to_string),
                })
                .collect(),
        }
    }
}

fn account_out(row: &AccountRow) -> ReportAccountOut {
    let times = row.level_time_ms;
    ReportAccountOut {
        path: row.path.to_string(),
        role: row.role.as_str(),
        kind: row.kind.as_deref().map(str::to_string),
        level: row.level.as_str(),
        work_units: row.work_units,
        opened_at: rfc3339(row.opened_ms),
        dimensions: row
            .dims
            .iter()
            .map(|dim| ReportDimensionOut {
                dimension: dim.dimension.to_string(),
                limit: dim.limit,
                consumed: dim.consumed,
                reserved: dim.reserved,
                utilization: dim.utilization,
                waste: dim.waste,
                forecast: dim.forecast.as_ref().map(ReportForecastOut::from),
            })
            .collect(),
        efficiency: EfficiencyOut {
            work_units_per_dollar: row.efficiency.work_units_per_dollar,
            work_units_per_1k_tokens: row.efficiency.work_units_per_1k_tokens,
        },
        time_per_level_ms: LevelTimesOut {
            green: times[Level::Green as usize],
            yellow: times[Level::Yellow as usize],
            orange: times[Level::Orange as usize],
            red: times[Level::Red as usize],
            black: times[Level::Black as usize],
        },
    }
}

fn utilizations_out(members: &[Utilization]) -> Vec<UtilizationOut> {
    members
        .iter()
        .map(|member| UtilizationOut {
            account: member.name.clone(),
            limit: member.limit,
            used: member.used,
            utilization: member.utilization,
        })
        .collect()
}

fn recommendation_out(recommendation: &Recommendation) -> RecommendationOut {
    match recommendation {
        Recommendation::Move {
            dimension,
            kind,
            from,
            to,
            share,
            amount,
            text,
        } => RecommendationOut::Move {
            dimension: dimension.to_string(),
            account_kind: kind.as_deref().map(str::to_string),
            from: utilizations_out(from),
            to: utilizations_out(to),
            share: *share,
            amount: *amount,
            text: text.clone(),
        },
        Recommendation::Raise {
            account,
            dimension,
            limit,
            projected_total,
            by,
            method,
            confidence,
            n_backtests,
            text,
        } => RecommendationOut::Raise {
            account: account.clone(),
            dimension: dimension.to_string(),
            limit: *limit,
            projected_total: *projected_total,
            by: *by,
            method,
            confidence: *confidence,
            n_backtests: *n_backtests,
            text: text.clone(),
        },
    }
}

fn chart_out(chart: &Chart) -> ChartOut {
    ChartOut {
        dimension: chart.dimension.to_string(),
        start: rfc3339(chart.start_ms),
        now: rfc3339(chart.now_ms),
        end: rfc3339(chart.end_ms),
        limit: chart.limit,
        consumption: chart
            .consumption
            .iter()
            .map(|point| ChartPointOut {
                at: rfc3339(point.at_ms),
                value: point.value.round().max(0.0) as u64,
            })
            .collect(),
        forecast: chart.forecast.as_ref().map(ReportForecastOut::from),
        levels: chart
            .levels
            .iter()
            .map(|span| LevelSpanOut {
                from: rfc3339(span.from_ms),
                to: rfc3339(span.to_ms),
                level: span.level.as_str(),
            })
            .collect(),
    }
}

fn dag_out(dag: &DagCost) -> ReportDagOut {
    ReportDagOut {
        id: format!("dag_{}", dag.id),
        name: dag.name.clone(),
        account: dag.account.clone(),
        state: dag.state,
        spent_micros: dag.spent_micros,
        reserved_micros: dag.reserved_micros,
        projected_micros: dag.projected_micros,
        tasks: dag
            .tasks
            .iter()
            .map(|task| ReportTaskOut {
                id: task.id.clone(),
                name: task.name.clone(),
                account: task.account.clone(),
                attempts: task.attempts,
                spent_micros: task.spent_micros,
                time_ms: task.time_ms,
            })
            .collect(),
        tasks_omitted: dag.n_tasks_omitted,
    }
}
