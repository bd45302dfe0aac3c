//! The requests to the writer, end to end: the [`Engine`] handle callers hold (one async method
//! per request, each answered with its own type), the [`Op`] each becomes (with its reply's
//! sender), and the writer's dispatch of a batch of them (`EngineState::step`) to `ledger.rs`,
//! `dags.rs` and `foresight.rs`. A job's answer is delivered only once its batch is durable.

mod charge;
mod dags;
mod foresight;
mod ledger;
mod rules;

use std::sync::Arc;
use std::time::Duration;

use purser_core::report::Report;
use purser_core::{AccountPath, Command, ReserveRequest, SettleRequest, UsageReport};
use purser_sched::{DagCommand, SubmitDag};
use purser_store::StoreError;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::audit::{AuditEntry, AuditQuery};
use crate::error::EngineError;
use crate::scope::Scope;
use crate::state::EngineState;
use crate::stats::EngineStats;
use crate::view::account::{AccountView, HoldOutcome, HoldView, ManagedView, UsageView};
use crate::view::dag::{DagPageView, DagView, InterruptedView, LeaseView, TaskStateView};
use crate::view::manage::{ForecastView, MoveView};
use crate::view::metrics::{MetricsQuery, MetricsView};
use crate::view::rules::RequestView;

pub use dags::{DagListQuery, LIST_SCAN_MAX};
pub use ledger::LIST_MAX as ACCOUNTS_LIST_MAX;

/// Where a job's answer goes.
pub type Responder<T> = oneshot::Sender<T>;
/// An answer that is sent once its batch is durable.
pub type Delivery = Box<dyn FnOnce() + Send>;
type Answer<T> = Result<T, EngineError>;

/// One request to the writer.
pub enum Op {
    Usage(UsageReport, Scope, Responder<Answer<UsageView>>),
    /// Each report on its own: one refused does not stop the others.
    UsageBatch(Vec<UsageReport>, Scope, Responder<Vec<Answer<UsageView>>>),
    Reserve(ReserveRequest, Scope, Responder<Answer<HoldOutcome>>),
    Settle(SettleRequest, Scope, Responder<Answer<UsageView>>),
    Void(u64, Scope, Responder<Answer<u64>>),
    /// An operator's command on accounts (upsert, close, allocate), attributed to its actor.
    Manage(Command, Arc<str>, Responder<Answer<ManagedView>>),
    Account(AccountPath, Responder<Answer<AccountView>>),
    /// Increase requests, newest first (pending only?), under a scope, at most so many; one.
    Requests(bool, Scope, usize, Responder<Vec<RequestView>>),
    Request(u64, Scope, Responder<Answer<RequestView>>),
    /// The holds open on an account itself, oldest first, at most so many.
    Holds(AccountPath, usize, Responder<Answer<Vec<HoldView>>>),
    /// An entry from outside the ledger (the resource monitor, agents' health) for the audit
    /// log and the event stream.
    Notice(crate::audit::Notice, Responder<()>),
    Accounts {
        prefix: Option<AccountPath>,
        depth: usize,
        scope: Scope,
        reply: Responder<Answer<Vec<AccountView>>>,
    },
    Forecast {
        path: AccountPath,
        dimension: String,
        reply: Responder<Answer<ForecastView>>,
    },
    Optimize(bool, Responder<Vec<MoveView>>),
    Audit(AuditQuery, Responder<Vec<Arc<AuditEntry>>>),
    Subscribe(Responder<broadcast::Receiver<Arc<AuditEntry>>>),
    Report(AccountPath, Responder<Answer<Box<Report>>>),
    Metrics(MetricsQuery, Scope, Responder<MetricsView>),
    /// The scheduler's gauges alone, at most so many unfinished DAGs' costs.
    Gauges(usize, Responder<purser_sched::SchedGauges>),
    SubmitDag(SubmitDag, Responder<Answer<DagView>>),
    Dag(u64, Scope, Responder<Answer<DagView>>),
    Dags(DagListQuery, Responder<DagPageView>),
    CancelDag {
        dag: u64,
        scope: Scope,
        reason: String,
        reply: Responder<Answer<DagView>>,
    },
    /// A worker, and how many tasks at most when it asked for a batch.
    Lease(String, Option<u32>, Responder<Answer<LeaseView>>),
    /// Heartbeat, checkpoint, complete or fail.
    Task(DagCommand, Responder<Answer<TaskStateView>>),
    Interrupted {
        worker: String,
        reason: String,
        reply: Responder<Answer<InterruptedView>>,
    },
    /// The clock's tick: expired holds, alerts, the optimizer when due, periods, lapsed
    /// leases and placement.
    Tick,
    /// A standby folds what its leader appended since; answers the seq it now reflects.
    CatchUp(Responder<Result<u64, String>>),
    /// Catch up, then append (the lease was taken); answers the seq it leads from.
    Promote(Responder<Result<u64, String>>),
    /// Stop appending and follow (the lease moved).
    Demote(Responder<()>),
}

