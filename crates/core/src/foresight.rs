//! Foresight: the ledger with its watch (forecasts and alerts) and its optimizer, driven by
//! commands and by the clock's ticks. Pure like the ledger: time comes in as a value, and the
//! same commands and ticks at the same times give the same events.

use crate::account::AccountId;
use crate::account::OptimizerPolicy;
use crate::amount::DimId;
use crate::command::Move;
use crate::command::{Answer, Command};
use crate::error::LedgerError;
use crate::event::Event;
use crate::ledger::{Ledger, ReplayError};
use crate::optimize::{Outlook, plan_moves};
use crate::watch::{Forecast, Watch, WatchConfig};

/// How often foresight looks ahead and rebalances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForesightConfig {
    pub watch: WatchConfig,
    pub optimizer: OptimizerPolicy,
    /// The optimizer's pass runs this often; 0 turns it off.
    pub optimizer_every_ms: u64,
    /// The alert pass runs this often.
    pub alerts_every_ms: u64,
}

impl Default for ForesightConfig {
    fn default() -> Self {
        ForesightConfig {
            watch: WatchConfig::default(),
            optimizer: OptimizerPolicy::default(),
            optimizer_every_ms: 10_000,
            alerts_every_ms: 5_000,
        }
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickOutcome {
    pub expired: usize,
    pub alerts_raised: usize,
    pub alerts_cleared: usize,
    /// The optimizer's moves applied in this tick.
    pub moves: Vec<Move>,
}

/// The watch and the optimizer's timing; the ledger is passed in, so that its owner keeps it.
pub struct Foresight {
    pub watch: Watch,
    config: ForesightConfig,
    next_alerts_ms: u64,
    next_optimizer_ms: u64,
}

impl Foresight {
    pub fn new(config: ForesightConfig) -> Foresight {
        let watch_config = WatchConfig {
            pass_every_ms: config.alerts_every_ms,
            ..config.watch
        };
        Foresight {
            watch: Watch::new(watch_config),
            config,
            next_alerts_ms: 0,
            next_optimizer_ms: 0,
        }
    }

    pub fn config(&self) -> &ForesightConfig {
        &self.config
    }

    /// Applies a command, as `Ledger::apply`; a closed account's forecasts become history.
    pub fn apply(
        &mut self,
        ledger: &mut Ledger,
        command: Command,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let closing = matches!(command, Command::CloseAccount { .. });
        let answer = ledger.apply(command, now_ms, events)?;
        if closing && let Answer::Closed { account } = answer {
            self.watch.finish(ledger, account, now_ms);
        }
        Ok(answer)
    }

    /// Folds a journaled event, sampling the watch as time moves on.
    pub fn replay(
        &mut self,
        ledger: &mut Ledger,
        seq: u64,
        event: Event,
    ) -> Result<(), ReplayError> {
        let at_ms = event.at_ms();
        let closed = match &event {
            Event::AccountClosed { account, .. } => Some(*account),
            _ => None,
        };
        ledger.replay(seq, event)?;
        if let (Some(at_ms), Some(account)) = (at_ms, closed) {
            self.watch.finish(ledger, account, at_ms);
        }
        Ok(())
    }

    /// Records consumption since the last sample in the forecasts.
    pub fn sample(&mut self, ledger: &mut Ledger, now_ms: u64) {
        self.watch.sample(ledger, now_ms);
    }

    /// The forecast of `account`'s `dim` now.
    pub fn forecast(
        &mut self,
        ledger: &mut Ledger,
        account: AccountId,
        dim: DimId,
        now_ms: u64,
    ) -> Option<Forecast> {
        self.sample(ledger, now_ms);
        self.watch.forecast(ledger, account, dim, now_ms)
    }

    /// The optimizer's moves at `now_ms`, decided but not applied (a dry run).
    pub fn plan_moves(&mut self, ledger: &mut Ledger, now_ms: u64) -> Vec<Move> {
        self.sample(ledger, now_ms);
        let ledger: &Ledger = ledger;
        let Foresight { watch, config, .. } = self;
        plan_moves(ledger, now_ms, &config.optimizer, &mut |account, dim| {
            watch
                .forecast(ledger, account, dim, now_ms)
                .map(|forecast| Outlook {
                    projected_total: forecast.projected_total,
                    time_to_exhaustion_s: forecast.time_to_exhaustion_s,
                    method: forecast.method.name(),
                    confidence: forecast.confidence,
                    n_backtests: forecast.n_backtests,
                    interval_low: forecast.interval.low,
                })
        })
    }

    /// Runs the optimizer now and applies its moves; answers the moves applied.
    pub fn optimize(
        &mut self,
        ledger: &mut Ledger,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Vec<Move> {
        let moves = self.plan_moves(ledger, now_ms);
        let mut applied = Vec::with_capacity(moves.len());
        for mv in moves {
            let before = events.len();
            let answer = ledger.apply(Command::Reallocate(vec![mv.clone()]), now_ms, events);
            if matches!(answer, Ok(Answer::Reallocated { applied: 1, .. })) {
                debug_assert!(events.len() > before);
                applied.push(mv);
            }
        }
        applied
    }

    /// Whether the clock's next tick at `now_ms` runs the alert pass.
    pub fn alerts_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_alerts_ms
    }

    /// Raises and clears forecast alerts now.
    pub fn check_alerts(
        &mut self,
        ledger: &mut Ledger,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> (usize, usize) {
        self.sample(ledger, now_ms);
        let commands = self.watch.alerts(ledger, now_ms);
        let (mut raised, mut cleared) = (0, 0);
        for command in commands {
            let raising = command.raise.is_some();
            if let Ok(Answer::Alerted { changed: true }) =
                ledger.apply(Command::Alert(command), now_ms, events)
            {
                if raising {
                    raised += 1;
                } else {
                    cleared += 1;
                }
            }
        }
        (raised, cleared)
    }

    /// The clock's work: expired holds, then the alert pass and the optimizer when due.
    pub fn tick(
        &mut self,
        ledger: &mut Ledger,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> TickOutcome {
        let mut outcome = TickOutcome::default();
        if let Ok(Answer::Expired { count }) = ledger.apply(Command::ExpireDue, now_ms, events) {
            outcome.expired = count;
        }
        self.sample(ledger, now_ms);
        if now_ms >= self.next_alerts_ms {
            self.next_alerts_ms = now_ms + self.config.alerts_every_ms.max(1);
            (outcome.alerts_raised, outcome.alerts_cleared) =
                self.check_alerts(ledger, now_ms, events);
        }
        if self.config.optimizer_every_ms > 0 && now_ms >= self.next_optimizer_ms {
            if self.next_optimizer_ms == 0 {
                // The first pass waits a whole interval: idleness needs time to show.
                self.next_optimizer_ms = now_ms + self.config.optimizer_every_ms;
            } else {
                self.next_optimizer_ms = now_ms + self.config.optimizer_every_ms;
                outcome.moves = self.optimize(ledger, now_ms, events);
            }
        }
        outcome
    }
}
