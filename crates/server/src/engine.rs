//! The engine thread: the one writer. It takes jobs from a queue in batches, applies them to the
//! ledger, appends the batch's events to the journal in one durable commit (group commit), and
//! only then answers every job of the batch.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use purser_core::{
    AccountPath, Answer, Command, Event, Ledger, LedgerLimits, LedgerSnapshot, UsageReport,
};
use purser_sched::{DagConfig, DagEvent, DagSnapshot, DagState};
use purser_store::{Batch, Journal, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::render;
use crate::wire::{
    AccountOut, AccountsOut, AllocateOut, BatchItemOut, ClosedOut, ReservationOut, UsageBatchOut,
    UsageOut, VoidOut,
};

/// Jobs waiting for the engine at most; senders wait beyond it.
pub const QUEUE_MAX: usize = 65_536;
/// Jobs applied in one batch (one commit) at most.
pub const BATCH_JOBS_MAX: usize = 4_096;
/// Accounts one list answers at most.
pub const LIST_MAX: usize = 10_000;

/// What a request asks of the engine.
pub enum Op {
    Command(Command),
    /// An operator's command (accounts, limits, allocations), attributed to the token's name.
    Manage(Command, std::sync::Arc<str>),
    /// A settle or void: the caller's scope is checked against the reservation's account.
    ByReservation(Command, Caller),
    UsageBatch(Vec<Result<UsageReport, ApiError>>, Caller),
    Status(AccountPath),
    List {
        prefix: Option<AccountPath>,
        depth: usize,
        caller: Caller,
    },
    /// The clock's tick: releases expired holds, returns lapsed task leases, places tasks.
    Tick,
    /// DAGs, workers and tasks (`dags.rs`).
    Dag(crate::dags::DagOp),
    /// The report of an account and its children (`report/`), built here, rendered by the
    /// request's task.
    Report(AccountPath),
    /// `GET /v1/accounts/{path}:forecast?dimension=`.
    Forecast {
        path: AccountPath,
        dimension: String,
    },
    /// `POST /v1/optimizer:run`.
    Optimize {
        dry_run: bool,
    },
    /// `GET /v1/audit`, and the resume of `GET /v1/events`.
    Audit(crate::engine_manage::AuditQuery),
    /// A handle on the event stream.
    Subscribe,
}

/// What the engine answers, rendered for the wire (names resolved); the request's task
/// serializes it, off the engine thread.
pub enum Reply {
    Account(Box<AccountOut>),
    Accounts(AccountsOut),
    Closed(ClosedOut),
    Allocated(AllocateOut),
    Usage(UsageOut),
    Reserved(ReservationOut),
    Voided(VoidOut),
    Batch(UsageBatchOut),
    Expired(usize),
    Dag(crate::dags::DagReply),
    Report(Box<purser_core::report::Report>),
    Forecast(Box<crate::wire::ForecastOut>),
    Optimized(crate::wire::OptimizerOut),
    Audit(Vec<std::sync::Arc<crate::audit::AuditEntry>>),
    Stream(tokio::sync::broadcast::Receiver<std::sync::Arc<crate::audit::AuditEntry>>),
    Error(ApiError),
}

struct Job {
    op: Op,
    reply: Option<oneshot::Sender<Reply>>,
}

/// The handle requests use to reach the engine.
#[derive(Clone)]
pub struct Engine {
    queue: mpsc::Sender<Job>,
}

impl Engine {
    pub async fn call(&self, op: Op) -> Reply {
        let (reply, answer) = oneshot::channel();
        if self
            .queue
            .send(Job {
                op,
                reply: Some(reply),
            })
            .await
            .is_err()
        {
            return Reply::Error(ApiError::unavailable("the engine has stopped"));
        }
        answer.await.unwrap_or_else(|_| {
            Reply::Error(ApiError::unavailable("the engine stopped before answering"))
        })
    }

    /// Sends a job whose answer nobody waits for (the clock's ticks).
    pub fn try_send(&self, op: Op) -> bool {
        self.queue.try_send(Job { op, reply: None }).is_ok()
    }
}

/// The engine's state, owned by its thread.
pub struct EngineCore {
    pub ledger: Ledger,
    pub journal: Box<dyn Journal>,
    pub snapshot_every_events: u64,
    pub last_snapshot_seq: u64,
    /// The previous snapshot: the journal is compacted through it, keeping one fallback.
    pub previous_snapshot_seq: u64,
    pub last_now_ms: u64,
    /// The live DAGs; their events share the journal and its one sequence with the ledger's.
    pub dags: DagState,
    /// DAG events of the job being handled, each with its seq already taken from the ledger.
    pub dag_events: Vec<DagEvent>,
    /// Forecasts, alerts and the optimizer (`purser_core::manage`).
    pub manager: purser_core::foresight::Foresight,
    /// The newest notable events, and the stream's sender (`audit.rs`).
    pub audit: crate::audit::AuditLog,
    /// Who ran the job being handled and what it changed, journaled before its events.
    pub note: Option<crate::audit::Note>,
}

/// One journal record: a ledger event or a DAG event. Both count in the one global sequence
/// (the ledger's `last_seq`; reservation ids are seqs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Ledger(Event),
    Dag(DagEvent),
    /// Who ran the operator's command whose events follow, and what it changed.
    Note(crate::audit::Note),
}

