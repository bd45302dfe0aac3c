//! Deciding commands: validation and budget checks against the state, which stays unchanged until
//! the decided events are emitted.

use std::sync::Arc;

use super::{HoldState, Ledger, Remembered};
use crate::account::AccountId;
use crate::amount::{
    AMOUNT_DIMENSIONS_MAX, AMOUNT_INLINE, Amounts, DIMENSIONS_MAX, DimId, Spend,
    check_dimension_name,
};
use crate::command::*;
use crate::error::LedgerError;
use crate::event::Event;
use crate::path::AccountPath;
use smallvec::SmallVec;

/// An amount map checked against the ledger: known dimensions resolved, new names still to add.
pub(crate) struct Prepared {
    pub(crate) known: SmallVec<[(DimId, u64); AMOUNT_INLINE]>,
    pub(crate) new_names: Vec<(String, u64)>,
}

impl Ledger {
    /// The account a report names: its resolved id when that account is still open (see
    /// [`UsageReport::account_id`]), else by its path.
    pub(crate) fn resolve_hinted(
        &self,
        path: &AccountPath,
        hint: Option<AccountId>,
    ) -> Result<AccountId, LedgerError> {
        let id = self.lookup_hinted(path.as_str(), hint).ok_or_else(|| {
            LedgerError::AccountNotFound {
                path: path.to_string(),
            }
        })?;
        debug_assert_eq!(self.accounts[id.0 as usize].path, *path);
        Ok(id)
    }

    pub(crate) fn resolve(&self, path: &AccountPath) -> Result<AccountId, LedgerError> {
        self.resolve_hinted(path, None)
    }

    /// Refuses an amount map naming more than [`AMOUNT_DIMENSIONS_MAX`] dimensions.
    fn check_count(n_dimensions: usize, field: &str) -> Result<(), LedgerError> {
        if n_dimensions > AMOUNT_DIMENSIONS_MAX {
            return Err(LedgerError::LimitReached {
                field: field.into(),
                message: format!(
                    "{field} names {n_dimensions} dimensions, at most {AMOUNT_DIMENSIONS_MAX} are allowed"
                ),
            });
        }
        Ok(())
    }

    /// Checks names and the number of dimensions, interning nothing yet.
    pub(crate) fn prepare(
        &self,
        named: &[(String, u64)],
        field: &str,
    ) -> Result<Prepared, LedgerError> {
        Self::check_count(named.len(), field)?;
        let mut prepared = Prepared {
            known: SmallVec::new(),
            new_names: Vec::new(),
        };
        self.prepare_into(named, field, &mut prepared)?;
        Ok(prepared)
    }

    /// Adds the names of `named` to `prepared`: interned ones to `known`, new ones checked.
    fn prepare_into(
        &self,
        named: &[(String, u64)],
        field: &str,
        prepared: &mut Prepared,
    ) -> Result<(), LedgerError> {
        for (name, value) in named {
            match self.dims.lookup(name) {
                Some(dim) => prepared.known.push((dim, *value)),
                None => {
                    check_dimension_name(name).map_err(|message| {
                        LedgerError::invalid(
                            "invalid_dimension",
                            format!("{field}.{name}"),
                            message,
                        )
                    })?;
                    if !prepared.new_names.iter().any(|(seen, _)| seen == name) {
                        prepared.new_names.push((name.clone(), *value));
                    }
                }
            }
        }
        if self.dims.len() + prepared.new_names.len() > DIMENSIONS_MAX {
            return Err(LedgerError::LimitReached {
                field: field.into(),
                message: format!("the ledger tracks at most {DIMENSIONS_MAX} dimensions"),
            });
        }
        Ok(())
    }

    /// Adds the new dimensions (as events) and answers the interned amounts.
    pub(crate) fn intern(&mut self, prepared: Prepared, events: &mut Vec<Event>) -> Amounts {
        let mut pairs = prepared.known;
        for (name, value) in prepared.new_names {
            let name: Arc<str> = Arc::from(name.as_str());
            self.emit(Event::DimensionAdded { name: name.clone() }, events);
            pairs.push((
                self.dims.lookup(&name).expect("dimension was just added"),
                value,
            ));
        }
        Amounts::from_pairs(pairs)
    }

