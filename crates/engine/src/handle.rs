//! The handle callers reach the writer with: one async method per request, each answered with
//! its own type once the request's batch is durable. Cloning it is cheap; the writer stops when
//! the last handle is dropped.

use std::sync::Arc;
use std::time::Duration;

use purser_core::report::Report;
use purser_core::{AccountPath, Command, ReserveRequest, SettleRequest, UsageReport};
use purser_sched::{DagCommand, SubmitDag};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::audit::{AuditEntry, AuditQuery};
use crate::error::EngineError;
use crate::jobs::{DagListQuery, Op, Responder};
use crate::scope::Scope;
use crate::view::account::{AccountView, HoldOutcome, ManagedView, UsageView};
use crate::view::dag::{DagPageView, DagView, InterruptedView, LeaseView, TaskStateView};
use crate::view::manage::{ForecastView, MoveView};

/// Jobs waiting for the writer at most; senders wait beyond it.
pub const QUEUE_MAX: usize = 65_536;

/// The handle on the writer.
#[derive(Clone)]
pub struct Engine {
    queue: mpsc::Sender<Op>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Engine")
    }
}

type Answer<T> = Result<T, EngineError>;

impl Engine {
    pub(crate) fn new(queue: mpsc::Sender<Op>) -> Engine {
        Engine { queue }
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

    pub async fn usage(&self, report: UsageReport, scope: Scope) -> Answer<UsageView> {
        self.ask(|reply| Op::Usage(report, scope, reply)).await?
    }

    /// Each report on its own, answered in order.
    pub async fn usage_batch(
        &self,
        reports: Vec<UsageReport>,
        scope: Scope,
    ) -> Answer<Vec<Answer<UsageView>>> {
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