impl Op {
    /// Whether the job changes the state (and journals): a standby leaves those to its leader.
    fn writes(&self) -> bool {
        !matches!(
            self,
            Op::Account(..)
                | Op::Requests(..)
                | Op::Request(..)
                | Op::Holds(..)
                | Op::Notice(..)
                | Op::Accounts { .. }
                | Op::Forecast { .. }
                | Op::Audit(..)
                | Op::Subscribe(..)
                | Op::Report(..)
                | Op::Metrics(..)
                | Op::Gauges(..)
                | Op::Dag(..)
                | Op::Dags(..)
                | Op::Tick
                | Op::CatchUp(..)
                | Op::Promote(..)
                | Op::Demote(..)
        )
    }
}

/// The delivery of `answer` to `reply`.
fn deliver<T: Send + 'static>(reply: Responder<T>, answer: T) -> Option<Delivery> {
    Some(Box::new(move || {
        // A caller that gave up waiting is not an error.
        let _ = reply.send(answer);
    }))
}

impl EngineState {
    /// Applies `jobs` at `now_ms` (never earlier than the last batch's time), commits their
    /// records in one append, and only then answers: the deliveries are returned for the caller
    /// to run. If the append fails, nothing is answered and the state is ahead of the journal:
    /// the caller must stop and let a restart recover what is durable.
    pub fn step(
        &mut self,
        jobs: impl IntoIterator<Item = Op>,
        now_ms: u64,
        deliveries: &mut Vec<Delivery>,
    ) -> Result<(), StoreError> {
        let now_ms = self.batch_time(now_ms);
        let first_seq = self.ledger.last_seq() + 1;
        let mut n_jobs = 0;
        for op in jobs {
            n_jobs += 1;
            if let Some(delivery) = self.handle(op, now_ms) {
                deliveries.push(delivery);
            }
        }
        self.stats.batch_jobs.observe(n_jobs);
        self.finish_batch(first_seq)
    }

    /// Runs one job at `now_ms`; its records join the batch, its answer waits for the commit.
    pub(crate) fn handle(&mut self, op: Op, now_ms: u64) -> Option<Delivery> {
        if op.writes() && !self.is_leader() {
            // A standby's writes go to the leader (the server redirects them before they get
            // here); one that slipped through a change of role is refused by dropping it.
            return None;
        }
        match op {
            Op::Usage(report, scope, reply) => {
                deliver(reply, self.usage(report, &scope, now_ms, true))
            }
            Op::UsageBatch(reports, scope, reply) => {
                let answers = reports
                    .into_iter()
                    .map(|report| self.usage(report, &scope, now_ms, false))
                    .collect();
                deliver(reply, answers)
            }
            Op::Reserve(request, scope, reply) => {
                deliver(reply, self.reserve(request, &scope, now_ms))
            }
            Op::Settle(request, scope, reply) => {
                deliver(reply, self.settle(request, &scope, now_ms))
            }
            Op::Void(id, scope, reply) => deliver(reply, self.void(id, &scope, now_ms)),
            Op::Manage(command, actor, reply) => {
                deliver(reply, self.manage(command, actor, now_ms))
            }
            Op::Account(path, reply) => deliver(reply, self.account(&path)),
            Op::Requests(pending_only, scope, max, reply) => {
                deliver(reply, self.increase_requests(pending_only, &scope, max))
            }
            Op::Request(id, scope, reply) => deliver(reply, self.increase_request(id, &scope)),
            Op::Holds(path, max, reply) => deliver(reply, self.holds(&path, max)),
            Op::Notice(notice, reply) => {
                let seq = self.ledger.last_seq();
                self.audit.push(notice.into_entry(seq, now_ms));
                deliver(reply, ())
            }
            Op::Accounts {
                prefix,
                depth,
                scope,
                reply,
            } => deliver(reply, self.accounts(prefix.as_ref(), depth, &scope)),
            Op::Forecast {
                path,
                dimension,
                reply,
            } => deliver(reply, self.forecast(&path, &dimension, now_ms)),
            Op::Optimize(dry_run, reply) => deliver(reply, self.optimize(dry_run, now_ms)),
            Op::Audit(query, reply) => deliver(reply, self.audit.page(&query)),
            Op::Subscribe(reply) => deliver(reply, self.audit.sender().subscribe()),
            Op::Report(path, reply) => deliver(reply, self.report(&path, now_ms)),
            Op::Gauges(dags_max, reply) => deliver(reply, self.dags.gauges(dags_max)),
            Op::Metrics(query, scope, reply) => deliver(
                reply,
                crate::view::metrics::gather(self, &query, &scope, now_ms),
            ),
            Op::SubmitDag(request, reply) => deliver(reply, self.submit_dag(request, now_ms)),
            Op::Dag(dag, scope, reply) => deliver(reply, self.dag(dag, &scope)),
            Op::Dags(query, reply) => deliver(reply, self.list_dags(&query)),
            Op::CancelDag {
                dag,
                scope,
                reason,
                reply,
            } => deliver(reply, self.cancel_dag(dag, &scope, reason, now_ms)),
            Op::Lease(worker, max_tasks, reply) => {
                deliver(reply, self.lease(worker, max_tasks, now_ms))
            }
            Op::Task(command, reply) => deliver(reply, self.task(command, now_ms)),
            Op::Interrupted {
                worker,
                reason,
                reply,
            } => deliver(reply, self.interrupted(worker, reason, now_ms)),
            Op::Tick if !self.is_leader() => {
                // A standby's forecasts follow its state, but expiries, alerts and the
                // optimizer are its leader's to journal.
                self.foresight.sample(&mut self.ledger, now_ms);
                None
            }
            Op::Tick => {
                self.tick(now_ms);
                None
            }
            Op::CatchUp(reply) => deliver(reply, self.catch_up()),
            Op::Promote(reply) => deliver(reply, self.promote()),
            Op::Demote(reply) => {
                self.demote();
                deliver(reply, ())
            }
        }
    }
}

