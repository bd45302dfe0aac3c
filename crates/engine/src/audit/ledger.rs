//! Audit entries of the ledger's committed events: limit changes, closings, enforcement,
//! alerts, reallocations, periods and expiries. Read after the event was folded, so names
//! resolve against the state it left.

use purser_core::{AccountId, DimId, Event, Ledger, Level, action_for};
use serde_json::json;

use super::AuditEntry;
use super::entry::{Names, entry};
use crate::time::rfc3339;

/// The entry of `event` (journaled at `seq`), if it is notable.
pub fn entry_of(ledger: &Ledger, seq: u64, event: &Event) -> Option<AuditEntry> {
    let names = Names { ledger };
    match event {
        Event::AccountOpened { .. }
        | Event::AccountUpdated { .. }
        | Event::AccountClosed { .. } => account_change(&names, seq, event),
        Event::LevelChanged {
            account,
            from,
            to,
            dimension,
            at_ms,
        } => Some(level_changed(
            &names, seq, *account, *from, *to, *dimension, *at_ms,
        )),
        Event::AlertRaised { .. } | Event::AlertCleared { .. } => alert(&names, seq, event),
        Event::Reallocated { .. } => reallocation(&names, seq, event),
        Event::PeriodRenewed {
            account,
            start_ms,
            end_ms,
            limits,
            at_ms,
        } => Some(entry(
            seq,
            *at_ms,
            "period",
            names.path(*account),
            "clock",
            format!("{} began a new budget period", names.path(*account)),
            json!({"start": rfc3339(*start_ms), "end": rfc3339(*end_ms),
                   "limits": names.amounts(limits)}),
        )),
        Event::ReservationExpired { reservation, at_ms } => {
            let account = names.path(ledger.reservation_account(*reservation)?);
            Some(entry(
                seq,
                *at_ms,
                "reservation_expired",
                account.clone(),
                "clock",
                format!("reservation rsv_{reservation} on {account} expired and was released"),
                json!({"id": format!("rsv_{reservation}")}),
            ))
        }
        Event::RulesSet { .. }
        | Event::UsageReset { .. }
        | Event::CapReached { .. }
        | Event::RunFlagged { .. }
        | Event::RunStarted { .. }
        | Event::IncreaseRequested { .. }
        | Event::IncreaseDecided { .. } => super::rules::entry_of(&names, seq, event),
        _ => None,
    }
}

/// An account opened, updated or closed: by the API (the actor's name is added from the
/// command's note, `note.rs`).
fn account_change(names: &Names<'_>, seq: u64, event: &Event) -> Option<AuditEntry> {
    let (kind, account, reason, data, at_ms) = match event {
        Event::AccountOpened {
            path,
            limits,
            at_ms,
            ..
        } => (
            "limit_change",
            path.to_string(),
            format!("account {path} opened"),
            json!({"limits": names.amounts(limits)}),
            at_ms,
        ),
        Event::AccountUpdated {
            account,
            limits,
            at_ms,
            ..
        } => (
            "limit_change",
            names.path(*account),
            format!("account {} updated", names.path(*account)),
            json!({"limits": names.amounts(limits)}),
            at_ms,
        ),
        Event::AccountClosed { account, at_ms } => (
            "account_closed",
            names.path(*account),
            format!(
                "account {} closed; its limit went back to its parent",
                names.path(*account)
            ),
            json!({}),
            at_ms,
        ),
        _ => return None,
    };
    Some(entry(seq, *at_ms, kind, account, "api", reason, data))
}

/// A grant or a reclaim by the optimizer.
fn reallocation(names: &Names<'_>, seq: u64, event: &Event) -> Option<AuditEntry> {
    let Event::Reallocated {
        account,
        dimension,
        from,
        to,
        kind,
        reason,
        at_ms,
    } = event
    else {
        return None;
    };
    // The replay's check refuses a grant that lowers a limit; the audit does not count on it.
    let delta = to.abs_diff(*from);
    Some(entry(
        seq,
        *at_ms,
        "reallocation",
        names.path(*account),
        "optimizer",
        reason.to_string(),
        json!({"kind": kind.name(), "dimension": names.dim(*dimension), "from": from,
               "to": to, "delta": delta}),
    ))
}

#[allow(clippy::too_many_arguments)]
fn level_changed(
    names: &Names<'_>,
    seq: u64,
    account: AccountId,
    from: Level,
    to: Level,
    dimension: Option<DimId>,
    at_ms: u64,
) -> AuditEntry {
    let acc = names.ledger.account(account);
    let action = action_for(to, acc.config.throttle_rate_ppm);
    let by_forecast =
        to == Level::Yellow && acc.alert.is_some_and(|alert| Some(alert.dim) == dimension);
    let dimension = dimension.map(|dim| names.dim(dim));
    let path = &acc.path;
    let reason = match &dimension {
        Some(name) if by_forecast => {
            format!("{path} warned: the forecast sees {name} exhausted soon")
        }
        Some(name) => format!(
            "{path} moved from {} to {} on {name}",
            from.as_str(),
            to.as_str()
        ),
        None => format!("{path} moved from {} to {}", from.as_str(), to.as_str()),
    };
    let rules = names.ledger.rules(account);
    let reason = match rules {
        Some(rules) if rules.warn_only.covers(to) => {
            format!("{reason} (shadow mode: the agent is only warned)")
        }
        Some(rules) if rules.pause_at_stop && to == Level::Black => {
            format!("{reason}: paused until the budget is raised")
        }
        Some(rules) if rules.pause_at_stop && from == Level::Black => {
            format!("{reason}: resumed")
        }
        _ => reason,
    };
    let data = json!({"from": from.as_str(), "level": to.as_str(), "action": action.kind(),
                      "dimension": dimension});
    AuditEntry {
        level: Some((at_ms, to)),
        ..entry(
            seq,
            at_ms,
            "enforcement",
            path.to_string(),
            "api",
            reason,
            data,
        )
    }
}

fn alert(names: &Names<'_>, seq: u64, event: &Event) -> Option<AuditEntry> {
    match event {
        Event::AlertRaised {
            account,
            dimension,
            method,
            projected_total,
            exhausts_at_ms,
            confidence_ppm,
            at_ms,
        } => {
            let confidence = f64::from(*confidence_ppm) / 1e6;
            let reason = if method.as_ref() == purser_core::watch::COMMITTED_METHOD {
                format!(
                    "{} would pass its stop threshold in {}: the DAG tasks committed on it and not started yet bring it to {projected_total}",
                    names.path(*account),
                    names.dim(*dimension),
                )
            } else {
                format!(
                    "{} forecast to reach its stop threshold in {} at {} ({method}, confidence {confidence:.2})",
                    names.path(*account),
                    names.dim(*dimension),
                    rfc3339(*exhausts_at_ms),
                )
            };
            Some(entry(
                seq,
                *at_ms,
                "alert",
                names.path(*account),
                "forecast",
                reason,
                json!({"dimension": names.dim(*dimension), "raised": true,
                       "method": method.as_ref(), "projected_total": projected_total,
                       "exhausts_at": rfc3339(*exhausts_at_ms), "confidence": confidence}),
            ))
        }
        Event::AlertCleared {
            account,
            dimension,
            at_ms,
        } => Some(entry(
            seq,
            *at_ms,
            "alert",
            names.path(*account),
            "forecast",
            format!(
                "{} no longer forecast to exhaust {}",
                names.path(*account),
                names.dim(*dimension)
            ),
            json!({"dimension": names.dim(*dimension), "raised": false}),
        )),
        _ => None,
    }
}
