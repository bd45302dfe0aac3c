//! Deciding account commands: creating and changing accounts and closing them (allocations are in
//! `allocation.rs`). Like the rest of deciding, nothing changes until the decided events are
//! emitted.

use std::sync::Arc;

use super::Ledger;
use crate::account::{AccountConfig, AccountId};
use crate::amount::DimId;
use crate::command::*;
use crate::error::LedgerError;
use crate::event::Event;
use crate::level::{PPM, Thresholds};
use crate::path::AccountPath;

impl Ledger {
    pub(crate) fn upsert_account(
        &mut self,
        path: &AccountPath,
        spec: AccountSpec,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let existing = self.lookup(path.as_str());
        let parent = match path.parent() {
            Some(parent_path) => Some(self.lookup(parent_path.as_str()).ok_or_else(|| {
                LedgerError::ParentNotFound {
                    path: path.to_string(),
                    parent: parent_path.to_string(),
                }
            })?),
            None => None,
        };
        if existing.is_none() && self.n_accounts() >= self.limits.accounts_max {
            return Err(LedgerError::LimitReached {
                field: "path".into(),
                message: format!(
                    "the ledger holds at most {} accounts",
                    self.limits.accounts_max
                ),
            });
        }
        let base = existing.map_or_else(
            || self.defaults.clone(),
            |id| self.accounts[id.0 as usize].config.clone(),
        );
        let config = merge_config(base, &spec)?;
        let mut prepared = self.prepare(spec.limits.as_deref().unwrap_or(&[]), "limits")?;
        // A new child gets its parent's defaults in every dimension it does not name.
        if existing.is_none()
            && let Some(defaults) = self.child_defaults(parent)
        {
            for (dim, value) in defaults.iter() {
                if !prepared.known.iter().any(|(named, _)| *named == dim) {
                    prepared.known.push((dim, value));
                }
            }
        }
        self.check_limits(existing, parent, &prepared.known, "limits")?;
        let reset = self.period_change(existing, &spec)?;
        let rules = spec
            .rules
            .map(|rules| self.check_rules(*rules))
            .transpose()?;
        let limits = self.intern(prepared, events);
        let rules = rules.map(|rules| self.intern_rules(rules, events));
        let event = match existing {
            Some(account) => Event::AccountUpdated {
                account,
                config: Box::new(config),
                limits,
                at_ms: now_ms,
            },
            None => Event::AccountOpened {
                path: path.clone(),
                config: Box::new(config),
                limits,
                at_ms: now_ms,
            },
        };
        self.emit(event, events);
        let account = self
            .lookup(path.as_str())
            .expect("account was just written");
        if let Some(rules) = rules
            && self.rules(account) != Some(&rules)
            && !(rules.is_empty() && self.rules(account).is_none())
        {
            let rules = Box::new(rules);
            self.emit(
                Event::RulesSet {
                    account,
                    rules,
                    at_ms: now_ms,
                },
                events,
            );
        }
        match (reset, spec.period_bounds) {
            // The new unit's window starts now, with the limits as set.
            (true, Some((start_ms, end_ms))) if start_ms < end_ms => {
                let acc = &self.accounts[account.0 as usize];
                let limits = match &acc.period {
                    Some(period) => period.base_limits.clone(),
                    None => acc.limits(),
                };
                self.emit(
                    Event::PeriodRenewed {
                        account,
                        start_ms,
                        end_ms,
                        limits,
                        at_ms: now_ms,
                    },
                    events,
                );
            }
            (true, _) => self.emit(
                Event::UsageReset {
                    account,
                    at_ms: now_ms,
                },
                events,
            ),
            (false, _) => {}
        }
        Ok(Answer::Account {
            account,
            created: existing.is_none(),
        })
    }

