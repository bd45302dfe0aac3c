//! The deterministic simulation: a seeded generator, a manual clock, one org of teams of
//! workflows of agents driven through the pure core, and the invariants checked after every step.
//! `world.rs` builds the tree and plays the operator, `agents.rs` the agents; `model.rs` and
//! `stops.rs` keep what the checks compare the ledger with.

mod agents;
pub mod model;
pub mod rng;
pub mod stops;
mod world;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Display;

use purser_core::foresight::{Foresight, ForesightConfig};
use purser_core::{
    AccountId, Answer, Command, Event, Ledger, LedgerError, LedgerLimits, LedgerSnapshot, Level,
};

use agents::Agent;
use model::{DIMS, Model, PlanView};
use rng::Rng;
use stops::StopWatch;

/// The size of one run.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub agents: usize,
    /// Ticks of 200 ms to 1 s of virtual time.
    pub steps: usize,
    /// A restart every this many steps.
    pub restart_every: usize,
    /// Keep every event (to compare two runs).
    pub keep_events: bool,
}

impl SimConfig {
    /// The variables that rerun this configuration: `SIM_SEED` first.
    pub fn reproduce(&self) -> String {
        format!(
            "SIM_SEED={} SIM_AGENTS={} SIM_STEPS={} SIM_RESTART_EVERY={}",
            self.seed, self.agents, self.steps, self.restart_every
        )
    }
}

/// What happened, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub commands: u64,
    pub events: u64,
    pub reports: u64,
    pub duplicates: u64,
    pub holds: u64,
    pub denied: u64,
    pub settled: u64,
    pub late_settled: u64,
    pub voided: u64,
    pub abandoned: u64,
    pub expired: u64,
    pub raises: u64,
    pub raises_refused: u64,
    pub spawned: u64,
    pub spawns_refused: u64,
    pub closed: u64,
    pub closes_refused: u64,
    pub stale_refused: u64,
    pub alerts_raised: u64,
    pub alerts_cleared: u64,
    pub restarts: u64,
}

/// The ledger's bounds: settled holds and idempotency keys are remembered for minutes (late
/// settles come within a minute of expiry, retries at once), so the oldest are forgotten in the
/// run, and snapshots stay small enough to compare often.
const LIMITS: LedgerLimits = LedgerLimits {
    accounts_max: 100_000,
    open_reservations_max: 100_000,
    idempotency_keys_max: 10_000,
    closed_reservations_max: 10_000,
    expiries_per_command_max: 100_000,
    amount_max: purser_core::ledger::AMOUNT_MAX_DEFAULT,
};
/// The virtual clock's start.
pub const START_MS: u64 = 1_000_000;
/// Where an agent's next wake-up is kept in the queue; the operator has its own slot.
const OPERATOR: usize = usize::MAX;

