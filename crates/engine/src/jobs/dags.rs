//! Jobs on the DAGs: submissions, reads, leases, task reports, cancellation and interruptions.
//! Each DAG event takes the next seq of the ledger's one sequence and joins the batch.

use purser_core::AccountPath;
use purser_sched::{DagAnswer, DagCommand, DagError, DagEvent, SubmitDag};

use super::charge::LedgerBudget;

use crate::error::EngineError;
use crate::record::Record;
use crate::scope::Scope;
use crate::state::EngineState;
use crate::view::dag::{
    self, DagPageView, DagView, InterruptedView, LeaseView, TaskStateView, leased, task_state,
};

/// DAGs one listing looks at, matching or not: a bound on its work.
pub const LIST_SCAN_MAX: usize = 100_000;

/// A listing of DAGs: those of tenants the scope covers.
#[derive(Clone, Debug, PartialEq)]
pub struct DagListQuery {
    pub scope: Scope,
    /// Only this tenant and the accounts below it.
    pub tenant: Option<AccountPath>,
    /// `running`, `paused`, `completed`, `failed` or `cancelled`.
    pub state: Option<String>,
    /// The page after this DAG id.
    pub after: u64,
    pub limit: usize,
}

impl EngineState {
    /// Applies a DAG command; each of its events takes the next global seq.
    pub(crate) fn apply_dag(
        &mut self,
        command: DagCommand,
        now_ms: u64,
    ) -> Result<DagAnswer, DagError> {
        let mut budget = LedgerBudget {
            ledger: &mut self.ledger,
            foresight: &mut self.foresight,
            events: &mut self.events,
            records: &mut self.records,
            now_ms,
        };
        let (answer, events) = self.dags.apply_with(command, now_ms, &mut budget)?;
        let ended: Vec<DagEvent> = events
            .iter()
            .filter(|event| matches!(event, DagEvent::AttemptEnded { .. }))
            .cloned()
            .collect();
        for event in events {
            self.ledger.take_foreign_seq();
            self.records.push(Record::Dag(event));
        }
        // After the DAG events: each settlement follows the end of its attempt in the journal.
        self.settle_attempts(&ended, now_ms);
        Ok(answer)
    }

    pub(super) fn submit_dag(
        &mut self,
        request: SubmitDag,
        now_ms: u64,
    ) -> Result<DagView, EngineError> {
        let request = self.charged_to(request)?;
        match self.apply_dag(DagCommand::Submit(request), now_ms)? {
            DagAnswer::Submitted { dag, duplicate } => {
                let found = self.dags.dag(dag).expect("a submitted dag exists");
                let mut view = dag::dag(&self.dags, found);
                view.duplicate = duplicate;
                Ok(view)
            }
            other => unreachable!("a submission answered {other:?}"),
        }
    }

    /// The account a submission is charged to: the one it names, which must exist, else its
    /// tenant when the tenant is an account (else it is not charged). The tasks' own accounts
    /// must exist and lie within it.
    fn charged_to(&self, mut request: SubmitDag) -> Result<SubmitDag, EngineError> {
        let exists = |path: &str| -> Result<(), EngineError> {
            let parsed = AccountPath::parse(path)
                .map_err(|message| EngineError::Dag(DagError::invalid("account", message)))?;
            self.lookup(&parsed).map(|_| ())
        };
        match &request.account {
            Some(account) => exists(account)?,
            None if self.ledger.lookup(&request.tenant).is_some() => {
                request.account = Some(request.tenant.clone());
            }
            None => {}
        }
        for (task_idx, task) in request.tasks.iter().enumerate() {
            let (Some(account), Some(dag_account)) = (&task.account, &request.account) else {
                continue;
            };
            if !purser_core::path::is_within(account, dag_account) {
                return Err(DagError::invalid(
                    format!("tasks[{task_idx}].account"),
                    format!(
                        "task {} is charged to {account}, which is not within the dag's account {dag_account}",
                        task.name
                    ),
                )
                .into());
            }
            exists(account)?;
        }
        Ok(request)
    }