    /// The ids from `account` up to its root, the account first.
    pub(crate) fn path_ids(&self, account: AccountId) -> impl Iterator<Item = AccountId> + '_ {
        std::iter::successors(Some(account), move |id| self.accounts[id.0 as usize].parent)
    }

    /// Refuses an amount above `LedgerLimits::amount_max`. The sums themselves never refuse:
    /// the fold saturates them, so an accepted report never makes a later one impossible.
    pub(crate) fn check_amounts<'a>(
        &self,
        named: impl IntoIterator<Item = (&'a str, u64)>,
        field: &str,
    ) -> Result<(), LedgerError> {
        let amount_max = self.limits.amount_max;
        match named.into_iter().find(|(_, value)| *value > amount_max) {
            Some((name, value)) => Err(LedgerError::invalid(
                "amount_too_large",
                format!("{field}.{name}"),
                format!(
                    "{field}.{name} is {value}, more than the most one request may carry ({amount_max})"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Checks usage to be charged to `account`: sizes, names and the work units.
    fn check_spend(&self, usage: Spend, work_units: u64) -> Result<Prepared, LedgerError> {
        Self::check_count(usage.len(), "usage")?;
        // Invariant: an id from outside names a dimension of this ledger.
        if let Some((dim, _)) = usage
            .known
            .iter()
            .find(|(dim, _)| dim.0 as usize >= self.dims.len())
        {
            return Err(LedgerError::invalid(
                "invalid_dimension",
                "usage",
                format!("usage names dimension id {} this ledger lacks", dim.0),
            ));
        }
        let names = usage
            .known
            .iter()
            .map(|(dim, value)| (&**self.dims.name(dim), value))
            .chain(
                usage
                    .custom
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value)),
            );
        self.check_amounts(names, "usage")?;
        if work_units > self.limits.amount_max {
            return Err(LedgerError::invalid(
                "amount_too_large",
                "work_units",
                format!(
                    "work_units is {work_units}, more than the most one request may carry ({})",
                    self.limits.amount_max
                ),
            ));
        }
        let mut prepared = Prepared {
            known: usage.known.into_inner(),
            new_names: Vec::new(),
        };
        if !usage.custom.is_empty() {
            self.prepare_into(&usage.custom, "usage", &mut prepared)?;
        }
        Ok(prepared)
    }

    pub(crate) fn check_text(
        value: Option<&str>,
        field: &str,
        max: usize,
    ) -> Result<(), LedgerError> {
        match value {
            Some(text) if text.is_empty() || text.len() > max => Err(LedgerError::invalid(
                "invalid_field",
                field,
                format!("{field} must be 1 to {max} bytes long"),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn report_usage(
        &mut self,
        report: UsageReport,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve_hinted(&report.account, report.account_id)?;
        Self::check_text(
            report.idempotency_key.as_deref(),
            "idempotency_key",
            IDEMPOTENCY_KEY_LEN_MAX,
        )?;
        Self::check_text(report.operation.as_deref(), "operation", OPERATION_LEN_MAX)?;
        // Looked up by text: a duplicate costs no allocation.
        if let Some(key) = report.idempotency_key.as_deref()
            && let Some(Remembered::Usage(first)) = self.remembered.get(account, key)
        {
            return Ok(Answer::Usage(UsageAnswer {
                duplicate: true,
                ..first.clone()
            }));
        }
        let prepared = self.check_spend(report.usage, report.work_units)?;
        let usage = self.intern(prepared, events);
        let event = Event::UsageRecorded {
            account,
            usage,
            work_units: report.work_units,
            operation: report.operation.map(|text| Arc::from(text.as_str())),
            // One shared copy of the key serves the event and the remembered answer.
            idempotency_key: report.idempotency_key.as_deref().map(Arc::from),
            at_ms: now_ms,
        };
        self.emit(event, events);
        // The state the fold remembered a keyed report's answer from is the state now (the
        // level changes it derived changed nothing more), so the answer is the same.
        let answer = self.usage_answer(account, self.last_seq_of_fact(events));
        debug_assert!(match report.idempotency_key.as_deref() {
            Some(key) =>
                self.remembered.get(account, key) == Some(&Remembered::Usage(answer.clone())),
            None => true,
        });
        Ok(Answer::Usage(answer))
    }

    /// The sequence number of the fact just emitted (level changes and a run's cap, derived
    /// from it, may follow it).
    fn last_seq_of_fact(&self, events: &[Event]) -> u64 {
        let trailing = events
            .iter()
            .rev()
            .take_while(|event| event.is_derived())
            .count();
        self.last_seq - trailing as u64
    }

    pub(crate) fn reserve(
        &mut self,
        request: ReserveRequest,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve(&request.account)?;
        Self::check_text(
            request.idempotency_key.as_deref(),
            "idempotency_key",
            IDEMPOTENCY_KEY_LEN_MAX,
        )?;
        // A key whose hold was forgotten since (`forget_old_holds`) opens a new hold.
        if let Some(key) = request.idempotency_key.as_deref()
            && let Some(Remembered::Reservation(id)) = self.remembered.get(account, key)
            && let Some(first) = self.holds.get(id)
        {
            return Ok(Answer::Reserved(ReserveAnswer {
                duplicate: true,
                ..first.answer.clone()
            }));
        }
        let ttl_ms = request.ttl_ms.unwrap_or(TTL_MS_DEFAULT);
        if ttl_ms == 0 || ttl_ms > TTL_MS_MAX {
            return Err(LedgerError::invalid(
                "invalid_field",
                "ttl_ms",
                format!("ttl_ms must be 1 to {TTL_MS_MAX}"),
            ));
        }
        if self.n_open_holds >= self.limits.open_reservations_max {
            return Err(LedgerError::LimitReached {
                field: "amount".into(),
                message: format!(
                    "{} reservations are open, the most the ledger holds",
                    self.n_open_holds
                ),
            });
        }
        self.check_amounts(
            request
                .amount
                .iter()
                .map(|(name, value)| (name.as_str(), *value)),
            "amount",
        )?;
        let prepared = self.prepare(&request.amount, "amount")?;
        if let Some(refused) = self.halted_on_path(account) {
            return Ok(refused);
        }
        // Invariant: a hold is granted only if every account on the path stays strictly below
        // its stop threshold in every dimension it asks for, or only warns at stop.
        for id in self.path_ids(account) {
            if self.warn_only_at(id, crate::level::Level::Black) {
                continue;
            }
            let acc = &self.accounts[id.0 as usize];
            for (dim, requested) in &prepared.known {
                let Some(slot) = acc.slot(*dim) else { continue };
                let Some(limit) = slot.limit else { continue };
                let thresholds = acc.config.thresholds;
                if !thresholds.below_stop(slot.used().saturating_add(*requested), limit) {
                    let available = thresholds.headroom_below_stop(slot.used(), limit);
                    return Ok(Answer::Denied(crate::command::Denial {
                        account: id,
                        dimension: *dim,
                        requested: *requested,
                        available,
                    }));
                }
            }
        }
        let amount = self.intern(prepared, events);
        let event = Event::ReservationOpened {
            account,
            amount,
            expires_ms: now_ms.saturating_add(ttl_ms),
            idempotency_key: request.idempotency_key.as_deref().map(Arc::from),
            at_ms: now_ms,
        };
        self.emit(event, events);
        let id = self.last_seq_of_fact(events);
        Ok(Answer::Reserved(self.holds[&id].answer.clone()))
    }

    pub(crate) fn settle(
        &mut self,
        request: SettleRequest,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let id = request.reservation;
        let hold = self
            .holds
            .get(&id)
            .ok_or_else(|| LedgerError::ReservationNotFound {
                id: reservation_name(id),
            })?;
        match &hold.state {
            HoldState::Settled(first) => {
                return Ok(Answer::Usage(UsageAnswer {
                    duplicate: true,
                    ..first.clone()
                }));
            }
            HoldState::Voided => {
                return Err(LedgerError::Conflict {
                    code: "reservation_void",
                    message: format!("reservation {} was voided", reservation_name(id)),
                });
            }
            HoldState::Open | HoldState::Expired => {}
        }
        Self::check_text(request.operation.as_deref(), "operation", OPERATION_LEN_MAX)?;
        let prepared = self.check_spend(Spend::from_named(request.usage), request.work_units)?;
        let usage = self.intern(prepared, events);
        let event = Event::ReservationSettled {
            reservation: id,
            usage,
            work_units: request.work_units,
            operation: request.operation.map(|text| Arc::from(text.as_str())),
            at_ms: now_ms,
        };
        self.emit(event, events);
        match &self.holds[&id].state {
            HoldState::Settled(answer) => Ok(Answer::Usage(answer.clone())),
            other => unreachable!("a settled hold is in state {other:?}"),
        }
    }

    pub(crate) fn void(
        &mut self,
        id: u64,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let hold = self
            .holds
            .get(&id)
            .ok_or_else(|| LedgerError::ReservationNotFound {
                id: reservation_name(id),
            })?;
        match hold.state {
            HoldState::Open => {
                self.emit(
                    Event::ReservationVoided {
                        reservation: id,
                        at_ms: now_ms,
                    },
                    events,
                );
                Ok(Answer::Voided { reservation: id })
            }
            HoldState::Voided => Ok(Answer::Voided { reservation: id }),
            HoldState::Expired | HoldState::Settled(_) => Err(LedgerError::Conflict {
                code: "reservation_closed",
                message: format!(
                    "reservation {} is already {}",
                    reservation_name(id),
                    hold_state_name(&hold.state)
                ),
            }),
        }
    }

    pub(crate) fn expire_due(&mut self, now_ms: u64, events: &mut Vec<Event>) -> Answer {
        let due: Vec<u64> = self
            .expiry
            .iter()
            .take_while(|(expires_ms, _)| *expires_ms <= now_ms)
            .take(self.limits.expiries_per_command_max)
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            self.emit(
                Event::ReservationExpired {
                    reservation: *id,
                    at_ms: now_ms,
                },
                events,
            );
        }
        Answer::Expired { count: due.len() }
    }
}

pub fn reservation_name(id: u64) -> String {
    format!("rsv_{id}")
}

fn hold_state_name(state: &HoldState) -> &'static str {
    match state {
        HoldState::Open => "open",
        HoldState::Voided => "void",
        HoldState::Expired => "expired",
        HoldState::Settled(_) => "settled",
    }
}
