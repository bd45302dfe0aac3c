//! Budget rules on the wire: the `rules` of `PUT /v1/accounts/{path}`, what an account shows of
//! them, and increase requests (`POST /v1/accounts/{path}:request`, `/v1/requests`).

use purser_core::Level;
use purser_core::ledger::{RulesSpec, request_name};
use purser_core::rules::{LoopRule, RunCaps, WarnOnly};
use purser_engine::view::rules::{HaltView, RequestView, RulesView, RunView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AmountMap, AmountsIn, WireError, named, rfc3339};

/// The longest run wall time and loop window: a year.
const SECONDS_MAX: f64 = 366.0 * 24.0 * 3600.0;

/// `warn_only`: `true` for the whole account (throttle, degrade and stop only warn), or the
/// levels that only warn by their action's name (`["stop"]`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WarnOnlyIn {
    All(bool),
    Levels(Vec<String>),
}

/// An account's rules; replacing them replaces every field (`{}` removes them).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesIn {
    /// Shadow mode.
    #[schema(value_type = Option<serde_json::Value>)]
    pub warn_only: Option<WarnOnlyIn>,
    /// Limits each new child gets in the dimensions it does not name.
    #[schema(value_type = Option<super::schemas::AmountsIn>)]
    pub child_defaults: Option<AmountsIn>,
    /// A one-time budget: RFC 3339; at this time the account stops (or pauses) for good.
    pub expires_at: Option<String>,
    /// `stop` (default: fail) or `pause` (idle until the budget is raised).
    pub at_stop: Option<String>,
    pub run: Option<RunIn>,
}

/// Caps on one unattended run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIn {
    /// Reports and settlements one run may make.
    pub max_turns: Option<u64>,
    /// Seconds one run may last.
    pub max_wall_s: Option<f64>,
    #[serde(rename = "loop")]
    pub loops: Option<LoopIn>,
}

/// Loop detection: `repeats` near-identical reports (same operation, amounts within 5 %)
/// within `window_s`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopIn {
    pub repeats: u32,
    pub window_s: f64,
    /// Stop the run (default: only raise the alert).
    #[serde(default)]
    pub stop: bool,
}

fn seconds_to_ms(value: f64, field: &str) -> Result<u64, WireError> {
    if !(value.is_finite() && value > 0.0 && value <= SECONDS_MAX) {
        return Err(WireError::invalid(
            "invalid_field",
            field,
            format!("{field} must be above 0 and at most a year in seconds, not {value}"),
        ));
    }
    Ok((value * 1e3).round().max(1.0) as u64)
}

/// A level by the name of its action or of its color.
fn level_of(name: &str) -> Option<Level> {
    match name {
        "throttle" | "orange" => Some(Level::Orange),
        "degrade" | "red" => Some(Level::Red),
        "stop" | "black" => Some(Level::Black),
        _ => None,
    }
}

/// An RFC 3339 time in milliseconds.
pub fn time_ms(text: &str, field: &str) -> Result<u64, WireError> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|at| u64::try_from(at.as_millisecond()).ok())
        .ok_or_else(|| {
            WireError::invalid(
                "invalid_field",
                field,
                format!("{field} must be an RFC 3339 time, not {text:?}"),
            )
        })
}

impl RulesIn {
    pub fn into_spec(self) -> Result<RulesSpec, WireError> {
        let warn_only = match self.warn_only {
            None | Some(WarnOnlyIn::All(false)) => WarnOnly::default(),
            Some(WarnOnlyIn::All(true)) => WarnOnly::ACCOUNT,
            Some(WarnOnlyIn::Levels(names)) => {
                let mut set = WarnOnly::default();
                for name in names {
                    let level = level_of(&name).ok_or_else(|| {
                        WireError::invalid(
                            "invalid_field",
                            "rules.warn_only",
                            format!(
                                "rules.warn_only names throttle, degrade or stop, not {name:?}"
                            ),
                        )
                    })?;
                    set = set.with(level);
                }
                set
            }
        };
        let pause_at_stop = match self.at_stop.as_deref() {
            None | Some("stop") => false,
            Some("pause") => true,
            Some(other) => {
                return Err(WireError::invalid(
                    "invalid_field",
                    "rules.at_stop",
                    format!("rules.at_stop must be stop or pause, not {other:?}"),
                ));
            }
        };
        let run = self
            .run
            .map(|run| -> Result<RunCaps, WireError> {
                Ok(RunCaps {
                    max_turns: run.max_turns,
                    max_wall_ms: run
                        .max_wall_s
                        .map(|s| seconds_to_ms(s, "rules.run.max_wall_s"))
                        .transpose()?,
                    loops: run
                        .loops
                        .map(|rule| -> Result<LoopRule, WireError> {
                            Ok(LoopRule {
                                repeats: rule.repeats,
                                window_ms: seconds_to_ms(rule.window_s, "rules.run.loop.window_s")?,
                                stop: rule.stop,
                            })
                        })
                        .transpose()?,
                })
            })
            .transpose()?;
        Ok(RulesSpec {
            warn_only,
            child_defaults: self.child_defaults.map(named),
            expires_ms: self
                .expires_at
                .as_deref()
                .map(|text| time_ms(text, "rules.expires_at"))
                .transpose()?,
            pause_at_stop,
            run,
        })
    }
}

