//! The budget rules of a report's accounts, and the increase requests made on them, in words.

use std::sync::Arc;

use crate::account::AccountId;
use crate::amount::group_digits;
use crate::ledger::Ledger;
use crate::path::AccountPath;
use crate::rules::Rules;

/// Requests a report lists at most, newest first.
pub const REQUESTS_MAX: usize = 50;

/// One account's rules and the cap in force on it.
#[derive(Clone, Debug, PartialEq)]
pub struct RulesRow {
    pub path: AccountPath,
    /// Each rule as a phrase: `shadow mode at stop`, `run cap 200 turns`, ...
    pub rules: Vec<String>,
    /// A one-time budget's expiry.
    pub expires_ms: Option<u64>,
    /// The cap in force, if any: what it is and why.
    pub halt: Option<String>,
}

/// An increase request on one of the report's accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRow {
    pub id: u64,
    pub path: AccountPath,
    pub amount: Vec<(Arc<str>, u64)>,
    pub reason: Arc<str>,
    pub at_ms: u64,
    /// `pending`, `approved` or `rejected`.
    pub state: &'static str,
    pub note: Option<Arc<str>>,
}

/// The rules and periods of `accounts` that have any, in their order.
pub fn rules_rows(ledger: &Ledger, accounts: &[AccountId]) -> Vec<RulesRow> {
    accounts
        .iter()
        .filter_map(|&id| {
            let rules = ledger.rules(id);
            let halt = ledger.halt(id);
            let period = ledger.account(id).config.period.as_ref().map(period_phrase);
            if rules.is_none() && halt.is_none() && period.is_none() {
                return None;
            }
            let mut said: Vec<String> = period.into_iter().collect();
            said.extend(
                rules
                    .map(|rules| phrases(ledger, rules))
                    .unwrap_or_default(),
            );
            Some(RulesRow {
                path: ledger.account(id).path.clone(),
                rules: said,
                expires_ms: rules.and_then(|rules| rules.expires_ms),
                halt: halt.map(|halt| {
                    let what = if halt.stops { "stopped" } else { "flagged" };
                    format!("{what} ({}): {}", halt.cap.name(), halt.detail)
                }),
            })
        })
        .collect()
}

/// The window an account renews on, as it reads.
fn period_phrase(spec: &crate::account::PeriodSpec) -> String {
    use crate::account::PeriodUnit;
    let unit = match spec.every {
        PeriodUnit::Quarter { fiscal_start_month } if fiscal_start_month != 1 => {
            format!("quarter (fiscal year from month {fiscal_start_month})")
        }
        PeriodUnit::Lifetime => "lifetime (never renews)".to_string(),
        every => every.name().to_string(),
    };
    format!("period: {unit}, {}", spec.timezone)
}

fn phrases(ledger: &Ledger, rules: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    if !rules.warn_only.is_empty() {
        let levels: Vec<&str> = rules
            .warn_only
            .levels()
            .map(|level| crate::level::action_for(level, 0).kind())
            .collect();
        out.push(format!("shadow mode: only warns at {}", levels.join(", ")));
    }
    if let Some(defaults) = &rules.child_defaults {
        let limits: Vec<String> = defaults
            .iter()
            .map(|(dim, value)| {
                format!("{} {}", group_digits(value), ledger.dimensions().name(dim))
            })
            .collect();
        out.push(format!("new children get {}", limits.join(", ")));
    }
    if rules.pause_at_stop {
        out.push("pauses at stop".into());
    }
    if let Some(run) = rules.run {
        if let Some(turns) = run.max_turns {
            out.push(format!("run cap {} turns", group_digits(turns)));
        }
        if let Some(wall_ms) = run.max_wall_ms {
            out.push(format!("run cap {} s of wall time", wall_ms / 1000));
        }
        if let Some(rule) = run.loops {
            let then = if rule.stop { "stop" } else { "alert" };
            out.push(format!(
                "loop: {} near-identical reports in {} s, {then}",
                rule.repeats,
                rule.window_ms / 1000
            ));
        }
    }
    out
}

/// The increase requests on `accounts`, newest first, at most [`REQUESTS_MAX`].
pub fn request_rows(ledger: &Ledger, accounts: &[AccountId]) -> Vec<RequestRow> {
    let shown: rustc_hash::FxHashSet<AccountId> = accounts.iter().copied().collect();
    ledger
        .increase_requests(false)
        .filter(|(_, request)| shown.contains(&request.account))
        .take(REQUESTS_MAX)
        .map(|(id, request)| RequestRow {
            id,
            path: ledger.account(request.account).path.clone(),
            amount: request
                .amount
                .iter()
                .map(|(dim, value)| (ledger.dimensions().name(dim).clone(), value))
                .collect(),
            reason: request.reason.clone(),
            at_ms: request.at_ms,
            state: match &request.decision {
                None => "pending",
                Some(decision) if decision.approved => "approved",
                Some(_) => "rejected",
            },
            note: request
                .decision
                .as_ref()
                .filter(|decision| !decision.note.is_empty())
                .map(|decision| decision.note.clone()),
        })
        .collect()
}
