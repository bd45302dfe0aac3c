//! Priority preemption of borrowing work: random cohorts and arrivals, every preempted task
//! retried. Quotas and borrowing limits hold after every step, only lower-priority work of
//! borrowing tenants is stopped, and preemption cannot loop: the running priorities, sorted from
//! highest, grow at every preemption, and the whole retry process ends.

use std::collections::VecDeque;

use proptest::prelude::*;
use purser_sched::{Dimension, QuotaHolder, QuotaLimit, Quotas, Resources, preemptions};

/// Far above what the arrivals below can need; reaching it would mean a loop.
const MAX_STEPS: usize = 100_000;

fn running_priorities(running: &[QuotaHolder]) -> Vec<i32> {
    let mut priorities: Vec<i32> = running.iter().map(|holder| holder.priority).collect();
    priorities.sort_by(|a, b| b.cmp(a));
    priorities
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn preemption_keeps_quotas_and_cannot_loop(
        limits in prop::collection::vec((0u64..8, prop::option::of(0u64..6), prop::option::of(0u64..8)), 2..5),
        arrivals in prop::collection::vec((0usize..5, 0i32..4, 1u64..6), 1..60),
    ) {
        let tenants: Vec<String> = (0..limits.len()).map(|idx| format!("t{idx}")).collect();
        let mut quotas = Quotas::default();
        for (tenant, &(nominal, borrowing_limit, lending_limit)) in tenants.iter().zip(&limits) {
            let limit = QuotaLimit { nominal, borrowing_limit, lending_limit };
            quotas.set(tenant, "p", Dimension::Cores, limit);
        }
        let mut pending: VecDeque<QuotaHolder> = arrivals
            .iter()
            .enumerate()
            .map(|(id, &(tenant, priority, cores))| QuotaHolder {
                id: id as u64,
                tenant: tenants[tenant % tenants.len()].clone(),
                pool: "p".into(),
                priority,
                requests: Resources::cores(cores),
            })
            .collect();
        let mut running: Vec<QuotaHolder> = Vec::new();
        let mut n_steps = 0;
        while let Some(incoming) = pending.pop_front() {
            n_steps += 1;
            prop_assert!(n_steps <= MAX_STEPS, "preemption loops");
            let before = running_priorities(&running);
            match preemptions(&quotas, &running, &incoming) {
                Ok(victims) => {
                    for id in &victims {
                        let victim_idx = running.iter().position(|holder| holder.id == *id).unwrap();
                        let victim = running.remove(victim_idx);
                        prop_assert!(victim.priority < incoming.priority, "{victim:?} for {incoming:?}");
                        // Released in the order they were picked, so the tenant still holds
                        // at least what it held when the rule saw it borrowing.
                        prop_assert!(quotas.borrowing(&victim.tenant, "p"), "{victim:?} was not borrowing");
                        quotas.release(&victim.tenant, &victim.pool, &victim.requests);
                        pending.push_back(victim);
                    }
                    let admitted = quotas.try_admit(&incoming.tenant, &incoming.pool, &incoming.requests);
                    prop_assert!(admitted.is_ok(), "the victims made room: {admitted:?}");
                    running.push(incoming);
                    if !victims.is_empty() {
                        prop_assert!(running_priorities(&running) > before, "no progress");
                    }
                }
                Err(_) => {
                    // A denied request changes nothing and is given up.
                    let usage: u64 = running.iter().map(|holder| holder.requests.cores).sum();
                    let counted: u64 = tenants.iter().map(|tenant| quotas.usage(tenant, "p", Dimension::Cores)).sum();
                    prop_assert_eq!(usage, counted);
                }
            }
            prop_assert!(quotas.invariants_hold());
        }
    }
}