    pub(super) fn dag(&self, dag: u64, scope: &Scope) -> Result<DagView, EngineError> {
        self.check_dag_scope(dag, scope)?;
        let found = self.dags.dag(dag).expect("checked above");
        Ok(dag::dag(&self.dags, found))
    }

    /// Another tenant's DAG is answered as an unknown one: its id is not confirmed.
    fn check_dag_scope(&self, dag: u64, scope: &Scope) -> Result<(), EngineError> {
        match self.dags.dag(dag) {
            Some(found) if scope.covers(&found.tenant) => Ok(()),
            _ => Err(DagError::DagNotFound(dag).into()),
        }
    }

    pub(super) fn list_dags(&self, query: &DagListQuery) -> DagPageView {
        let mut dags = Vec::new();
        let mut next_after = None;
        for (n_seen, found) in self.dags.dags_after(query.after).enumerate() {
            if n_seen >= LIST_SCAN_MAX || dags.len() >= query.limit {
                // More may follow: the caller goes on from the last one looked at.
                next_after = Some(found.id - 1);
                break;
            }
            let in_tenant = query
                .tenant
                .as_ref()
                .is_none_or(|tenant| purser_core::path::is_within(&found.tenant, tenant.as_str()));
            let status = dag::state_name(&self.dags, found);
            if !query.scope.covers(&found.tenant)
                || !in_tenant
                || query.state.as_deref().is_some_and(|state| state != status)
            {
                continue;
            }
            dags.push(dag::summary(&self.dags, found));
        }
        DagPageView { dags, next_after }
    }

    pub(super) fn cancel_dag(
        &mut self,
        dag: u64,
        scope: &Scope,
        reason: String,
        now_ms: u64,
    ) -> Result<DagView, EngineError> {
        self.check_dag_scope(dag, scope)?;
        match self.apply_dag(DagCommand::Cancel { dag, reason }, now_ms)? {
            DagAnswer::Cancelled { .. } => {
                let found = self.dags.dag(dag).expect("a cancelled dag is kept");
                Ok(dag::dag(&self.dags, found))
            }
            other => unreachable!("a cancel answered {other:?}"),
        }
    }

    /// One lease, or up to `max_tasks`: each is the same command, so a batch is what that many
    /// calls in a row would give (the machine fills with what fits, the first in line first).
    pub(super) fn lease(
        &mut self,
        worker: String,
        max_tasks: Option<u32>,
        now_ms: u64,
    ) -> Result<LeaseView, EngineError> {
        let mut tasks = Vec::new();
        for _ in 0..max_tasks.unwrap_or(1) {
            let command = DagCommand::Lease {
                worker: worker.clone(),
            };
            // Only the first call can be refused (an unknown worker); nothing was leased then.
            match self.apply_dag(command, now_ms)? {
                DagAnswer::Leased(Some(task)) => tasks.push(leased(&self.dags, task)),
                DagAnswer::Leased(None) => break,
                other => unreachable!("a lease answered {other:?}"),
            }
        }
        Ok(LeaseView {
            tasks,
            batch: max_tasks.is_some(),
        })
    }

    pub(super) fn task(
        &mut self,
        command: DagCommand,
        now_ms: u64,
    ) -> Result<TaskStateView, EngineError> {
        match self.apply_dag(command, now_ms)? {
            DagAnswer::Task(task) => Ok(task_state(&self.dags, task)),
            other => unreachable!("a task command answered {other:?}"),
        }
    }

    pub(super) fn interrupted(
        &mut self,
        worker: String,
        reason: String,
        now_ms: u64,
    ) -> Result<InterruptedView, EngineError> {
        match self.apply_dag(DagCommand::Interrupted { worker, reason }, now_ms)? {
            DagAnswer::Interrupted {
                machine,
                n_returned,
            } => Ok(InterruptedView {
                machine: self.dags.machine_name(machine),
                returned: n_returned,
            }),
            other => unreachable!("an interruption answered {other:?}"),
        }
    }

    /// The clock's part for DAGs: lapsed leases and placements go back, then placement runs.
    pub(super) fn tick_dags(&mut self, now_ms: u64) {
        if let Err(err) = self.apply_dag(DagCommand::Tick, now_ms) {
            unreachable!("a tick cannot be refused: {err}");
        }
    }
}
