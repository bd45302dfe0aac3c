//! Tenant quotas per pool and dimension with borrowing and lending in one cohort, as in Kueue.
//!
//! For one (pool, dimension) each tenant has a `nominal` quota. It may lend at most
//! `lending_limit` of it to the cohort (all of it when unset); the rest is guaranteed to it.
//! It may use beyond its nominal at most `borrowing_limit` (unbounded when unset), and only
//! from what the cohort lends. Checked on every admission:
//!
//! - `usage <= nominal + borrowing_limit` for every tenant;
//! - `sum over tenants of max(0, usage - guaranteed) <= sum over tenants of lendable`.
//!
//! A resource no quota mentions is not managed. A denial says what blocked; which running work
//! a higher-priority request may stop to get in is decided by [`crate::preemptions`].

use std::collections::HashMap;

use crate::resources::{Dimension, Resources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimit {
    pub nominal: u64,
    pub borrowing_limit: Option<u64>,
    pub lending_limit: Option<u64>,
}

impl QuotaLimit {
    fn lendable(&self) -> u64 {
        self.lending_limit
            .map_or(self.nominal, |limit| limit.min(self.nominal))
    }

    fn guaranteed(&self) -> u64 {
        self.nominal - self.lendable()
    }

    fn ceiling(&self) -> u64 {
        self.borrowing_limit
            .map_or(u64::MAX, |limit| self.nominal.saturating_add(limit))
    }
}

/// Why a request was not admitted: an outcome, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaDenial {
    pub tenant: String,
    pub pool: String,
    pub dimension: Dimension,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default)]
struct ResourceQuota {
    limits: Vec<QuotaLimit>,
    usage: Vec<u64>,
}

/// Quotas and current usage of every tenant of one cohort.
#[derive(Debug, Clone, Default)]
pub struct Quotas {
    tenants: Vec<String>,
    resources: HashMap<(String, Dimension), ResourceQuota>,
}

impl Quotas {
    fn tenant_index(&mut self, tenant: &str) -> usize {
        if let Some(idx) = self.tenants.iter().position(|name| name == tenant) {
            return idx;
        }
        self.tenants.push(tenant.to_string());
        for quota in self.resources.values_mut() {
            quota.limits.push(QuotaLimit::default());
            quota.usage.push(0);
        }
        self.tenants.len() - 1
    }

    pub fn set(&mut self, tenant: &str, pool: &str, dimension: Dimension, limit: QuotaLimit) {
        let tenant_idx = self.tenant_index(tenant);
        let n_tenants = self.tenants.len();
        let quota = self
            .resources
            .entry((pool.to_string(), dimension))
            .or_insert_with(|| ResourceQuota {
                limits: vec![QuotaLimit::default(); n_tenants],
                usage: vec![0; n_tenants],
            });
        quota.limits[tenant_idx] = limit;
    }

    pub fn usage(&self, tenant: &str, pool: &str, dimension: Dimension) -> u64 {
        let Some(tenant_idx) = self.tenants.iter().position(|name| name == tenant) else {
            return 0;
        };
        self.resources
            .get(&(pool.to_string(), dimension))
            .map_or(0, |quota| quota.usage[tenant_idx])
    }

    /// Admits the request and counts it, or denies it and changes nothing.
    pub fn try_admit(
        &mut self,
        tenant: &str,
        pool: &str,
        request: &Resources,
    ) -> Result<(), QuotaDenial> {
        let tenant_idx = self.tenant_index(tenant);
        for dimension in Dimension::ALL {
            let amount = request.get(dimension);
            if amount == 0 {
                continue;
            }
            let Some(quota) = self.resources.get(&(pool.to_string(), dimension)) else {
                continue;
            };
            if let Some(reason) = quota.refusal(tenant_idx, amount) {
                return Err(QuotaDenial {
                    tenant: tenant.to_string(),
                    pool: pool.to_string(),
                    dimension,
                    reason,
                });
            }
        }
        for dimension in Dimension::ALL {
            if let Some(quota) = self.resources.get_mut(&(pool.to_string(), dimension)) {
                quota.usage[tenant_idx] += request.get(dimension);
            }
        }
        Ok(())
    }

