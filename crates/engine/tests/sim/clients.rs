//! The clients: agents reporting usage and taking holds, operators changing limits, submitters
//! of DAGs and the workers running them. Each request is an `Op` with its reply channel; what a
//! client learns from the answer (a hold's id, a leased task) it keeps for later requests.

use std::sync::Arc;

use purser_core::{
    AccountPath, AccountSpec, AllocateRequest, ChildRequest, Command, ReserveRequest,
    SettleRequest, Strategy, UsageReport,
};
use purser_engine::error::EngineError;
use purser_engine::jobs::DagListQuery;
use purser_engine::view::account::{HoldOutcome, UsageView};
use purser_engine::view::dag::{DagView, LeaseView, TaskStateView};
use purser_engine::{Op, Scope};
use purser_sched::{DagCommand, DagError, Resources, SubmitDag, TaskRequest};
use tokio::sync::oneshot::{self, Receiver};

use super::{HeldHold, LeasedTask, Sim};

type Answer<T> = Receiver<Result<T, EngineError>>;

/// An answer a client waits for and learns from.
pub enum Pending {
    Usage(Answer<UsageView>),
    /// A hold asked for, with the tokens it asked.
    Reserve(u64, Answer<HoldOutcome>),
    Settle(Answer<UsageView>),
    Submit(Answer<DagView>),
    Lease(Answer<LeaseView>),
    /// A heartbeat (lapsed leases show there), completion or other task report.
    Task {
        heartbeat: bool,
        reply: Answer<TaskStateView>,
    },
    /// An increase request asked: its id is kept to decide it later.
    Request(Answer<purser_engine::view::account::ManagedView>),
    /// An answer nobody reads.
    Ignored,
}

const WORKERS: [&str; 4] = ["local-0", "local-1", "cloud-0", "cloud-1"];

fn path(text: &str) -> AccountPath {
    AccountPath::parse(text).expect("a valid path")
}

fn named(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), *value))
        .collect()
}

impl Sim {
    /// The tree: an org with teams of agents that report usage, and a subtree of agents that
    /// spend only through holds.
    pub(super) fn open_accounts(&mut self) {
        let mut batch = Vec::new();
        let mut put = |text: &str, tokens: u64| {
            let spec = AccountSpec {
                limits: Some(named(&[("tokens", tokens), ("cost_micros", tokens * 10)])),
                ..AccountSpec::default()
            };
            let (reply, _) = oneshot::channel();
            let command = Command::UpsertAccount {
                path: path(text),
                spec,
            };
            batch.push(Op::Manage(command, Arc::from("sim"), reply));
        };
        put("sim", 100_000_000);
        put("sim/teams", 40_000_000);
        put("sim/holds", 20_000_000);
        for team in 0..4 {
            put(&format!("sim/teams/t{team}"), 8_000_000);
            for agent in 0..5 {
                let text = format!("sim/teams/t{team}/a{agent}");
                put(&text, 1_000_000);
                self.agents.push(path(&text));
            }
        }
        for agent in 0..6 {
            let text = format!("sim/holds/h{agent}");
            put(&text, 600_000);
            self.hold_agents.push(path(&text));
        }
        for delivery in self.apply(batch) {
            delivery();
        }
    }

    /// The next request of some client, or none when the one drawn has nothing to do.
    pub(super) fn next_request(&mut self) -> Option<(Op, Pending)> {
        match self.rng.next() % 100 {
            0..35 => Some(self.usage()),
            35..50 => self.reserve(),
            50..60 => self.settle(),
            60..63 => self.void(),
            63..66 => Some(self.usage_batch()),
            66..69 => self.manage(),
            69..75 => Some(self.submit()),
            75..85 => Some(self.lease()),
            85..97 => self.task(),
            97 => Some(self.interrupted()),
            98 => self.cancel(),
            _ => Some(self.read()),
        }
    }

