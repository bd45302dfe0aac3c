//! What the replay answers, line by line: the ledger's and the foresight's events as
//! [`ReplayLine`]s.

use serde::Serialize;

use super::{Summary, TraceReplay};
use crate::account::AccountId;
use crate::event::{Event, ReallocationKind};
use crate::ledger::Ledger;
use crate::level::action_for;

/// One line of the replay's output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplayLine {
    Forecast {
        at_ms: u64,
        account: String,
        dimension: String,
        method: &'static str,
        consumed: u64,
        limit: Option<u64>,
        projected_total: u64,
        time_to_exhaustion_s: Option<u64>,
        interval_low: u64,
        interval_high: Option<u64>,
        confidence: f64,
    },
    Level {
        at_ms: u64,
        account: String,
        level: &'static str,
        action: &'static str,
    },
    Alert {
        at_ms: u64,
        account: String,
        dimension: String,
        raised: bool,
        method: Option<String>,
        projected_total: Option<u64>,
        exhausts_at_ms: Option<u64>,
        confidence: Option<f64>,
    },
    Grant {
        at_ms: u64,
        account: String,
        dimension: String,
        from: u64,
        to: u64,
        reason: String,
    },
    Reclaim {
        at_ms: u64,
        account: String,
        dimension: String,
        from: u64,
        to: u64,
        reason: String,
    },
    Summary(Summary),
}

impl TraceReplay {
    /// Turns the events decided so far into output lines.
    pub(super) fn drain(&mut self, out: &mut Vec<ReplayLine>) {
        for event in self.events.drain(..) {
            let name =
                |ledger: &Ledger, account: AccountId| ledger.account(account).path.to_string();
            let dim_name = |ledger: &Ledger, dim| ledger.dimensions().name(dim).to_string();
            match event {
                Event::LevelChanged {
                    account, to, at_ms, ..
                } => {
                    self.tally.note_level(account, to, at_ms);
                    let rate = self.ledger.account(account).config.throttle_rate_ppm;
                    out.push(ReplayLine::Level {
                        at_ms,
                        account: name(&self.ledger, account),
                        level: to.as_str(),
                        action: action_for(to, rate).kind(),
                    });
                }
                Event::AlertRaised {
                    account,
                    dimension,
                    method,
                    projected_total,
                    exhausts_at_ms,
                    confidence_ppm,
                    at_ms,
                } => {
                    out.push(ReplayLine::Alert {
                        at_ms,
                        account: name(&self.ledger, account),
                        dimension: dim_name(&self.ledger, dimension),
                        raised: true,
                        method: Some(method.to_string()),
                        projected_total: Some(projected_total),
                        exhausts_at_ms: Some(exhausts_at_ms),
                        confidence: Some(f64::from(confidence_ppm) / 1e6),
                    });
                }
                Event::AlertCleared {
                    account,
                    dimension,
                    at_ms,
                } => out.push(ReplayLine::Alert {
                    at_ms,
                    account: name(&self.ledger, account),
                    dimension: dim_name(&self.ledger, dimension),
                    raised: false,
                    method: None,
                    projected_total: None,
                    exhausts_at_ms: None,
                    confidence: None,
                }),
                Event::Reallocated {
                    account,
                    dimension,
                    from,
                    to,
                    kind,
                    reason,
                    at_ms,
                } => {
                    let (account, dimension, reason) = (
                        name(&self.ledger, account),
                        dim_name(&self.ledger, dimension),
                        reason.to_string(),
                    );
                    out.push(match kind {
                        ReallocationKind::Grant => ReplayLine::Grant {
                            at_ms,
                            account,
                            dimension,
                            from,
                            to,
                            reason,
                        },
                        ReallocationKind::Reclaim => ReplayLine::Reclaim {
                            at_ms,
                            account,
                            dimension,
                            from,
                            to,
                            reason,
                        },
                    });
                }
                _ => {}
            }
        }
    }
}