    /// Whether `try_admit` would admit the request now, without counting it.
    pub fn admits(&self, tenant: &str, pool: &str, request: &Resources) -> bool {
        let Some(tenant_idx) = self.tenants.iter().position(|name| name == tenant) else {
            // A tenant not seen yet: admitting registers it, which only a copy may do here.
            return self.clone().try_admit(tenant, pool, request).is_ok();
        };
        Dimension::ALL.iter().all(|&dimension| {
            let amount = request.get(dimension);
            amount == 0
                || self
                    .resources
                    .get(&(pool.to_string(), dimension))
                    .is_none_or(|quota| quota.refusal(tenant_idx, amount).is_none())
        })
    }

    /// Gives back what an admitted request held.
    pub fn release(&mut self, tenant: &str, pool: &str, request: &Resources) {
        let tenant_idx = self.tenant_index(tenant);
        for dimension in Dimension::ALL {
            if let Some(quota) = self.resources.get_mut(&(pool.to_string(), dimension)) {
                let usage = &mut quota.usage[tenant_idx];
                // Invariant: a release matches an earlier admission.
                debug_assert!(*usage >= request.get(dimension));
                *usage = usage.saturating_sub(request.get(dimension));
            }
        }
    }

    /// True when the tenant uses more than its nominal quota of some dimension of the pool: it
    /// holds capacity the cohort lent it, which priority preemption may take back.
    pub fn borrowing(&self, tenant: &str, pool: &str) -> bool {
        let Some(tenant_idx) = self.tenants.iter().position(|name| name == tenant) else {
            return false;
        };
        Dimension::ALL.iter().any(|&dimension| {
            self.resources
                .get(&(pool.to_string(), dimension))
                .is_some_and(|quota| quota.usage[tenant_idx] > quota.limits[tenant_idx].nominal)
        })
    }

    /// Every tenant's quota of every (pool, dimension) with what it uses now, for those who
    /// watch: `(tenant, pool, dimension, limit, usage)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Dimension, QuotaLimit, u64)> + '_ {
        self.resources
            .iter()
            .flat_map(move |((pool, dimension), quota)| {
                self.tenants
                    .iter()
                    .zip(quota.limits.iter().zip(&quota.usage))
                    .map(move |(tenant, (limit, usage))| {
                        (tenant.as_str(), pool.as_str(), *dimension, *limit, *usage)
                    })
            })
    }

    /// Checks both invariants of the module docs; used by tests after every step.
    pub fn invariants_hold(&self) -> bool {
        self.resources.values().all(|quota| {
            let within_ceiling = quota
                .limits
                .iter()
                .zip(&quota.usage)
                .all(|(limit, &usage)| usage <= limit.ceiling());
            within_ceiling && quota.cohort_usage(None) <= quota.cohort_lendable()
        })
    }
}

impl ResourceQuota {
    fn cohort_lendable(&self) -> u128 {
        self.limits
            .iter()
            .map(|limit| limit.lendable() as u128)
            .sum()
    }

    /// Usage beyond the guaranteed parts, optionally with `extra` more for one tenant.
    fn cohort_usage(&self, extra: Option<(usize, u64)>) -> u128 {
        self.limits
            .iter()
            .zip(&self.usage)
            .enumerate()
            .map(|(idx, (limit, &usage))| {
                let added = match extra {
                    Some((extra_idx, amount)) if extra_idx == idx => amount as u128,
                    _ => 0,
                };
                (usage as u128 + added).saturating_sub(limit.guaranteed() as u128)
            })
            .sum()
    }

