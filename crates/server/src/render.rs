//! Rendering the core's answers for the wire, names resolved. Runs on the engine thread, which
//! alone can read the ledger.

use purser_core::{AccountId, Action, Amounts, Answer, Ledger, UsageAnswer, Verdict};

use crate::engine::Reply;
use crate::error::ApiError;
use crate::wire::*;

pub fn action(action: &Action) -> ActionOut {
    match action {
        Action::Throttle { rate } => ActionOut {
            kind: action.kind(),
            rate: Some(*rate),
        },
        other => ActionOut {
            kind: other.kind(),
            rate: None,
        },
    }
}

pub fn fired(ledger: &Ledger, verdict: &Verdict) -> Option<FiredOut> {
    verdict.fired.map(|fired| FiredOut {
        account: ledger.account(fired.account).path.to_string(),
        dimension: ledger.dimensions().name(fired.dimension).to_string(),
        fraction: fired.fraction,
    })
}

pub fn amounts(ledger: &Ledger, amounts: &Amounts) -> AmountMap {
    amounts
        .iter()
        .map(|(dim, value)| (ledger.dimensions().name(dim).to_string(), value))
        .collect()
}

pub fn usage(ledger: &Ledger, answer: &UsageAnswer) -> UsageOut {
    UsageOut {
        seq: answer.seq,
        duplicate: answer.duplicate,
        level: answer.verdict.level.as_str(),
        action: action(&answer.verdict.action),
        fired: fired(ledger, &answer.verdict),
        remaining: amounts(ledger, &answer.remaining),
        expired: answer.expired,
    }
}

pub fn account(ledger: &Ledger, id: AccountId) -> AccountOut {
    let status = ledger.status(id);
    let mut out = AccountOut {
        path: status.path.to_string(),
        kind: status.config.kind.as_deref().map(str::to_string),
        limits: AmountMap::new(),
        consumed: AmountMap::new(),
        reserved: AmountMap::new(),
        remaining: AmountMap::new(),
        pool: AmountMap::new(),
        fraction: status.fraction,
        level: status.verdict.level.as_str(),
        action: action(&status.verdict.action),
        fired: fired(ledger, &status.verdict),
        children: status
            .children
            .iter()
            .map(|name| name.to_string())
            .collect(),
        last_activity_at: status.last_activity_ms.map(rfc3339),
        seq: status.seq,
        weight: status.config.weight,
        priority: status.config.priority,
        labels: status.config.labels.clone(),
        thresholds: ThresholdsOut {
            warn: ppm(status.config.thresholds.warn_ppm),
            throttle: ppm(status.config.thresholds.throttle_ppm),
            degrade: ppm(status.config.thresholds.degrade_ppm),
            stop: ppm(status.config.thresholds.stop_ppm),
        },
        throttle_rate: ppm(status.config.throttle_rate_ppm),
        reserve: ppm(status.config.reserve_ppm),
        open_reservations: status.open_reservations,
        work_units: status.work_units,
    };
    for dim in &status.dims {
        let name = dim.name.to_string();
        out.consumed.insert(name.clone(), dim.consumed);
        out.reserved.insert(name.clone(), dim.reserved);
        if let (Some(limit), Some(remaining), Some(pool)) = (dim.limit, dim.remaining, dim.pool) {
            out.limits.insert(name.clone(), limit);
            out.remaining.insert(name.clone(), remaining);
            out.pool.insert(name, pool);
        }
    }
    out
}

fn ppm(value: u32) -> f64 {
    f64::from(value) / 1_000_000.0
}

/// The path of the account a reservation holds on, if the reservation is known.
pub fn reservation_account(ledger: &Ledger, id: u64) -> Option<String> {
    ledger
        .reservation_account(id)
        .map(|account| ledger.account(account).path.to_string())
}

pub fn answer(ledger: &Ledger, answer: Answer) -> Reply {
    match answer {
        Answer::Account { account: id, .. } => Reply::Account(Box::new(account(ledger, id))),
        Answer::Closed { account } => Reply::Closed(ClosedOut {
            path: ledger.account(account).path.to_string(),
            closed: true,
        }),
        Answer::Allocated {
            parent,
            allocations,
        } => {
            let allocations = allocations
                .iter()
                .map(|(id, limits)| AllocationOut {
                    path: ledger.account(*id).path.to_string(),
                    limits: amounts(ledger, limits),
                })
                .collect();
            Reply::Allocated(AllocateOut {
                allocations,
                pool: account(ledger, parent).pool,
            })
        }
        Answer::Usage(answer) => Reply::Usage(usage(ledger, &answer)),
        Answer::Reserved(reserved) => Reply::Reserved(ReservationOut {
            id: format!("rsv_{}", reserved.reservation),
            expires_at: rfc3339(reserved.expires_ms),
            level: reserved.verdict.level.as_str(),
            action: action(&reserved.verdict.action),
            fired: fired(ledger, &reserved.verdict),
            duplicate: reserved.duplicate,
        }),
        Answer::Denied(denial) => {
            let account_path = ledger.account(denial.account).path.to_string();
            let dimension = ledger.dimensions().name(denial.dimension).to_string();
            let message = format!(
                "{account_path} would reach its stop threshold in {dimension}: {} requested, {} available",
                denial.requested, denial.available
            );
            Reply::Error(ApiError::budget(
                "budget_exhausted",
                message,
                account_path,
                dimension,
                denial.requested,
                denial.available,
            ))
        }
        Answer::Voided { reservation } => Reply::Voided(VoidOut {
            id: format!("rsv_{reservation}"),
            state: "void",
        }),
        Answer::Expired { count } => Reply::Expired(count),
        // The manager's own commands come from the clock, never from a request.
        Answer::Alerted { .. } | Answer::Reallocated { .. } | Answer::Renewed { .. } => {
            Reply::Error(ApiError::new(
                500,
                "internal",
                "the manager's commands have no rendering".to_string(),
            ))
        }
    }
}
