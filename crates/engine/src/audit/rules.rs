//! Audit entries of budget rules: rules set, manual resets, caps reached, new runs and requests
//! for more budget.

use purser_core::Event;
use purser_core::ledger::request_name;
use serde_json::json;

use super::AuditEntry;
use super::entry::{Names, entry};
use crate::time::rfc3339;

pub(super) fn entry_of(names: &Names<'_>, seq: u64, event: &Event) -> Option<AuditEntry> {
    Some(match event {
        Event::RulesSet {
            account,
            rules,
            at_ms,
        } => {
            let path = names.path(*account);
            let warn_only: Vec<&str> = rules
                .warn_only
                .levels()
                .map(|level| level.as_str())
                .collect();
            entry(
                seq,
                *at_ms,
                "rules",
                path.clone(),
                "api",
                if rules.is_empty() {
                    format!("{path}'s budget rules were removed")
                } else {
                    format!("{path}'s budget rules were set")
                },
                json!({
                    "warn_only": warn_only,
                    "child_defaults": rules.child_defaults.as_ref().map(|d| names.amounts(d)),
                    "expires_at": rules.expires_ms.map(rfc3339),
                    "pause_at_stop": rules.pause_at_stop,
                    "max_turns": rules.run.and_then(|run| run.max_turns),
                    "max_wall_ms": rules.run.and_then(|run| run.max_wall_ms),
                    "loop": rules.run.and_then(|run| run.loops).map(|rule| json!({
                        "repeats": rule.repeats, "window_ms": rule.window_ms, "stop": rule.stop})),
                }),
            )
        }
        Event::UsageReset { account, at_ms } => {
            let path = names.path(*account);
            entry(
                seq,
                *at_ms,
                "usage_reset",
                path.clone(),
                "api",
                format!(
                    "{path}'s budget window was reset by hand: what it spent so far no longer counts"
                ),
                json!({}),
            )
        }
        Event::CapReached {
            account,
            cap,
            stops,
            detail,
            at_ms,
        }
        | Event::RunFlagged {
            account,
            cap,
            stops,
            detail,
            at_ms,
        } => {
            let path = names.path(*account);
            let what = match (cap, stops) {
                (purser_core::rules::Cap::Expired, _) => "budget expired",
                (purser_core::rules::Cap::Loop, false) => "loop detected",
                (purser_core::rules::Cap::Loop, true) => "loop detected, run stopped",
                _ => "run cap reached, run stopped",
            };
            let actor = if matches!(event, Event::CapReached { .. }) {
                "clock"
            } else {
                "api"
            };
            entry(
                seq,
                *at_ms,
                "run_cap",
                path.clone(),
                actor,
                format!("{path}: {what}: {detail}"),
                json!({"cap": cap.name(), "stops": stops}),
            )
        }
        Event::RunStarted { account, at_ms } => {
            let path = names.path(*account);
            entry(
                seq,
                *at_ms,
                "run_started",
                path.clone(),
                "api",
                format!("{path} started a new run: its turns and wall time count from zero"),
                json!({}),
            )
        }
        Event::IncreaseRequested {
            account,
            amount,
            reason,
            at_ms,
            ..
        } => {
            let path = names.path(*account);
            entry(
                seq,
                *at_ms,
                "increase_request",
                path.clone(),
                "api",
                format!("{path} asked for more budget: {reason}"),
                json!({"id": request_name(seq), "amount": names.amounts(amount),
                       "state": "pending"}),
            )
        }
        Event::IncreaseDecided {
            request,
            approved,
            limits,
            note,
            at_ms,
        } => {
            let found = names.ledger.increase_request(*request);
            let path = found.map_or_else(String::new, |found| names.path(found.account));
            let verb = if *approved { "approved" } else { "rejected" };
            let mut reason = format!("{} for {path} {verb}", request_name(*request));
            if !note.is_empty() {
                reason.push_str(&format!(": {note}"));
            }
            entry(
                seq,
                *at_ms,
                "increase_request",
                path,
                "api",
                reason,
                json!({"id": request_name(*request), "state": verb,
                       "limits": names.amounts(limits)}),
            )
        }
        _ => return None,
    })
}