    fn refusal(&self, tenant_idx: usize, amount: u64) -> Option<&'static str> {
        let limit = self.limits[tenant_idx];
        let new_usage = self.usage[tenant_idx] as u128 + amount as u128;
        if new_usage > limit.ceiling() as u128 {
            return Some("borrowing limit reached");
        }
        if self.cohort_usage(Some((tenant_idx, amount))) > self.cohort_lendable() {
            return Some("cohort has nothing left to lend");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quotas() -> Quotas {
        let mut quotas = Quotas::default();
        let limit = |nominal, borrowing_limit, lending_limit| QuotaLimit {
            nominal,
            borrowing_limit,
            lending_limit,
        };
        quotas.set("a", "p", Dimension::Cores, limit(10, Some(4), Some(5)));
        quotas.set("b", "p", Dimension::Cores, limit(10, None, None));
        quotas.set("c", "p", Dimension::Cores, limit(0, Some(3), None));
        quotas
    }

    fn check(steps: &[(&str, u64)], expected_last: Result<(), &str>) {
        let mut quotas = quotas();
        let mut last = Ok(());
        for (tenant, cores) in steps {
            last = quotas
                .try_admit(tenant, "p", &Resources::cores(*cores))
                .map_err(|denial| denial.reason);
        }
        assert_eq!(last, expected_last, "{steps:?}");
        assert!(quotas.invariants_hold());
        // The read-only check agrees with admitting, for every tenant of the case.
        for tenant in ["a", "b", "c", "new"] {
            let request = Resources::cores(2);
            let admitted = quotas.clone().try_admit(tenant, "p", &request).is_ok();
            assert_eq!(quotas.admits(tenant, "p", &request), admitted, "{tenant}");
        }
    }

    #[test]
    fn borrowing_and_lending_rules() {
        check(&[("a", 10)], Ok(()));
        check(&[("a", 14)], Ok(()));
        check(&[("a", 15)], Err("borrowing limit reached"));
        check(&[("c", 3)], Ok(()));
        check(&[("c", 4)], Err("borrowing limit reached"));
        // b may borrow a's lendable 5 but not more: 10 + 5 = 15.
        check(&[("b", 15)], Ok(()));
        check(&[("b", 16)], Err("cohort has nothing left to lend"));
        // a's guaranteed 5 stays available whatever b borrowed.
        check(&[("b", 15), ("a", 5)], Ok(()));
        check(
            &[("b", 15), ("a", 6)],
            Err("cohort has nothing left to lend"),
        );
        // Unmanaged resources are always admitted.
        let mut unmanaged = quotas();
        assert!(
            unmanaged
                .try_admit("a", "other", &Resources::cores(1000))
                .is_ok()
        );
    }

    proptest! {
        #[test]
        fn quotas_and_borrowing_limits_always_hold(
            limits in prop::collection::vec((0u64..20, prop::option::of(0u64..10), prop::option::of(0u64..20)), 1..5),
            steps in prop::collection::vec((0usize..5, 0u64..12, any::<bool>()), 0..200),
        ) {
            let mut quotas = Quotas::default();
            let names: Vec<String> = (0..limits.len()).map(|idx| format!("t{idx}")).collect();
            for (name, &(nominal, borrowing_limit, lending_limit)) in names.iter().zip(&limits) {
                quotas.set(name, "p", Dimension::Cores, QuotaLimit { nominal, borrowing_limit, lending_limit });
            }
            let mut held: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
            for (tenant, cores, release) in steps {
                let tenant = tenant % names.len();
                if release && !held[tenant].is_empty() {
                    let cores = held[tenant].pop().unwrap_or(0);
                    quotas.release(&names[tenant], "p", &Resources::cores(cores));
                } else {
                    let before = quotas.usage(&names[tenant], "p", Dimension::Cores);
                    let limit = limits[tenant];
                    let guaranteed = limit.0 - limit.2.map_or(limit.0, |lend| lend.min(limit.0));
                    match quotas.try_admit(&names[tenant], "p", &Resources::cores(cores)) {
                        Ok(()) => held[tenant].push(cores),
                        Err(_) => {
                            prop_assert_eq!(quotas.usage(&names[tenant], "p", Dimension::Cores), before);
                            // The guaranteed part can never be refused.
                            prop_assert!(before + cores > guaranteed);
                        }
                    }
                }
                prop_assert!(quotas.invariants_hold());
            }
        }
    }
}
