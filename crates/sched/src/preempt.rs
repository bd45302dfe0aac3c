//! Priority preemption within a cohort: which running work a denied request may stop to get in,
//! in the spirit of Kueue's `reclaimWithinCohort` / `borrowWithinCohort: LowerPriority`.
//!
//! The rule. A request the quotas deny may stop running work that runs on the same pool, has a
//! strictly lower priority, and belongs to a tenant that is borrowing (above its nominal quota)
//! at the moment it is picked. Candidates go lowest priority first, then newest (highest id)
//! first, and are taken only while their tenant still borrows, until the request fits. Then
//! victims whose stop turned out unneeded are spared, the last taken first. If no such set lets
//! the request in, nothing is stopped and the quotas' denial is returned.
//!
//! Why it cannot loop. Work stops only for strictly higher priority work, so a stopped task that
//! retries can never stop the work that stopped it, nor anything of its preemptor's priority or
//! above. Each preemption removes running priorities below `p` and adds one `p`: the running
//! priorities, sorted from highest, grow in lexicographic order at every preemption, so no
//! sequence of preemptions and retries comes back to an earlier state. And since only borrowed
//! capacity is taken back, a tenant within its nominal quota is never preempted.

use crate::quota::{QuotaDenial, Quotas};
use crate::resources::Resources;

/// Candidates looked at per request: a bound on the work of one decision.
const MAX_CANDIDATES: usize = 1_000;

/// A piece of work the quotas count: running, or asking to run.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaHolder {
    pub id: u64,
    pub tenant: String,
    pub pool: String,
    pub priority: i32,
    pub requests: Resources,
}

/// The ids of the running work to stop so that `incoming` is admitted: empty when it fits as
/// is, the quotas' denial when even the rule's candidates would not make room. Nothing is
/// changed; the caller releases the victims and admits `incoming`.
pub fn preemptions(
    quotas: &Quotas,
    running: &[QuotaHolder],
    incoming: &QuotaHolder,
) -> Result<Vec<u64>, QuotaDenial> {
    let fits = |quotas: &Quotas| {
        quotas
            .clone()
            .try_admit(&incoming.tenant, &incoming.pool, &incoming.requests)
    };
    let denial = match fits(quotas) {
        Ok(()) => return Ok(Vec::new()),
        Err(denial) => denial,
    };
    let mut candidates: Vec<&QuotaHolder> = running
        .iter()
        .filter(|holder| holder.pool == incoming.pool && holder.priority < incoming.priority)
        .collect();
    candidates.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.id.cmp(&a.id)));
    candidates.truncate(MAX_CANDIDATES);
    let mut state = quotas.clone();
    let mut victims: Vec<&QuotaHolder> = Vec::new();
    for candidate in candidates {
        if fits(&state).is_ok() {
            break;
        }
        if state.borrowing(&candidate.tenant, &candidate.pool) {
            state.release(&candidate.tenant, &candidate.pool, &candidate.requests);
            victims.push(candidate);
        }
    }
    if fits(&state).is_err() {
        return Err(denial);
    }
    // Spare the victims the request does not need, the last taken first.
    for victim_idx in (0..victims.len()).rev() {
        let victim = victims[victim_idx];
        let mut spared = state.clone();
        if spared
            .try_admit(&victim.tenant, &victim.pool, &victim.requests)
            .is_ok()
            && fits(&spared).is_ok()
        {
            state = spared;
            victims.remove(victim_idx);
        }
    }
    Ok(victims.iter().map(|victim| victim.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::QuotaLimit;
    use crate::resources::Dimension;

    fn holder(id: u64, tenant: &str, priority: i32, cores: u64) -> QuotaHolder {
        QuotaHolder {
            id,
            tenant: tenant.into(),
            pool: "p".into(),
            priority,
            requests: Resources::cores(cores),
        }
    }

    /// Tenants a and b, 4 cores each, all lendable; admits `running` in order.
    fn check(running: &[QuotaHolder], incoming: QuotaHolder, expected: Result<Vec<u64>, &str>) {
        let mut quotas = Quotas::default();
        for tenant in ["a", "b"] {
            let limit = QuotaLimit {
                nominal: 4,
                borrowing_limit: None,
                lending_limit: None,
            };
            quotas.set(tenant, "p", Dimension::Cores, limit);
        }
        for holder in running {
            quotas
                .try_admit(&holder.tenant, &holder.pool, &holder.requests)
                .unwrap();
        }
        let got = preemptions(&quotas, running, &incoming).map_err(|denial| denial.reason);
        assert_eq!(got, expected, "{running:?} then {incoming:?}");
    }

    #[test]
    fn takes_back_borrowed_capacity_from_lower_priorities_only() {
        // Fits as is: nothing to stop.
        check(&[holder(1, "b", 0, 4)], holder(2, "a", 1, 4), Ok(vec![]));
        // b borrows a's 4 cores at priority 0: a's request at priority 1 takes them back,
        // newest first, and stops no more than it needs.
        let borrowing_b = [
            holder(1, "b", 0, 4),
            holder(2, "b", 0, 2),
            holder(3, "b", 0, 2),
        ];
        check(&borrowing_b, holder(4, "a", 1, 2), Ok(vec![3]));
        check(&borrowing_b, holder(4, "a", 1, 4), Ok(vec![3, 2]));
        // Equal priority: no preemption, the denial stands.
        check(
            &borrowing_b,
            holder(4, "a", 0, 2),
            Err("cohort has nothing left to lend"),
        );
        // b within its nominal is never preempted, whatever the priority.
        check(
            &[holder(1, "b", 0, 4), holder(2, "a", 0, 4)],
            holder(3, "a", 9, 1),
            Err("cohort has nothing left to lend"),
        );
        // The lowest priority goes first, even when a higher one would free less.
        let mixed = [
            holder(1, "b", 0, 4),
            holder(2, "b", 2, 3),
            holder(3, "b", 1, 1),
        ];
        check(&mixed, holder(4, "a", 3, 1), Ok(vec![1]));
        // A victim found unneeded afterwards is spared: stopping 1 (priority 0) was not enough,
        // 3 alone is.
        let spare = [
            holder(1, "b", 0, 1),
            holder(2, "b", 1, 3),
            holder(3, "b", 1, 4),
        ];
        check(&spare, holder(4, "a", 3, 4), Ok(vec![3]));
    }
}