pub struct Sim {
    pub cfg: SimConfig,
    rng: Rng,
    pub now_ms: u64,
    pub step: usize,
    ledger: Ledger,
    manager: Foresight,
    manager_config: ForesightConfig,
    /// Replays every event from the first, as a restart from an empty journal would.
    replica: Ledger,
    events: Vec<Event>,
    /// Events since the last restart's snapshot, and that snapshot.
    journal_tail: Vec<Event>,
    restart_snapshot: LedgerSnapshot,
    pub all_events: Vec<Event>,
    pub model: Model,
    plan: PlanView,
    pub stops: StopWatch,
    agents: Vec<Agent>,
    queue: BinaryHeap<Reverse<(u64, usize)>>,
    workflows: Vec<usize>,
    /// Accounts and dimensions charged since the last forecast pass.
    touched: Vec<[bool; 2]>,
    touched_list: Vec<(usize, usize)>,
    next_forecast_ms: u64,
    pub stats: Stats,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        let manager_config = ForesightConfig::default();
        let mut sim = Sim {
            cfg,
            rng: Rng::new(cfg.seed),
            now_ms: START_MS,
            step: 0,
            ledger: Ledger::new(LIMITS),
            manager: Foresight::new(manager_config),
            manager_config,
            replica: Ledger::new(LIMITS),
            events: Vec::new(),
            journal_tail: Vec::new(),
            restart_snapshot: Ledger::new(LIMITS).to_snapshot(),
            all_events: Vec::new(),
            model: Model::new(manager_config.optimizer),
            plan: PlanView::default(),
            stops: StopWatch::new(
                manager_config.watch.lead_time_ms,
                manager_config.watch.alert_confidence,
            ),
            agents: Vec::new(),
            queue: BinaryHeap::new(),
            workflows: Vec::new(),
            touched: Vec::new(),
            touched_list: Vec::new(),
            next_forecast_ms: 0,
            stats: Stats::default(),
        };
        sim.build();
        sim.check_all();
        sim
    }

    /// Fails the run with what reproduces it first.
    fn fail(&self, message: impl Display) -> ! {
        panic!(
            "{}: step {} at {} ms: {message}",
            self.cfg.reproduce(),
            self.step,
            self.now_ms
        );
    }

    pub fn run(&mut self) {
        while self.step < self.cfg.steps {
            self.run_step();
        }
        self.restart();
    }

    /// One step: the agents and the operator act in time order up to the next tick, then the
    /// clock ticks; the invariants are checked after every command and after the tick.
    fn run_step(&mut self) {
        let until_ms = self.now_ms + self.rng.range(200, 1_000);
        while let Some(&Reverse((due_ms, who))) = self.queue.peek() {
            if due_ms > until_ms {
                break;
            }
            self.queue.pop();
            self.now_ms = due_ms;
            let next = if who == OPERATOR {
                self.operate();
                Some(due_ms + self.rng.range(2_000, 10_000))
            } else {
                self.wake(who)
            };
            if let Some(next_ms) = next {
                self.queue.push(Reverse((next_ms.max(due_ms + 1), who)));
            }
        }
        self.now_ms = until_ms;
        self.tick();
        self.record_forecasts();
        self.check_all();
        self.step += 1;
        if self.step.is_multiple_of(self.cfg.restart_every) {
            self.restart();
        }
    }

    /// Applies a command now through the manager and folds what it decided into the checks.
    fn apply(&mut self, command: Command) -> Result<Answer, LedgerError> {
        self.stats.commands += 1;
        let answer = self
            .manager
            .apply(&mut self.ledger, command, self.now_ms, &mut self.events);
        if answer.is_err() && !self.events.is_empty() {
            self.fail(format!("a refused command wrote events: {answer:?}"));
        }
        self.drain_events();
        answer
    }

    /// Each event: into the model's tree and limits, the stop watch, the replica and the journal.
    fn drain_events(&mut self) {
        let events = std::mem::take(&mut self.events);
        for event in events {
            self.stats.events += 1;
            let seq = self.replica.last_seq() + 1;
            if let Err(message) = self.model.apply_event(&event, &self.plan) {
                self.fail(format!("event {seq} {event:?}: {message}"));
            }
            if let Err(message) = self.stops.on_event(&event) {
                self.fail(message);
            }
            match &event {
                Event::AlertRaised { .. } => self.stats.alerts_raised += 1,
                Event::AlertCleared { .. } => self.stats.alerts_cleared += 1,
                _ => {}
            }
            if let Err(err) = self.replica.replay(seq, event.clone()) {
                self.fail(format!("replay from scratch: {err}"));
            }
            if self.cfg.keep_events {
                self.all_events.push(event.clone());
            }
            self.journal_tail.push(event);
        }
        if self.replica.last_seq() != self.ledger.last_seq() {
            self.fail("the replica is not at the live ledger's last event");
        }
    }

    /// The clock: expiries, the alert pass and the optimizer when due.
    fn tick(&mut self) {
        self.plan = self.model.plan_view();
        let outcome = self
            .manager
            .tick(&mut self.ledger, self.now_ms, &mut self.events);
        let expired = self.model.expire_due(self.now_ms);
        self.stats.expired += expired as u64;
        if outcome.expired != expired {
            self.fail(format!(
                "{} holds expired, the model expected {expired}",
                outcome.expired
            ));
        }
        self.drain_events();
    }

    /// Marks the dimensions `id` and its ancestors consumed in, for the next forecast pass.
    fn touch(&mut self, id: usize, amount: [u64; 2]) {
        let mut next = Some(id);
        while let Some(at) = next {
            if self.touched.len() <= at {
                self.touched.resize(at + 1, [false; 2]);
            }
            for d in (0..2).filter(|d| amount[*d] > 0) {
                if !self.touched[at][d] {
                    self.touched[at][d] = true;
                    self.touched_list.push((at, d));
                }
            }
            next = self.model.accounts[at].parent;
        }
    }

    /// Every alert period (in step with the alert pass), the forecast of each limited series that
    /// moved since the last one (the ones the alert pass looks at) of an account not stopped yet,
    /// recorded for invariant 4. The question is whether the account is stopped within the lead
    /// time, so the forecasts run to now plus the lead time, as the alert pass's do: their
    /// confidence is that of predictions that far out (an hour-long forecast's says little about
    /// the next minute).
    fn record_forecasts(&mut self) {
        if self.now_ms < self.next_forecast_ms {
            return;
        }
        self.next_forecast_ms = self.now_ms + self.manager_config.alerts_every_ms;
        let lead_ms = self.manager_config.watch.lead_time_ms;
        self.manager
            .watch
            .set_horizon_end(Some(self.now_ms + lead_ms));
        let mut list = std::mem::take(&mut self.touched_list);
        list.sort_unstable();
        for &(id, d) in &list {
            self.touched[id][d] = false;
            let account = AccountId(id as u32);
            let acc = &self.model.accounts[id];
            let Some(limit) = acc.limit[d].filter(|_| !acc.closed) else {
                continue;
            };
            if self.ledger.account(account).level == Level::Black {
                continue;
            }
            let stop_at = (u128::from(limit) * u128::from(acc.stop_ppm)).div_ceil(1_000_000) as u64;
            let Some(forecast) =
                self.manager
                    .forecast(&mut self.ledger, account, DIMS[d], self.now_ms)
            else {
                continue;
            };
            let alarming = self
                .stops
                .record(account, d, self.now_ms, &forecast, stop_at);
            // The alert pass ran at this very time on this very forecast: it must have acted.
            if alarming && self.ledger.account(account).alert.is_none() {
                self.fail(format!(
                    "{} dim {d}: the forecast was confident ({:.3}) of {} consumed within the \
                     lead time, past the stop line {stop_at}, and no alert is raised",
                    self.model.accounts[id].path, forecast.confidence, forecast.projected_total
                ));
            }
        }
        self.manager.watch.set_horizon_end(None);
        list.clear();
        self.touched_list = list;
    }

    /// Invariant 1 on the path of `id`, after a command that changed it.
    fn check_path(&self, id: usize) {
        if let Err(message) = self.model.check_path(&self.ledger, id) {
            self.fail(message);
        }
    }

    fn check_all(&self) {
        if let Err(message) = self.model.check_all(&self.ledger) {
            self.fail(message);
        }
    }

    /// Invariant 5 at a restart: the live ledger's snapshot, the ledger rebuilt from it, the one
    /// rebuilt from the previous restart's snapshot and the journal since, and the one replayed
    /// from the first event are equal byte for byte. The run goes on with one of the rebuilt
    /// ledgers, and a new manager (its watch is derived state).
    fn restart(&mut self) {
        self.stats.restarts += 1;
        let snapshot = self.ledger.to_snapshot();
        let live = encode(&snapshot);
        let from_snapshot = Ledger::from_snapshot(snapshot.clone(), LIMITS);
        let mut from_journal = Ledger::from_snapshot(self.restart_snapshot.clone(), LIMITS);
        let first_seq = self.restart_snapshot.last_seq + 1;
        for (idx, event) in self.journal_tail.iter().enumerate() {
            if let Err(err) = from_journal.replay(first_seq + idx as u64, event.clone()) {
                self.fail(format!("replay after the last snapshot: {err}"));
            }
        }
        if !from_journal.replay_settled() || !self.replica.replay_settled() {
            self.fail("replay ended with derived events the journal lacks");
        }
        let rebuilt = [
            ("from its snapshot", &from_snapshot),
            ("from the last snapshot and the journal", &from_journal),
            ("replayed from scratch", &self.replica),
        ];
        for (how, ledger) in rebuilt {
            if encode(&ledger.to_snapshot()) != live {
                self.fail(format!(
                    "the ledger rebuilt {how} differs from the live one"
                ));
            }
        }
        self.ledger = match self.stats.restarts % 3 {
            0 => from_snapshot,
            1 => from_journal,
            _ => self.replica.clone(),
        };
        self.manager = Foresight::new(self.manager_config);
        self.next_forecast_ms = 0;
        self.restart_snapshot = snapshot;
        self.journal_tail.clear();
    }
}

fn encode(snapshot: &LedgerSnapshot) -> Vec<u8> {
    postcard::to_stdvec(snapshot).expect("a snapshot encodes")
}