/// A snapshot's payload: the ledger's state and the DAGs', both as of the snapshot's seq.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub ledger: LedgerSnapshot,
    pub dags: DagSnapshot,
}

/// What recovery hands the engine.
pub struct Recovered {
    pub ledger: Ledger,
    pub dags: DagState,
    pub snapshot_seq: u64,
    pub n_records: u64,
}

/// Encodes records into a batch payload: postcard values back to back.
pub fn encode_records(records: &[Record], payload: &mut Vec<u8>) {
    for record in records {
        *payload =
            postcard::to_extend(record, std::mem::take(payload)).expect("records always encode");
    }
}

/// Decodes a batch payload into its records.
pub fn decode_records(batch: &Batch) -> Result<Vec<Record>, String> {
    let mut events = Vec::with_capacity(batch.n_events as usize);
    let mut rest: &[u8] = &batch.payload;
    for idx in 0..batch.n_events {
        let (event, tail) = postcard::take_from_bytes::<Record>(rest)
            .map_err(|err| format!("event {} of batch {}: {err}", idx, batch.first_seq))?;
        events.push(event);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!(
            "batch {} has {} bytes after its events",
            batch.first_seq,
            rest.len()
        ));
    }
    Ok(events)
}

/// Decodes a snapshot's payload.
pub fn decode_snapshot(payload: &[u8]) -> Result<StateSnapshot, String> {
    postcard::from_bytes(payload).map_err(|err| err.to_string())
}

/// The ledger and the DAGs of a snapshot taken at `seq`.
pub fn state_from_snapshot(
    payload: &[u8],
    seq: u64,
    limits: LedgerLimits,
    dag_config: DagConfig,
) -> Result<(Ledger, DagState), String> {
    let state = decode_snapshot(payload)?;
    // Invariant: a snapshot holds the state as of its seq.
    if state.ledger.last_seq != seq {
        return Err(format!(
            "it holds the state of event {}",
            state.ledger.last_seq
        ));
    }
    let dags = DagState::from_snapshot(dag_config, state.dags).map_err(|err| err.to_string())?;
    Ok((Ledger::try_from_snapshot(state.ledger, limits)?, dags))
}