    /// Whether an update changes the unit of the account's period, which must say whether the
    /// usage so far is kept; answers whether it is to be reset.
    fn period_change(
        &self,
        existing: Option<AccountId>,
        spec: &AccountSpec,
    ) -> Result<bool, LedgerError> {
        let Some(acc) = existing.map(|id| &self.accounts[id.0 as usize]) else {
            return Ok(false);
        };
        // A first period starts its window now, so what was spent before no longer counts:
        // an account that spent must say so.
        if acc.config.period.is_none()
            && let Some(new) = &spec.period
            && acc.slots.iter().any(|slot| slot.period_consumed() > 0)
        {
            return match spec.keep_usage {
                Some(false) => Ok(false),
                Some(true) => Err(LedgerError::invalid(
                    "keep_usage_unsupported",
                    "keep_usage",
                    format!(
                        "{} gets its first period ({}), whose window starts now: what it spent so far cannot count in it; say keep_usage: false",
                        acc.path,
                        new.every.name()
                    ),
                )),
                None => Err(LedgerError::invalid(
                    "keep_usage_required",
                    "keep_usage",
                    format!(
                        "{} has spent and gets its first period ({}), whose window starts now: say keep_usage: false to confirm what it spent so far no longer counts",
                        acc.path,
                        new.every.name()
                    ),
                )),
            };
        }
        let (Some(old), Some(new)) = (&acc.config.period, &spec.period) else {
            return Ok(false);
        };
        if old.every == new.every && old.timezone == new.timezone {
            return Ok(false);
        }
        match spec.keep_usage {
            Some(keep) => Ok(!keep),
            None => Err(LedgerError::invalid(
                "keep_usage_required",
                "keep_usage",
                format!(
                    "the period of {} changes from {} to {}: say whether the usage of the current window is kept (keep_usage: true, the window runs to its end) or reset now (false)",
                    acc.path,
                    old.every.name(),
                    new.every.name()
                ),
            )),
        }
    }

