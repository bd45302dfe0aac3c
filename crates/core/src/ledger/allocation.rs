//! Deciding an allocation: a parent's budget distributed to its named children by a strategy,
//! within what its pool holds beyond its reserve, the fairness floor and the monopoly cap.

use super::Ledger;
use super::accounts::{check_weight_priority, ppm_to_f64, to_ppm};
use crate::account::AccountId;
use crate::allocate::{self, ChildClaim, Shares};
use crate::amount::{Amounts, DimId};
use crate::command::*;
use crate::error::LedgerError;
use crate::event::Event;
use crate::path::AccountPath;

use super::pool_beyond_reserve;

impl Ledger {
    pub(crate) fn allocate(
        &mut self,
        path: &AccountPath,
        request: AllocateRequest,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let parent = self.resolve(path)?;
        let (child_paths, shares) = self.allocation_children(path, &request)?;
        let existing: Vec<Option<AccountId>> = child_paths
            .iter()
            .map(|child_path| self.lookup(child_path.as_str()))
            .collect();
        let totals = self.allocation_totals(parent, path, &request, &existing)?;
        let claims = self.claims(&request, &existing, &totals)?;
        let total_values: Vec<u64> = totals.iter().map(|(_, total)| *total).collect();
        let amounts = allocate::allocate(request.strategy, &total_values, &claims, shares);
        let limits_of = |idx: usize| -> Vec<(DimId, u64)> {
            totals
                .iter()
                .zip(&amounts[idx])
                .map(|((dim, _), amount)| (*dim, *amount))
                .collect()
        };
        // Each child's new limit must still cover what its own children hold.
        for (idx, id) in existing.iter().enumerate() {
            if let Some(id) = id {
                self.check_limits(
                    Some(*id),
                    None,
                    &limits_of(idx),
                    &format!("children[{idx}]"),
                )?;
            }
        }
        let mut allocations = Vec::with_capacity(child_paths.len());
        for (idx, child) in request.children.iter().enumerate() {
            let limits = Amounts::from_pairs(limits_of(idx));
            let mut config = existing[idx].map_or_else(
                || self.defaults.clone(),
                |id| self.accounts[id.0 as usize].config.clone(),
            );
            config.weight = child.weight.unwrap_or(config.weight);
            config.priority = child.priority.unwrap_or(config.priority);
            let event = match existing[idx] {
                Some(account) => Event::AccountUpdated {
                    account,
                    config: Box::new(config),
                    limits: limits.clone(),
                    at_ms: now_ms,
                },
                None => Event::AccountOpened {
                    path: child_paths[idx].clone(),
                    config: Box::new(config),
                    limits: limits.clone(),
                    at_ms: now_ms,
                },
            };
            self.emit(event, events);
            let id = self
                .lookup(child_paths[idx].as_str())
                .expect("child was just written");
            allocations.push((id, limits));
        }
        Ok(Answer::Allocated {
            parent,
            allocations,
        })
    }

    /// The paths of the children an allocation names (valid, each once, within the ledger's
    /// bound on accounts) and its shares.
    fn allocation_children(
        &self,
        path: &AccountPath,
        request: &AllocateRequest,
    ) -> Result<(Vec<AccountPath>, Shares), LedgerError> {
        let n_children = request.children.len();
        if n_children == 0 || n_children > ALLOCATION_CHILDREN_MAX {
            return Err(LedgerError::invalid(
                "invalid_field",
                "children",
                format!("children must name 1 to {ALLOCATION_CHILDREN_MAX} accounts"),
            ));
        }
        let shares = check_shares(request, n_children)?;
        let mut child_paths = Vec::with_capacity(n_children);
        for (idx, child) in request.children.iter().enumerate() {
            let child_path = path.child(&child.name).map_err(|message| {
                LedgerError::invalid("invalid_path", format!("children[{idx}].name"), message)
            })?;
            if child_paths.contains(&child_path) {
                return Err(LedgerError::invalid(
                    "invalid_field",
                    format!("children[{idx}].name"),
                    format!("child {} is named twice", child.name),
                ));
            }
            check_weight_priority(child.weight, child.priority, &format!("children[{idx}]"))?;
            child_paths.push(child_path);
        }
        let n_new = child_paths
            .iter()
            .filter(|child_path| self.lookup(child_path.as_str()).is_none())
            .count();
        if self.n_accounts() + n_new > self.limits.accounts_max {
            return Err(LedgerError::LimitReached {
                field: "children".into(),
                message: format!(
                    "the ledger holds at most {} accounts",
                    self.limits.accounts_max
                ),
            });
        }
        Ok((child_paths, shares))
    }