/// Jobs waiting for the writer at most; senders wait beyond it.
pub const QUEUE_MAX: usize = 65_536;

/// The handle on the writer.
#[derive(Clone)]
pub struct Engine {
    queue: mpsc::Sender<Op>,
    stats: Arc<EngineStats>,
    changes: tokio::sync::watch::Receiver<u64>,
    directory: Arc<crate::directory::Directory>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Engine")
    }
}

impl Engine {
    pub(crate) fn new(
        queue: mpsc::Sender<Op>,
        stats: Arc<EngineStats>,
        changes: tokio::sync::watch::Receiver<u64>,
        directory: Arc<crate::directory::Directory>,
    ) -> Engine {
        Engine {
            queue,
            stats,
            changes,
            directory,
        }
    }

    /// Resolves the report's account on the caller's task, so the writer need not.
    fn resolve(&self, report: &mut UsageReport) {
        if report.account_id.is_none() {
            report.account_id = self.directory.lookup(report.account.as_str());
        }
    }

    /// Follows the last committed seq: it changes after every commit.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.clone()
    }

    /// What the writer has counted since it started.
    pub fn stats(&self) -> Arc<EngineStats> {
        self.stats.clone()
    }

    /// True while this engine appends; false on a standby following a shared journal.
    pub fn is_leader(&self) -> bool {
        self.stats.leader.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A standby folds what its leader appended since it last looked; answers the seq it now
    /// reflects.
    pub async fn catch_up(&self) -> Answer<Result<u64, String>> {
        self.ask(Op::CatchUp).await
    }

    /// Catches up with the journal, then appends (call once the lease is held).
    pub async fn promote(&self) -> Answer<Result<u64, String>> {
        self.ask(Op::Promote).await
    }

    /// Stops appending and follows the journal.
    pub async fn demote(&self) -> Answer<()> {
        self.ask(Op::Demote).await
    }

    /// Jobs waiting for the writer now (at most [`QUEUE_MAX`]).
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// What the scheduler holds now (every tenant's: for an unscoped caller).
    pub async fn sched_gauges(&self, dags_max: usize) -> Answer<purser_sched::SchedGauges> {
        self.ask(|reply| Op::Gauges(dags_max, reply)).await
    }

    /// The figures `/metrics` shows, as the writer sees them now.
    pub async fn metrics(&self, query: MetricsQuery, scope: Scope) -> Answer<MetricsView> {
        self.ask(|reply| Op::Metrics(query, scope, reply)).await
    }

    /// Sends the job `make` builds around a reply channel and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(Responder<T>) -> Op) -> Answer<T> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(make(reply))
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn usage(&self, mut report: UsageReport, scope: Scope) -> Answer<UsageView> {
        self.resolve(&mut report);
        self.ask(|reply| Op::Usage(report, scope, reply)).await?
    }

    /// Each report on its own, answered in order.
    pub async fn usage_batch(
        &self,
        mut reports: Vec<UsageReport>,
        scope: Scope,
    ) -> Answer<Vec<Answer<UsageView>>> {
        for report in &mut reports {
            self.resolve(report);
        }
        self.ask(|reply| Op::UsageBatch(reports, scope, reply))
            .await
    }

    pub async fn reserve(&self, request: ReserveRequest, scope: Scope) -> Answer<HoldOutcome> {
        self.ask(|reply| Op::Reserve(request, scope, reply)).await?
    }

    pub async fn settle(&self, request: SettleRequest, scope: Scope) -> Answer<UsageView> {
        self.ask(|reply| Op::Settle(request, scope, reply)).await?
    }

    /// Voids a hold; answers its id.
    pub async fn void(&self, reservation: u64, scope: Scope) -> Answer<u64> {
        self.ask(|reply| Op::Void(reservation, scope, reply))
            .await?
    }

    /// An operator's command on accounts, attributed to `actor` in the audit log.
    pub async fn manage(&self, command: Command, actor: Arc<str>) -> Answer<ManagedView> {
        self.ask(|reply| Op::Manage(command, actor, reply)).await?
    }

    pub async fn account(&self, path: AccountPath) -> Answer<AccountView> {
        self.ask(|reply| Op::Account(path, reply)).await?
    }

    /// Writes `notice` to the audit log and the event stream. It is not journaled: it carries
    /// the sequence number of the last event before it, as a denial does.
    pub async fn notice(&self, notice: crate::audit::Notice) -> Result<(), EngineError> {
        self.ask(|reply| Op::Notice(notice, reply)).await
    }

    /// The holds open on the account itself (not below it), oldest first, at most `max`.
    pub async fn holds(&self, path: AccountPath, max: usize) -> Answer<Vec<HoldView>> {
        self.ask(|reply| Op::Holds(path, max, reply)).await?
    }

    pub async fn accounts(
        &self,
        prefix: Option<AccountPath>,
        depth: usize,
        scope: Scope,
    ) -> Answer<Vec<AccountView>> {
        self.ask(|reply| Op::Accounts {
            prefix,
            depth,
            scope,
            reply,
        })
        .await?
    }

    pub async fn forecast(&self, path: AccountPath, dimension: String) -> Answer<ForecastView> {
        self.ask(|reply| Op::Forecast {
            path,
            dimension,
            reply,
        })
        .await?
    }

    /// Runs the optimizer's pass now (or only decides it); answers the moves.
    pub async fn optimize(&self, dry_run: bool) -> Answer<Vec<MoveView>> {
        self.ask(|reply| Op::Optimize(dry_run, reply)).await
    }

    pub async fn audit(&self, query: AuditQuery) -> Answer<Vec<Arc<AuditEntry>>> {
        self.ask(|reply| Op::Audit(query, reply)).await
    }

    /// A receiver of every streamed audit entry from now on.
    pub async fn subscribe(&self) -> Answer<broadcast::Receiver<Arc<AuditEntry>>> {
        self.ask(Op::Subscribe).await
    }

    pub async fn report(&self, path: AccountPath) -> Answer<Box<Report>> {
        self.ask(|reply| Op::Report(path, reply)).await?
    }

    pub async fn submit_dag(&self, request: SubmitDag) -> Answer<DagView> {
        self.ask(|reply| Op::SubmitDag(request, reply)).await?
    }

    pub async fn dag(&self, dag: u64, scope: Scope) -> Answer<DagView> {
        self.ask(|reply| Op::Dag(dag, scope, reply)).await?
    }

    pub async fn dags(&self, query: DagListQuery) -> Answer<DagPageView> {
        self.ask(|reply| Op::Dags(query, reply)).await
    }

    pub async fn cancel_dag(&self, dag: u64, scope: Scope, reason: String) -> Answer<DagView> {
        self.ask(|reply| Op::CancelDag {
            dag,
            scope,
            reason,
            reply,
        })
        .await?
    }

    pub async fn lease(&self, worker: String, max_tasks: Option<u32>) -> Answer<LeaseView> {
        self.ask(|reply| Op::Lease(worker, max_tasks, reply))
            .await?
    }

    /// A heartbeat, checkpoint, completion or failure.
    pub async fn task(&self, command: DagCommand) -> Answer<TaskStateView> {
        self.ask(|reply| Op::Task(command, reply)).await?
    }

    pub async fn interrupted(&self, worker: String, reason: String) -> Answer<InterruptedView> {
        self.ask(|reply| Op::Interrupted {
            worker,
            reason,
            reply,
        })
        .await?
    }

    /// Asks for a tick without waiting for it; false when the queue is full or the writer gone.
    pub fn try_tick(&self) -> bool {
        self.queue.try_send(Op::Tick).is_ok()
    }

    /// Ticks every `every` until the writer stops: the clock's work (expiries within a tick).
    pub async fn run_ticker(self, every: Duration) {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            if self.queue.is_closed() {
                return;
            }
            self.try_tick();
        }
    }
}