/// Opens the state: the newest snapshot, then the journal after it.
pub fn recover(
    journal: &mut dyn Journal,
    limits: LedgerLimits,
    dag_config: DagConfig,
    audit: &mut crate::audit::AuditLog,
) -> Result<Recovered, String> {
    let started = Instant::now();
    let snapshot = journal.latest_snapshot().map_err(|err| err.to_string())?;
    let (mut ledger, mut dags, snapshot_seq) = match snapshot {
        Some(snapshot) => {
            let (ledger, dags) =
                state_from_snapshot(&snapshot.payload, snapshot.seq, limits, dag_config)
                    .map_err(|err| format!("snapshot {}: {err}", snapshot.seq))?;
            (ledger, dags, snapshot.seq)
        }
        None => (
            Ledger::new(limits),
            DagState::new(dag_config).map_err(|err| err.to_string())?,
            0,
        ),
    };
    let mut n_events = 0u64;
    let mut failure: Option<String> = None;
    journal
        .replay(snapshot_seq, &mut |batch| {
            if failure.is_some() {
                return Ok(());
            }
            match decode_records(batch) {
                Ok(records) => {
                    for (idx, record) in records.into_iter().enumerate() {
                        let seq = batch.first_seq + idx as u64;
                        if seq <= snapshot_seq {
                            continue;
                        }
                        let replayed = match record {
                            Record::Ledger(event) => {
                                let kept = event.clone();
                                ledger
                                    .replay(seq, event)
                                    .map(|()| {
                                        audit.note_event(&ledger, seq, &kept);
                                    })
                                    .map_err(|err| err.to_string())
                            }
                            Record::Note(note) => ledger
                                .replay_foreign(seq)
                                .map(|()| audit.note_actor(&note))
                                .map_err(|err| err.to_string()),
                            Record::Dag(event) => ledger
                                .replay_foreign(seq)
                                .map_err(|err| err.to_string())
                                .and_then(|()| {
                                    dags.replay(&event)
                                        .map_err(|err| format!("event {seq}: {err}"))
                                })
                                .map(|()| {
                                    if let Some(entry) =
                                        crate::dags::audit_entry(&dags, seq, &event)
                                    {
                                        audit.push(entry);
                                    }
                                }),
                        };
                        if let Err(err) = replayed {
                            failure = Some(err);
                            return Ok(());
                        }
                        n_events += 1;
                    }
                    audit.end_batch();
                }
                Err(err) => failure = Some(err),
            }
            Ok(())
        })
        .map_err(|err| err.to_string())?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    // Invariant: replay ends on a whole command, with every derived event journaled.
    if !ledger.replay_settled() {
        return Err("the journal ends before the level changes its last command derived".into());
    }
    // Invariant: the replayed DAG indexes agree with a rebuild from the DAGs.
    dags.check_invariants()
        .map_err(|err| format!("replayed dags: {err}"))?;
    eprintln!(
        "purser: recovered {} accounts and {} dags at event {} (snapshot {snapshot_seq}, {n_events} events replayed) in {} ms",
        ledger.n_accounts(),
        dags.n_dags(),
        ledger.last_seq(),
        started.elapsed().as_millis()
    );
    Ok(Recovered {
        ledger,
        dags,
        snapshot_seq,
        n_records: n_events,
    })
}

/// Starts the engine thread; it runs until every handle is dropped.
pub fn start(core: EngineCore) -> (Engine, std::thread::JoinHandle<()>) {
    let (queue, jobs) = mpsc::channel(QUEUE_MAX);
    let thread = std::thread::Builder::new()
        .name("purser-engine".into())
        .spawn(move || run(core, jobs))
        .expect("the engine thread starts");
    (Engine { queue }, thread)
}

fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn run(mut core: EngineCore, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH_JOBS_MAX);
    let mut replies: Vec<(Option<oneshot::Sender<Reply>>, Reply)> =
        Vec::with_capacity(BATCH_JOBS_MAX);
    let mut events: Vec<Event> = Vec::with_capacity(BATCH_JOBS_MAX * 2);
    let mut records: Vec<Record> = Vec::with_capacity(BATCH_JOBS_MAX * 2);
    let mut payload: Vec<u8> = Vec::with_capacity(1 << 20);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_JOBS_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Time only moves forward, even if the wall clock steps back.
        let now_ms = wall_clock_ms().max(core.last_now_ms);
        core.last_now_ms = now_ms;
        let first_seq = core.ledger.last_seq() + 1;
        for job in batch.drain(..) {
            let reply = core.handle(job.op, now_ms, &mut events);
            // A job's note took its seq first, then its ledger events, then its DAG events.
            if let Some(note) = core.note.take() {
                records.push(Record::Note(note));
            }
            records.extend(events.drain(..).map(Record::Ledger));
            records.extend(core.dag_events.drain(..).map(Record::Dag));
            replies.push((job.reply, reply));
        }
        if !records.is_empty() {
            payload.clear();
            encode_records(&records, &mut payload);
            let n_events = records.len() as u32;
            // Invariant: the batch continues the journal exactly.
            assert_eq!(
                first_seq + u64::from(n_events) - 1,
                core.ledger.last_seq(),
                "events and seqs disagree"
            );
            let batch = Batch {
                first_seq,
                n_events,
                payload: std::mem::take(&mut payload),
            };
            if let Err(err) = core.journal.append(std::slice::from_ref(&batch)) {
                // The state now holds events the journal does not: stop, and let a restart
                // replay what is durable. Nobody of this batch was answered.
                eprintln!("purser: journal append failed, stopping: {err}");
                std::process::exit(70);
            }
            payload = batch.payload;
            for (idx, record) in records.iter().enumerate() {
                let seq = first_seq + idx as u64;
                match record {
                    Record::Ledger(event) => core.audit.note_event(&core.ledger, seq, event),
                    Record::Dag(event) => {
                        if let Some(entry) = crate::dags::audit_entry(&core.dags, seq, event) {
                            core.audit.push(entry);
                        }
                    }
                    Record::Note(note) => core.audit.note_actor(note),
                }
            }
            core.audit.end_batch();
            records.clear();
            core.maybe_snapshot();
        }
        for (reply, answer) in replies.drain(..) {
            if let Some(reply) = reply {
                let _ = reply.send(answer);
            }
        }
    }
}