    fn report(&mut self) -> UsageReport {
        let account = self.rng.pick(&self.agents).expect("agents").clone();
        let tokens = self.rng.range(100, 5_000);
        let idempotency_key = if self.rng.chance(150) && !self.keys.is_empty() {
            // A retry: counted once, answered as the first time.
            let (account, key) = self.rng.pick(&self.keys).expect("keys").clone();
            return UsageReport {
                account_id: None,
                account,
                usage: named(&[("tokens", tokens)]).into(),
                operation: None,
                work_units: 1,
                idempotency_key: Some(key),
            };
        } else if self.rng.chance(200) {
            let key = format!("k{}", self.rng.next() % 100_000);
            if self.keys.len() < 500 {
                self.keys.push((account.clone(), key.clone()));
            }
            Some(key)
        } else {
            None
        };
        UsageReport {
            account_id: None,
            account,
            usage: named(&[("tokens", tokens), ("cost_micros", tokens * 3)]).into(),
            operation: Some("llm_call".into()),
            work_units: 1,
            idempotency_key,
        }
    }

    fn usage(&mut self) -> (Op, Pending) {
        let (reply, answer) = oneshot::channel();
        let report = self.report();
        (
            Op::Usage(report, Scope::everything(), reply),
            Pending::Usage(answer),
        )
    }

    fn usage_batch(&mut self) -> (Op, Pending) {
        let reports = (0..self.rng.range(1, 20)).map(|_| self.report()).collect();
        let (reply, _) = oneshot::channel();
        (
            Op::UsageBatch(reports, Scope::under("sim/teams"), reply),
            Pending::Ignored,
        )
    }

    fn reserve(&mut self) -> Option<(Op, Pending)> {
        if self.holds.len() > 200 {
            return None;
        }
        let account = self.rng.pick(&self.hold_agents)?.clone();
        let tokens = self.rng.range(500, 40_000);
        let request = ReserveRequest {
            account,
            amount: named(&[("tokens", tokens)]),
            ttl_ms: Some(self.rng.range(2_000, 60_000)),
            idempotency_key: None,
        };
        let (reply, answer) = oneshot::channel();
        Some((
            Op::Reserve(request, Scope::everything(), reply),
            Pending::Reserve(tokens, answer),
        ))
    }

    /// Settles a hold, before it expires, at most at what it held: the holds subtree never
    /// overshoots. (A hold settled after its expiry still records the usage, beyond what any
    /// live hold covers; that is what lets an agent overshoot, so these agents do not.)
    fn settle(&mut self) -> Option<(Op, Pending)> {
        let now_ms = self.now_ms;
        self.holds.retain(|hold| hold.expires_ms > now_ms);
        if self.holds.is_empty() {
            return None;
        }
        let idx = self.rng.next() as usize % self.holds.len();
        let hold = self.holds.swap_remove(idx);
        let request = SettleRequest {
            reservation: hold.id,
            usage: named(&[("tokens", self.rng.range(0, hold.tokens + 1))]),
            operation: None,
            work_units: 1,
        };
        let (reply, answer) = oneshot::channel();
        Some((
            Op::Settle(request, Scope::everything(), reply),
            Pending::Settle(answer),
        ))
    }

    fn void(&mut self) -> Option<(Op, Pending)> {
        if self.holds.is_empty() {
            return None;
        }
        let idx = self.rng.next() as usize % self.holds.len();
        let hold = self.holds.swap_remove(idx);
        let (reply, _) = oneshot::channel();
        Some((
            Op::Void(hold.id, Scope::everything(), reply),
            Pending::Ignored,
        ))
    }

