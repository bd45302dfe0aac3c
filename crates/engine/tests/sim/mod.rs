//! The simulated world: the engine's state over an in-memory journal, the clock, the clients'
//! knowledge (holds they hold, tasks they lease, DAGs they submitted), crashes and recovery, and
//! the checks after every step.

mod checks;
mod clients;
mod rules;

use purser_core::foresight::ForesightConfig;
use purser_core::{AccountConfig, AccountPath, LedgerLimits};
use purser_engine::jobs::Delivery;
use purser_engine::{EngineConfig, EngineState, open_state};
use purser_sched::{DagConfig, Pool, TaskRef};
use purser_store::{MemJournal, MemStorage};

/// Where the clock starts: 2026-11-19.
pub const START_MS: u64 = 1_795_000_000_000;
/// The lease TTL of the simulation: short, so that leases lapse often.
pub const LEASE_TTL_MS: u64 = 5_000;

/// What a run did, so that a run that did nothing of interest fails.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub steps: u64,
    pub crashes: u64,
    pub usage_acked: u64,
    pub holds_granted: u64,
    pub holds_denied: u64,
    pub tasks_completed: u64,
    pub leases_lapsed: u64,
    pub snapshots_seen: u64,
}

/// A seeded generator (SplitMix64): the same seed, the same run.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[low, high)`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.next() as usize % items.len()])
    }
}

/// A hold a client holds: its id, what it held in tokens, and when it expires.
#[derive(Clone, Debug)]
pub struct HeldHold {
    pub id: u64,
    pub tokens: u64,
    pub expires_ms: u64,
}

/// A task a worker leased.
#[derive(Clone, Debug)]
pub struct LeasedTask {
    pub task: TaskRef,
    pub attempt: u32,
}

pub struct Sim {
    pub rng: Rng,
    pub seed: u64,
    storage: MemStorage,
    state: Option<EngineState>,
    config: EngineConfig,
    pub now_ms: u64,
    /// The last seq of every batch answered: all of it must survive any crash.
    acked_seq: u64,
    pub stats: Stats,
    /// A second reader of the journal, folding every committed batch as a restart would.
    follower: checks::Follower,
    /// Accounts that report usage directly (under `sim/teams`).
    pub agents: Vec<AccountPath>,
    /// Accounts that spend only through holds settled at most as held (under `sim/holds`).
    pub hold_agents: Vec<AccountPath>,
    pub holds: Vec<HeldHold>,
    pub leased: Vec<LeasedTask>,
    pub dags: Vec<u64>,
    /// Increase requests asked and not yet decided.
    pub requests: Vec<u64>,
    /// Idempotency keys already sent, for retries.
    pub keys: Vec<(AccountPath, String)>,
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        // The cloud costs $10 an hour a machine: its tasks' machine time is charged.
        let mut cloud = Pool::local("cloud", 2, 4);
        cloud.on_demand_per_hour_micros = 10_000_000;
        let mut dags = DagConfig::of_pools(vec![Pool::local("local", 2, 8), cloud]);
        dags.lease_ttl_ms = LEASE_TTL_MS;
        // Finished DAGs are forgotten beyond this, as a long-running server forgets them.
        dags.limits.dags_max = 64;
        let config = EngineConfig {
            limits: LedgerLimits {
                idempotency_keys_max: 200,
                closed_reservations_max: 200,
                ..LedgerLimits::default()
            },
            defaults: AccountConfig::default(),
            dags,
            foresight: ForesightConfig::default(),
            // Small, so that snapshots and compaction happen many times in a run.
            snapshot_every_events: 400,
            standby: false,
        };
        let storage = MemStorage::new();
        let (journal, _) = MemJournal::open(&storage).expect("a new journal opens");
        let (state, _) = open_state(Box::new(journal), &config).expect("an empty journal recovers");
        let mut sim = Sim {
            rng: Rng(seed ^ 0x5EED),
            seed,
            storage,
            state: Some(state),
            config,
            now_ms: START_MS,
            acked_seq: 0,
            stats: Stats::default(),
            follower: checks::Follower::default(),
            agents: Vec::new(),
            hold_agents: Vec::new(),
            holds: Vec::new(),
            leased: Vec::new(),
            dags: Vec::new(),
            requests: Vec::new(),
            keys: Vec::new(),
        };
        sim.open_accounts();
        sim
    }

    pub fn state(&self) -> &EngineState {
        self.state.as_ref().expect("the engine is running")
    }

    /// One step: the clock moves, a batch of requests (and the clock's tick) is applied and
    /// committed; then, sometimes, a crash; then the checks.
    pub fn step(&mut self) {
        self.stats.steps += 1;
        self.now_ms += if self.rng.chance(30) {
            self.rng.range(LEASE_TTL_MS, 70_000)
        } else {
            self.rng.range(0, 2_000)
        };
        let mut batch = Vec::new();
        let mut pending = Vec::new();
        for _ in 0..self.rng.range(1, 9) {
            if let Some((op, waiting)) = self.next_request() {
                batch.push(op);
                pending.push(waiting);
            }
        }
        batch.push(purser_engine::Op::Tick);
        let before_seq = self.state().ledger().last_seq();
        let deliveries = self.apply(batch);
        match self.rng.next() % 400 {
            0 => self.crash_unanswered(before_seq, false),
            1 => self.crash_unanswered(before_seq, true),
            _ => {
                for delivery in deliveries {
                    delivery();
                }
                self.acked_seq = self.state().ledger().last_seq();
                for waiting in pending {
                    self.learn(waiting);
                }
                if self.rng.chance(3) {
                    self.crash_after_answers();
                }
            }
        }
        self.check();
    }

    /// Applies a batch of requests at the current time; the writer never fails over memory.
    pub fn apply(&mut self, batch: Vec<purser_engine::Op>) -> Vec<Delivery> {
        let now_ms = self.now_ms;
        let mut deliveries = Vec::new();
        self.state
            .as_mut()
            .expect("the engine is running")
            .step(batch, now_ms, &mut deliveries)
            .expect("an in-memory append never fails");
        deliveries
    }

    /// The process dies after its last answers: everything answered is in the journal.
    fn crash_after_answers(&mut self) {
        let live_seq = self.state().ledger().last_seq();
        self.recover_from_storage();
        assert_eq!(
            self.state().ledger().last_seq(),
            live_seq,
            "seed {}",
            self.seed
        );
    }

    /// The process dies after the batch's append, before answering it; with `lost`, the append
    /// itself is lost too (a power loss before the write reached the disk).
    fn crash_unanswered(&mut self, before_seq: u64, lost: bool) {
        let live_seq = self.state().ledger().last_seq();
        if lost {
            self.storage.crash_after(before_seq);
        }
        self.recover_from_storage();
        let recovered = self.state().ledger().last_seq();
        // Invariant: every acknowledged record survives; an unanswered one may or may not.
        assert!(
            recovered >= self.acked_seq,
            "seed {}: lost acknowledged records",
            self.seed
        );
        let expected = if lost { before_seq } else { live_seq };
        assert_eq!(recovered, expected, "seed {}", self.seed);
        self.acked_seq = recovered;
        // The clients of the unanswered batch learn nothing; holds and leases they believe in
        // may be gone, which the ledger and the DAGs answer for when used.
    }

    fn recover_from_storage(&mut self) {
        self.stats.crashes += 1;
        self.restart_follower();
        drop(self.state.take());
        let (journal, _) = MemJournal::open(&self.storage).expect("the journal reopens");
        let (state, _) = open_state(Box::new(journal), &self.config).expect("the journal recovers");
        self.state = Some(state);
    }
}