impl EngineCore {
    fn handle(&mut self, op: Op, now_ms: u64, events: &mut Vec<Event>) -> Reply {
        match op {
            Op::Command(command) => self.command(command, now_ms, events),
            Op::Manage(command, actor) => self.manage(command, actor, now_ms, events),
            Op::ByReservation(command, caller) => {
                let id = match &command {
                    Command::Settle(request) => request.reservation,
                    Command::Void { reservation } => *reservation,
                    _ => unreachable!("only settles and voids go by reservation"),
                };
                if let Some(path) = render::reservation_account(&self.ledger, id)
                    && !caller.may_touch(&path)
                {
                    return Reply::Error(ApiError::forbidden(&format!(
                        "reservation rsv_{id} is outside this token's scope"
                    )));
                }
                self.command(command, now_ms, events)
            }
            Op::UsageBatch(items, caller) => {
                let results = items
                    .into_iter()
                    .enumerate()
                    .map(|(idx, item)| {
                        // Decoding errors already name `reports[idx].`; the ledger's do not.
                        let outcome = item.and_then(|report| {
                            if !caller.may_touch(report.account.as_str()) {
                                return Err(ApiError::forbidden(&format!(
                                    "account {} is outside this token's scope",
                                    report.account
                                )));
                            }
                            match self.ledger.apply(Command::Usage(report), now_ms, events) {
                                Ok(Answer::Usage(answer)) => {
                                    Ok(render::usage(&self.ledger, &answer))
                                }
                                Ok(other) => unreachable!("usage answered {other:?}"),
                                Err(err) => {
                                    let mut err = ApiError::from(err);
                                    if let Some(field) = err.detail.field.take() {
                                        err.detail.field = Some(format!("reports[{idx}].{field}"));
                                    }
                                    Err(err)
                                }
                            }
                        });
                        match outcome {
                            Ok(usage) => BatchItemOut::Usage(usage),
                            Err(err) => BatchItemOut::Error(err.body()),
                        }
                    })
                    .collect();
                Reply::Batch(UsageBatchOut { results })
            }
            Op::Status(path) => match self.ledger.lookup(path.as_str()) {
                Some(id) => Reply::Account(Box::new(render::account(&self.ledger, id))),
                None => Reply::Error(ApiError::new(
                    404,
                    "account_not_found",
                    format!("account {path} not found"),
                )),
            },
            Op::List {
                prefix,
                depth,
                caller,
            } => {
                if let Some(prefix) = &prefix
                    && self.ledger.lookup(prefix.as_str()).is_none()
                {
                    return Reply::Error(ApiError::new(
                        404,
                        "account_not_found",
                        format!("account {prefix} not found"),
                    ));
                }
                let ids = self.ledger.list(prefix.as_ref(), depth, LIST_MAX);
                let accounts = ids
                    .into_iter()
                    .filter(|id| caller.may_touch(self.ledger.account(*id).path.as_str()))
                    .map(|id| render::account(&self.ledger, id))
                    .collect();
                Reply::Accounts(AccountsOut { accounts })
            }
            Op::Tick => {
                let reply = self.tick_manager(now_ms, events);
                crate::dags::tick(self, now_ms);
                reply
            }
            Op::Forecast { path, dimension } => self.forecast(&path, &dimension, now_ms),
            Op::Optimize { dry_run } => self.optimize(dry_run, now_ms, events),
            Op::Audit(query) => Reply::Audit(self.audit_page(&query)),
            Op::Subscribe => Reply::Stream(self.audit.sender().subscribe()),
            Op::Dag(op) => crate::dags::handle(self, op, now_ms),
            Op::Report(path) => self.report(&path, now_ms),
        }
    }