    /// An operator moves an agent's limit, or reallocates a team.
    fn manage(&mut self) -> Option<(Op, Pending)> {
        if self.rng.chance(400) {
            return self.rules_op();
        }
        let (reply, _) = oneshot::channel();
        let command = if self.rng.chance(500) {
            let account = self.rng.pick(&self.agents)?.clone();
            let spec = AccountSpec {
                limits: Some(named(&[("tokens", self.rng.range(200_000, 2_000_000))])),
                ..AccountSpec::default()
            };
            Command::UpsertAccount {
                path: account,
                spec,
            }
        } else {
            let team = self.rng.range(0, 4);
            let request = AllocateRequest {
                strategy: Strategy::Equal,
                total: Some(named(&[("tokens", self.rng.range(1_000_000, 6_000_000))])),
                children: (0..5)
                    .map(|agent| ChildRequest {
                        name: format!("a{agent}"),
                        weight: None,
                        priority: None,
                        demand: None,
                    })
                    .collect(),
                min_share: None,
                max_share: None,
                initial_share: None,
            };
            Command::Allocate {
                path: path(&format!("sim/teams/t{team}")),
                request,
            }
        };
        Some((
            Op::Manage(command, Arc::from("operator"), reply),
            Pending::Ignored,
        ))
    }

    fn submit(&mut self) -> (Op, Pending) {
        let n_tasks = self.rng.range(1, 7) as usize;
        let tasks = (0..n_tasks)
            .map(|idx| TaskRequest {
                name: format!("t{idx}"),
                runtime_ms: self.rng.range(1_000, 60_000),
                requests: Resources::cores(self.rng.range(1, 5)),
                depends_on: if idx > 0 && self.rng.chance(600) {
                    vec![format!("t{}", self.rng.range(0, idx as u64))]
                } else {
                    Vec::new()
                },
                priority: None,
                checkpointing: self.rng.chance(300),
                max_attempts: Some(self.rng.range(1, 4) as u32),
                account: None,
                needs: Default::default(),
                custom_requests: Vec::new(),
            })
            .collect();
        let request = SubmitDag {
            name: None,
            tenant: format!("sim/teams/t{}", self.rng.range(0, 4)),
            priority: self.rng.range(0, 3) as i32,
            idempotency_key: None,
            tasks,
            account: None,
        };
        let (reply, answer) = oneshot::channel();
        (Op::SubmitDag(request, reply), Pending::Submit(answer))
    }

    fn lease(&mut self) -> (Op, Pending) {
        let worker = self.rng.pick(&WORKERS).expect("workers").to_string();
        let max_tasks = self.rng.chance(300).then(|| self.rng.range(1, 5) as u32);
        let (reply, answer) = oneshot::channel();
        (Op::Lease(worker, max_tasks, reply), Pending::Lease(answer))
    }

    /// A worker reports on a task it leased: a heartbeat, a checkpoint, its end.
    fn task(&mut self) -> Option<(Op, Pending)> {
        if self.leased.is_empty() {
            return None;
        }
        let idx = self.rng.next() as usize % self.leased.len();
        let leased = self.leased[idx].clone();
        let (task, attempt) = (leased.task, Some(leased.attempt));
        let (command, heartbeat) = match self.rng.next() % 10 {
            0..4 => (DagCommand::Heartbeat { task, attempt }, true),
            4 => {
                let checkpoint = format!("step-{}", self.rng.next() % 100);
                (
                    DagCommand::Checkpoint {
                        task,
                        attempt,
                        checkpoint,
                    },
                    true,
                )
            }
            5..9 => {
                self.leased.swap_remove(idx);
                (DagCommand::Complete { task, attempt }, false)
            }
            _ => {
                self.leased.swap_remove(idx);
                let retryable = self.rng.chance(700);
                let error = "the agent failed".to_string();
                (
                    DagCommand::Fail {
                        task,
                        attempt,
                        error,
                        retryable,
                    },
                    false,
                )
            }
        };
        let (reply, answer) = oneshot::channel();
        Some((
            Op::Task(command, reply),
            Pending::Task {
                heartbeat,
                reply: answer,
            },
        ))
    }