    /// What an allocation hands out per dimension: as asked, or what the parent's pool would
    /// hold beyond its reserve if the named children gave their limits back; never more.
    fn allocation_totals(
        &self,
        parent: AccountId,
        path: &AccountPath,
        request: &AllocateRequest,
        existing: &[Option<AccountId>],
    ) -> Result<Vec<(DimId, u64)>, LedgerError> {
        let parent_acc = &self.accounts[parent.0 as usize];
        let totals: Vec<(DimId, u64)> = match &request.total {
            Some(named) => {
                let prepared = self.prepare(named, "total")?;
                if let Some((name, _)) = prepared.new_names.first() {
                    return Err(LedgerError::invalid(
                        "invalid_dimension",
                        format!("total.{name}"),
                        format!("total.{name}: the parent has no limit in {name}"),
                    ));
                }
                prepared.known.into_vec()
            }
            None => parent_acc
                .slots
                .iter()
                .filter(|slot| slot.limit.is_some())
                .map(|slot| (slot.dim, u64::MAX))
                .collect(),
        };
        let mut checked = Vec::with_capacity(totals.len());
        for (dim, asked) in totals {
            let Some(slot) = parent_acc.slot(dim).filter(|slot| slot.limit.is_some()) else {
                let name = self.dims.name(dim);
                return Err(LedgerError::invalid(
                    "invalid_dimension",
                    format!("total.{name}"),
                    format!("total.{name}: {path} has no limit in {name}"),
                ));
            };
            let given_back: u64 = existing
                .iter()
                .flatten()
                .map(|id| self.accounts[id.0 as usize].limit(dim).unwrap_or(0))
                .sum();
            let available = pool_beyond_reserve(
                slot.limit.unwrap_or(0),
                slot.children_limits.saturating_sub(given_back),
                parent_acc.config.reserve_ppm,
            );
            if asked != u64::MAX && asked > available {
                return Err(LedgerError::InsufficientPool {
                    account: path.to_string(),
                    dimension: self.dims.name(dim).to_string(),
                    requested: asked,
                    available,
                });
            }
            checked.push((dim, asked.min(available)));
        }
        Ok(checked)
    }

    fn claims(
        &self,
        request: &AllocateRequest,
        existing: &[Option<AccountId>],
        totals: &[(DimId, u64)],
    ) -> Result<Vec<ChildClaim>, LedgerError> {
        let mut claims = Vec::with_capacity(request.children.len());
        for (idx, child) in request.children.iter().enumerate() {
            let existing = existing[idx].map(|id| &self.accounts[id.0 as usize].config);
            let demand = match &child.demand {
                Some(named) => {
                    let prepared = self.prepare(named, &format!("children[{idx}].demand"))?;
                    totals
                        .iter()
                        .map(|(dim, _)| {
                            prepared
                                .known
                                .iter()
                                .find(|(d, _)| d == dim)
                                .map(|(_, v)| *v)
                        })
                        .collect()
                }
                None => vec![None; totals.len()],
            };
            claims.push(ChildClaim {
                weight: child
                    .weight
                    .unwrap_or(existing.map_or(1.0, |config| config.weight)),
                priority: child
                    .priority
                    .unwrap_or(existing.map_or(0, |config| config.priority)),
                demand,
            });
        }
        Ok(claims)
    }
}

fn check_shares(request: &AllocateRequest, n_children: usize) -> Result<Shares, LedgerError> {
    let defaults = Shares::default();
    let min_share = request
        .min_share
        .map(|v| to_ppm(v, "min_share", false))
        .transpose()?
        .map_or(defaults.min_share, ppm_to_f64);
    let max_share = request
        .max_share
        .map(|v| to_ppm(v, "max_share", true))
        .transpose()?
        .map(ppm_to_f64);
    let initial_share = request
        .initial_share
        .map(|v| to_ppm(v, "initial_share", true))
        .transpose()?
        .map_or(defaults.initial_share, ppm_to_f64);
    if let Some(max_share) = max_share
        && max_share < min_share / n_children as f64
    {
        return Err(LedgerError::invalid(
            "invalid_field",
            "max_share",
            "max_share is below the fairness floor (min_share of an equal share)",
        ));
    }
    Ok(Shares {
        min_share,
        max_share,
        initial_share,
    })
}
