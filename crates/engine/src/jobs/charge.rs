//! Machine time on the ledger: the holds placements of charged DAGs take (the [`Budget`] the
//! DAG state is applied with) and the settlement of each attempt that ended. Holds, settlements
//! and the DAG events that caused them are journaled in the same batch, so a restart neither
//! loses nor repeats a charge.

use purser_core::foresight::Foresight;
use purser_core::{
    Action, Answer, Command, Event, Ledger, LedgerError, ReserveRequest, SettleRequest, UsageReport,
};
use purser_sched::{Budget, CostAsk, DagEvent, Rung, Unaffordable};

use crate::record::Record;
use crate::state::EngineState;

/// The dimension machine time is charged in (money), and the one that counts the time itself.
pub const COST_DIMENSION: &str = "cost_micros";
pub const TIME_DIMENSION: &str = "time_ms";
/// What settlements and their fallback reports are labelled with.
pub const MACHINE_TIME_OPERATION: &str = "machine_time";

/// The ledger as the budget of placements: each hold is a reservation of the estimated cost
/// and machine time on the task's account; its events join the batch.
pub(crate) struct LedgerBudget<'a> {
    pub ledger: &'a mut Ledger,
    pub foresight: &'a mut Foresight,
    pub events: &'a mut Vec<Event>,
    pub records: &'a mut Vec<Record>,
    pub now_ms: u64,
}

impl Budget for LedgerBudget<'_> {
    fn reserve(&mut self, ask: &CostAsk<'_>) -> Result<u64, Unaffordable> {
        let unaffordable = |dimension: &str, needed: u64, available: u64| Unaffordable {
            account: ask.account.to_string(),
            dimension: dimension.to_string(),
            needed,
            available,
        };
        let Ok(account) = purser_core::AccountPath::parse(ask.account) else {
            return Err(unaffordable(COST_DIMENSION, ask.cost_micros, 0));
        };
        // The attempt ends (and settles) by itself at the latest when its lease lapses; the
        // hold lasts as long as the ledger allows so that it covers the attempt throughout.
        let ttl_ms = purser_core::TTL_MS_MAX;
        let request = ReserveRequest {
            account,
            amount: vec![
                (COST_DIMENSION.to_string(), ask.cost_micros),
                (TIME_DIMENSION.to_string(), ask.time_ms),
            ],
            ttl_ms: Some(ttl_ms),
            idempotency_key: None,
        };
        let answer = self.foresight.apply(
            self.ledger,
            Command::Reserve(request),
            self.now_ms,
            self.events,
        );
        self.records
            .extend(self.events.drain(..).map(Record::Ledger));
        match answer {
            Ok(Answer::Reserved(reserved)) => Ok(reserved.reservation),
            Ok(Answer::Denied(denial)) => Err(unaffordable(
                self.ledger.dimensions().name(denial.dimension),
                denial.requested,
                denial.available,
            )),
            Ok(other) => unreachable!("a hold answered {other:?}"),
            // A closed or missing account, or an amount over the maximum: nothing can be held.
            Err(err) => Err(Unaffordable {
                dimension: refusal_dimension(&err),
                ..unaffordable(COST_DIMENSION, ask.cost_micros, 0)
            }),
        }
    }

    fn left(&mut self, account: &str) -> Option<u64> {
        let id = self.ledger.lookup(account)?;
        let dim = self.ledger.dimensions().lookup(COST_DIMENSION)?;
        self.ledger.holdable_on_path(id, dim)
    }

    /// The account's enforcement (its own level and its ancestors', the worst) as a rung of
    /// the placement ladder. An account that is gone stops its DAG's placements.
    fn rung(&mut self, account: &str) -> Rung {
        let Some(id) = self.ledger.lookup(account) else {
            return Rung::Stop {
                dimension: "account_not_found".into(),
            };
        };
        let verdict = self.ledger.verdict(id);
        match verdict.action {
            Action::Continue | Action::Warn | Action::WarnOnly { .. } => Rung::Continue,
            Action::Throttle { rate } => Rung::Throttle { rate },
            Action::Degrade => Rung::Degrade,
            Action::Stop | Action::Pause => Rung::Stop {
                dimension: verdict
                    .fired
                    .map(|fired| self.ledger.dimensions().name(fired.dimension).to_string())
                    .unwrap_or_else(|| COST_DIMENSION.to_string()),
            },
        }
    }
}

fn refusal_dimension(err: &LedgerError) -> String {
    match err {
        LedgerError::AccountNotFound { .. } => "account_not_found".into(),
        _ => COST_DIMENSION.into(),
    }
}

impl EngineState {
    /// Settles the attempts that `events` ended, in order: the hold with what the attempt ran,
    /// or a void when it never ran. A hold the ledger no longer knows is charged as usage,
    /// once, under a key of the task and attempt.
    pub(crate) fn settle_attempts(&mut self, events: &[DagEvent], now_ms: u64) {
        for event in events {
            let DagEvent::AttemptEnded {
                task,
                attempt,
                reservation,
                cost_micros,
                time_ms,
                ..
            } = event
            else {
                continue;
            };
            let usage = vec![
                (COST_DIMENSION.to_string(), *cost_micros),
                (TIME_DIMENSION.to_string(), *time_ms),
            ];
            let command = if *cost_micros == 0 && *time_ms == 0 {
                Command::Void {
                    reservation: *reservation,
                }
            } else {
                Command::Settle(SettleRequest {
                    reservation: *reservation,
                    usage: usage.clone(),
                    operation: Some(MACHINE_TIME_OPERATION.into()),
                    work_units: 0,
                })
            };
            let settled = self.apply_ledger(command, now_ms);
            let forgotten = matches!(settled, Err(LedgerError::ReservationNotFound { .. }));
            if !forgotten || (*cost_micros == 0 && *time_ms == 0) {
                continue;
            }
            let account = self
                .dags
                .charge(task.dag)
                .map(|charge| charge.account_of(task.task).to_string());
            let Some(Ok(account)) = account.map(|path| purser_core::AccountPath::parse(&path))
            else {
                continue;
            };
            let report = UsageReport {
                account_id: None,
                account,
                usage: usage.into(),
                operation: Some(MACHINE_TIME_OPERATION.into()),
                work_units: 0,
                idempotency_key: Some(format!("{task}#{attempt}")),
            };
            if let Err(err) = self.apply_ledger(Command::Usage(report), now_ms) {
                eprintln!(
                    "purser: the machine time of {task} attempt {attempt} was not charged: {err}"
                );
            }
        }
    }
}