    fn interrupted(&mut self) -> (Op, Pending) {
        let worker = format!("cloud-{}", self.rng.range(0, 2));
        self.leased.clear();
        let (reply, _) = oneshot::channel();
        let op = Op::Interrupted {
            worker,
            reason: "spot reclaimed".into(),
            reply,
        };
        (op, Pending::Ignored)
    }

    fn cancel(&mut self) -> Option<(Op, Pending)> {
        let dag = *self.rng.pick(&self.dags)?;
        let (reply, _) = oneshot::channel();
        let op = Op::CancelDag {
            dag,
            scope: Scope::under("sim"),
            reason: "superseded".into(),
            reply,
        };
        Some((op, Pending::Ignored))
    }

    /// Reads that change nothing: forecasts, the optimizer's dry run, listings, the audit log.
    fn read(&mut self) -> (Op, Pending) {
        let op = match self.rng.next() % 4 {
            0 => {
                let (reply, _) = oneshot::channel();
                let account = self.rng.pick(&self.agents).expect("agents").clone();
                Op::Forecast {
                    path: account,
                    dimension: "tokens".into(),
                    reply,
                }
            }
            1 => Op::Optimize(true, oneshot::channel().0),
            2 => Op::Dags(
                DagListQuery {
                    scope: Scope::everything(),
                    tenant: None,
                    state: None,
                    after: 0,
                    limit: 100,
                },
                oneshot::channel().0,
            ),
            _ => Op::Accounts {
                prefix: Some(path("sim")),
                depth: 3,
                scope: Scope::under("sim/holds"),
                reply: oneshot::channel().0,
            },
        };
        (op, Pending::Ignored)
    }

    /// What a client learns from an answer that arrived.
    pub(super) fn learn(&mut self, pending: Pending) {
        match pending {
            Pending::Usage(mut answer) | Pending::Settle(mut answer) => {
                if let Ok(Ok(_)) = answer.try_recv() {
                    self.stats.usage_acked += 1;
                }
            }
            Pending::Reserve(tokens, mut answer) => match answer.try_recv() {
                Ok(Ok(HoldOutcome::Reserved(hold))) => {
                    self.stats.holds_granted += 1;
                    self.holds.push(HeldHold {
                        id: hold.id,
                        tokens,
                        expires_ms: hold.expires_ms,
                    });
                }
                Ok(Ok(HoldOutcome::Denied(_))) => self.stats.holds_denied += 1,
                _ => {}
            },
            Pending::Submit(mut answer) => {
                if let Ok(Ok(dag)) = answer.try_recv()
                    && self.dags.len() < 1_000
                {
                    self.dags.push(dag.summary.id);
                }
            }
            Pending::Lease(mut answer) => {
                if let Ok(Ok(lease)) = answer.try_recv() {
                    for task in lease.tasks {
                        self.leased.push(LeasedTask {
                            task: task.task,
                            attempt: task.attempt,
                        });
                    }
                }
            }
            Pending::Task { heartbeat, reply } => self.learn_task(heartbeat, reply),
            Pending::Request(mut answer) => {
                if let Ok(Ok(purser_engine::view::account::ManagedView::Request(request))) =
                    answer.try_recv()
                    && request.state == "pending"
                    && self.requests.len() < 100
                {
                    self.requests.push(request.id);
                }
            }
            Pending::Ignored => {}
        }
    }

    fn learn_task(&mut self, heartbeat: bool, mut reply: Answer<TaskStateView>) {
        match reply.try_recv() {
            Ok(Ok(state)) if !heartbeat && state.state.name() == "COMPLETED" => {
                self.stats.tasks_completed += 1;
            }
            Ok(Err(EngineError::Dag(DagError::NotRunning { task, .. })))
            | Ok(Err(EngineError::Dag(DagError::StaleAttempt { task, .. }))) => {
                // The lease lapsed (or was taken back): the worker lets the task go.
                if heartbeat {
                    self.stats.leases_lapsed += 1;
                }
                self.leased.retain(|leased| leased.task != task);
            }
            _ => {}
        }
    }
}