/// An account's rules as it shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RulesOut {
    /// The levels that only warn, by their action: `throttle`, `degrade`, `stop`.
    pub warn_only: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::schemas::Amounts>)]
    pub child_defaults: Option<AmountMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub at_stop: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunOut>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunOut {
    pub max_turns: Option<u64>,
    pub max_wall_s: Option<f64>,
    #[serde(rename = "loop")]
    pub loops: Option<LoopOut>,
    /// The current run: when it started and the turns it made.
    pub started_at: Option<String>,
    pub turns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoopOut {
    pub repeats: u32,
    pub window_s: f64,
    pub stop: bool,
}

/// A cap in force: `cap` is `turns`, `wall_time`, `loop` or `expired`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HaltOut {
    pub cap: String,
    pub stops: bool,
    pub detail: String,
    pub at: String,
}

impl RulesOut {
    pub fn of(rules: RulesView, run: Option<RunView>) -> RulesOut {
        RulesOut {
            warn_only: rules
                .warn_only
                .iter()
                .map(|level| purser_core::action_for(*level, 0).kind().to_string())
                .collect(),
            child_defaults: rules.child_defaults,
            expires_at: rules.expires_ms.map(rfc3339),
            at_stop: if rules.pause_at_stop { "pause" } else { "stop" }.into(),
            run: rules.run.map(|caps| RunOut {
                max_turns: caps.max_turns,
                max_wall_s: caps.max_wall_ms.map(|ms| ms as f64 / 1e3),
                loops: caps.loops.map(|rule| LoopOut {
                    repeats: rule.repeats,
                    window_s: rule.window_ms as f64 / 1e3,
                    stop: rule.stop,
                }),
                started_at: run.as_ref().map(|run| rfc3339(run.started_ms)),
                turns: run.as_ref().map(|run| run.turns),
            }),
        }
    }
}

impl From<HaltView> for HaltOut {
    fn from(view: HaltView) -> HaltOut {
        HaltOut {
            cap: view.cap.name().into(),
            stops: view.stops,
            detail: view.detail,
            at: rfc3339(view.at_ms),
        }
    }
}

/// `POST /v1/accounts/{path}:request`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncreaseIn {
    /// How much more, per dimension the account limits.
    #[schema(value_type = super::schemas::AmountsIn)]
    pub amount: AmountsIn,
    /// Why, for the operator who decides (1 to 512 bytes).
    pub reason: String,
    /// A retry with the same key on the same account answers the first request (as it stands
    /// now) instead of filing a second.
    pub idempotency_key: Option<String>,
}

/// `POST /v1/requests/{id}:approve` or `:reject`; the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    /// A word for the audit log and the requester (at most 512 bytes).
    pub note: Option<String>,
}

/// An increase request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestOut {
    /// `req_<seq>`.
    pub id: String,
    pub account: String,
    #[schema(value_type = super::schemas::Amounts)]
    pub amount: AmountMap,
    pub reason: String,
    pub requested_at: String,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// After an approval: the account's limits in the dimensions raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::schemas::Amounts>)]
    pub limits: Option<AmountMap>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestsOut {
    pub requests: Vec<RequestOut>,
}

impl From<RequestView> for RequestOut {
    fn from(view: RequestView) -> RequestOut {
        RequestOut {
            id: request_name(view.id),
            account: view.account,
            amount: view.amount,
            reason: view.reason,
            requested_at: rfc3339(view.at_ms),
            state: view.state.into(),
            note: view.note,
            decided_at: view.decided_ms.map(rfc3339),
            limits: view.limits,
        }
    }
}