    /// New limits must fit in the parent's pool beyond its reserve (where they grow) and must
    /// not fall below what the account's own children hold.
    pub(super) fn check_limits(
        &self,
        account: Option<AccountId>,
        parent: Option<AccountId>,
        limits: &[(DimId, u64)],
        field: &str,
    ) -> Result<(), LedgerError> {
        for (dim, new_limit) in limits {
            let name = self.dims.name(*dim);
            let current = account.map(|id| &self.accounts[id.0 as usize]);
            let old_limit = current.and_then(|acc| acc.limit(*dim)).unwrap_or(0);
            if let Some(acc) = current {
                let held_below = acc.slot(*dim).map_or(0, |slot| slot.children_limits);
                if *new_limit < held_below {
                    return Err(LedgerError::Conflict {
                        code: "limit_below_children",
                        message: format!(
                            "{field}.{name} of {} would be {new_limit}, its children hold {held_below}",
                            acc.path
                        ),
                    });
                }
            }
            let Some(parent) = parent else { continue };
            let parent_acc = &self.accounts[parent.0 as usize];
            let Some(slot) = parent_acc.slot(*dim) else {
                continue;
            };
            let Some(parent_limit) = slot.limit else {
                continue;
            };
            if *new_limit <= old_limit {
                continue;
            }
            let available = pool_beyond_reserve(
                parent_limit,
                slot.children_limits - old_limit,
                parent_acc.config.reserve_ppm,
            );
            if *new_limit > available {
                return Err(LedgerError::InsufficientPool {
                    account: parent_acc.path.to_string(),
                    dimension: name.to_string(),
                    requested: *new_limit,
                    available,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn close_account(
        &mut self,
        path: &AccountPath,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve(path)?;
        let acc = &self.accounts[account.0 as usize];
        if !acc.children.is_empty() {
            return Err(LedgerError::Conflict {
                code: "has_children",
                message: format!("account {path} has {} children", acc.children.len()),
            });
        }
        if acc.open_reservations > 0 {
            return Err(LedgerError::Conflict {
                code: "open_reservations",
                message: format!(
                    "account {path} has {} open reservations",
                    acc.open_reservations
                ),
            });
        }
        self.emit(
            Event::AccountClosed {
                account,
                at_ms: now_ms,
            },
            events,
        );
        Ok(Answer::Closed { account })
    }
}

/// What a parent may still hand out: its limit less the children's limits and the reserve.
pub fn pool_beyond_reserve(limit: u64, children_limits: u64, reserve_ppm: u32) -> u64 {
    let reserve = (u128::from(limit) * u128::from(reserve_ppm)).div_ceil(u128::from(PPM)) as u64;
    limit
        .saturating_sub(children_limits)
        .saturating_sub(reserve)
}

pub(super) fn to_ppm(value: f64, field: &str, low_open: bool) -> Result<u32, LedgerError> {
    let ok = value.is_finite() && value <= 1.0 && if low_open { value > 0.0 } else { value >= 0.0 };
    if !ok {
        let bound = if low_open { "above 0" } else { "at least 0" };
        return Err(LedgerError::invalid(
            "invalid_field",
            field,
            format!("{field} must be {bound} and at most 1"),
        ));
    }
    Ok((value * PPM as f64).round() as u32)
}

pub(super) fn check_weight_priority(
    weight: Option<f64>,
    priority: Option<i32>,
    field: &str,
) -> Result<(), LedgerError> {
    if let Some(weight) = weight
        && !(weight.is_finite() && weight > 0.0 && weight <= 1e6)
    {
        return Err(LedgerError::invalid(
            "invalid_field",
            format!("{field}.weight"),
            format!("{field}.weight must be above 0 and at most 1000000"),
        ));
    }
    if let Some(priority) = priority
        && !(-16..=16).contains(&priority)
    {
        return Err(LedgerError::invalid(
            "invalid_field",
            format!("{field}.priority"),
            format!("{field}.priority must be -16 to 16"),
        ));
    }
    Ok(())
}

pub(super) fn ppm_to_f64(ppm: u32) -> f64 {
    f64::from(ppm) / PPM as f64
}

/// Applies a partial update to a config, checking every field it sets (the limits are not part
/// of a config and are ignored).
pub fn merge_config(
    mut config: AccountConfig,
    spec: &AccountSpec,
) -> Result<AccountConfig, LedgerError> {
    check_weight_priority(spec.weight, spec.priority, "account").map_err(|err| match err {
        LedgerError::Invalid {
            code,
            field,
            message,
        } => LedgerError::Invalid {
            code,
            field: field.replace("account.", ""),
            message: message.replace("account.", ""),
        },
        other => other,
    })?;
    config.weight = spec.weight.unwrap_or(config.weight);
    config.priority = spec.priority.unwrap_or(config.priority);
    if let Some(kind) = &spec.kind {
        Ledger::check_text(Some(kind), "kind", 64)?;
        config.kind = Some(Arc::from(kind.as_str()));
    }
    if let Some(labels) = &spec.labels {
        if labels.len() > 64
            || labels
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 128 || v.len() > 256)
        {
            return Err(LedgerError::invalid(
                "invalid_field",
                "labels",
                "labels must be at most 64, keys 1 to 128 bytes, values at most 256 bytes",
            ));
        }
        config.labels = labels.clone();
    }
    let mut thresholds: Thresholds = config.thresholds;
    if let Some(v) = spec.warn {
        thresholds.warn_ppm = to_ppm(v, "thresholds.warn", true)?;
    }
    if let Some(v) = spec.throttle {
        thresholds.throttle_ppm = to_ppm(v, "thresholds.throttle", true)?;
    }
    if let Some(v) = spec.degrade {
        thresholds.degrade_ppm = to_ppm(v, "thresholds.degrade", true)?;
    }
    if let Some(v) = spec.stop {
        thresholds.stop_ppm = to_ppm(v, "thresholds.stop", true)?;
    }
    thresholds.check().map_err(|(name, message)| {
        LedgerError::invalid("invalid_field", format!("thresholds.{name}"), message)
    })?;
    config.thresholds = thresholds;
    if let Some(v) = spec.throttle_rate {
        config.throttle_rate_ppm = to_ppm(v, "throttle_rate", true)?;
    }
    if let Some(v) = spec.reserve {
        let ppm = to_ppm(v, "reserve", false)?;
        if u64::from(ppm) >= PPM {
            return Err(LedgerError::invalid(
                "invalid_field",
                "reserve",
                "reserve must be below 1",
            ));
        }
        config.reserve_ppm = ppm;
    }
    if let Some(period) = &spec.period {
        Ledger::check_text(Some(&period.timezone), "period.timezone", 64)?;
        if u64::from(period.rollover_max_ppm) > PPM {
            return Err(LedgerError::invalid(
                "invalid_field",
                "period.rollover_max",
                "period.rollover_max must be between 0 and 1",
            ));
        }
        config.period = Some(period.clone());
    }
    if let Some(deadline_ms) = spec.deadline_ms {
        config.deadline_ms = Some(deadline_ms);
    }
    Ok(config)
}