    fn report(&mut self, path: &AccountPath, now_ms: u64) -> Reply {
        let Some(account) = self.ledger.lookup(path.as_str()) else {
            return Reply::Error(ApiError::new(
                404,
                "account_not_found",
                format!("account {path} not found"),
            ));
        };
        self.manager.sample(&mut self.ledger, now_ms);
        let level_changes = self.level_points(path);
        let report = purser_core::report::build_report(
            &self.ledger,
            &mut self.manager.watch,
            account,
            now_ms,
            &level_changes,
        );
        Reply::Report(Box::new(report))
    }

    /// An operator's command: a note with the token's name and the settings that moved takes
    /// the seq before the command's events, so the audit log can say who did what.
    fn manage(
        &mut self,
        command: Command,
        actor: std::sync::Arc<str>,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Reply {
        let targets: Vec<AccountPath> = match &command {
            Command::UpsertAccount { path, .. } => vec![path.clone()],
            Command::Allocate { path, request } => request
                .children
                .iter()
                .filter_map(|child| path.child(&child.name).ok())
                .collect(),
            _ => Vec::new(),
        };
        let settings = |ledger: &Ledger, path: &AccountPath| {
            crate::audit::settings(ledger, ledger.lookup(path.as_str()))
        };
        let before: Vec<_> = targets
            .iter()
            .map(|path| settings(&self.ledger, path))
            .collect();
        let note_seq = self.ledger.take_foreign_seq();
        let reply = self.command(command, now_ms, events);
        if events.is_empty() {
            // Refused, or nothing to change: nothing is journaled, the note neither.
            self.ledger.give_back_foreign_seq(note_seq);
            return reply;
        }
        let changes = targets
            .iter()
            .zip(&before)
            .flat_map(|(path, before)| {
                crate::audit::diff(path.as_str(), before, &settings(&self.ledger, path))
            })
            .collect();
        self.note = Some(crate::audit::Note { actor, changes });
        reply
    }

    fn command(&mut self, command: Command, now_ms: u64, events: &mut Vec<Event>) -> Reply {
        match self
            .manager
            .apply(&mut self.ledger, command, now_ms, events)
        {
            Ok(answer) => {
                self.note_denial(&answer, now_ms);
                render::answer(&self.ledger, answer)
            }
            Err(err) => Reply::Error(err.into()),
        }
    }

    fn maybe_snapshot(&mut self) {
        if self.ledger.last_seq() - self.last_snapshot_seq < self.snapshot_every_events {
            return;
        }
        let started = Instant::now();
        let state = StateSnapshot {
            ledger: self.ledger.to_snapshot(),
            dags: self.dags.to_snapshot(),
        };
        let payload = postcard::to_stdvec(&state).expect("the state always encodes");
        let seq = self.ledger.last_seq();
        if let Err(err) = self.journal.write_snapshot(&Snapshot { seq, payload }) {
            // A failed snapshot loses nothing: the journal still holds every event.
            eprintln!("purser: snapshot at {seq} failed: {err}");
            return;
        }
        if self.previous_snapshot_seq > 0
            && let Err(err) = self.journal.compact_through(self.previous_snapshot_seq)
        {
            eprintln!(
                "purser: compaction through {} failed: {err}",
                self.previous_snapshot_seq
            );
        }
        self.previous_snapshot_seq = self.last_snapshot_seq;
        self.last_snapshot_seq = seq;
        eprintln!(
            "purser: snapshot at event {seq} in {} ms",
            started.elapsed().as_millis()
        );
    }
}
