//! The audit log and the event stream: notable events (allocations, limit changes, enforcement
//! changes, alerts, reallocations, periods, expiries, denials, task changes) with who, what, why
//! and when. The engine thread turns each committed record into an entry (`ledger.rs` for the
//! ledger's events, `task.rs` for the DAGs', `note.rs` for who ran an operator's command), keeps
//! the newest in a bounded ring (the audit reads, and the resume of the event stream), and
//! publishes each to the live subscribers of the stream.

mod entry;
mod ledger;
mod note;
mod rules;
mod task;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use purser_core::{AccountPath, Ledger, Level};
use purser_sched::DagState;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

pub use ledger::entry_of;
pub use note::{Settings, diff, settings};
pub use task::task_entry;

use crate::record::{Note, Record};
use crate::time::rfc3339;

/// Entries the ring keeps; older ones are only in the journal.
pub const AUDIT_KEPT_MAX: usize = 50_000;
/// The most entries one read answers.
pub const AUDIT_PAGE_MAX: usize = 10_000;
/// Entries a slow stream subscriber may fall behind before it is told it lost some.
pub const STREAM_BACKLOG: usize = 4_096;

/// One entry of the audit log; also one server-sent event.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// The sequence number of the journaled event (a denial, which is not journaled, carries
    /// the last one before it).
    pub seq: u64,
    pub at: String,
    /// `allocation`, `limit_change`, `account_closed`, `enforcement`, `alert`,
    /// `reallocation`, `period`, `reservation_expired`, `denial`, `task` or `dag` (paused or
    /// resumed by its budget).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub account: Option<String>,
    /// The token's name for an operator's change (`name` in `[[tokens]]`; `anonymous` without
    /// tokens, `config` for accounts of `purser.toml`), else `api`, `optimizer`, `forecast`,
    /// `clock` or `budget`.
    pub actor: Cow<'static, str>,
    pub reason: String,
    pub data: Value,
    /// False for entries the log keeps but the stream does not carry (denials).
    #[serde(skip)]
    pub streamed: bool,
    /// For enforcement entries: when, and the level reached (the report's level chart).
    #[serde(skip)]
    pub level: Option<(u64, Level)>,
}

/// A read of the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditQuery {
    pub prefix: Option<AccountPath>,
    pub since_seq: u64,
    pub limit: usize,
    /// Only what the event stream carries (its resume by `Last-Event-ID`).
    pub streamed_only: bool,
    /// The newest `limit` entries, newest first (views of what happened lately), instead of
    /// the oldest after `since_seq`.
    pub newest_first: bool,
}

/// The ring and the stream's sender. Owned by the engine thread.
pub struct AuditLog {
    entries: VecDeque<Arc<AuditEntry>>,
    stream: broadcast::Sender<Arc<AuditEntry>>,
    /// The note of the command whose events are being noted (until the batch ends).
    attribution: Option<Note>,
}

impl AuditLog {
    pub fn new() -> AuditLog {
        AuditLog {
            entries: VecDeque::new(),
            stream: broadcast::channel(STREAM_BACKLOG).0,
            attribution: None,
        }
    }

    /// A handle request tasks subscribe with.
    pub fn sender(&self) -> broadcast::Sender<Arc<AuditEntry>> {
        self.stream.clone()
    }

    pub fn push(&mut self, entry: AuditEntry) {
        let entry = Arc::new(entry);
        if entry.streamed {
            // Nobody listening is not an error.
            let _ = self.stream.send(entry.clone());
        }
        self.entries.push_back(entry);
        while self.entries.len() > AUDIT_KEPT_MAX {
            self.entries.pop_front();
        }
    }

    /// Entries after `since_seq` under `prefix`, at most `limit`: the oldest first, or with
    /// `newest_first` the newest.
    pub fn page(&self, query: &AuditQuery) -> Vec<Arc<AuditEntry>> {
        // Entries from outside the ledger before its first event carry seq 0: `since_seq` 0
        // is the beginning, and includes them.
        let start = if query.since_seq == 0 {
            0
        } else {
            self.entries
                .partition_point(|entry| entry.seq <= query.since_seq)
        };
        let prefix = query.prefix.as_ref().map(AccountPath::as_str);
        let wanted = |entry: &&Arc<AuditEntry>| {
            (!query.streamed_only || entry.streamed) && under(entry.account.as_deref(), prefix)
        };
        let limit = query.limit.min(AUDIT_PAGE_MAX);
        let entries = self.entries.range(start..);
        if query.newest_first {
            entries.rev().filter(wanted).take(limit).cloned().collect()
        } else {
            entries.filter(wanted).take(limit).cloned().collect()
        }
    }

    /// The level changes of `account` the ring still holds, oldest first.
    pub fn level_changes(&self, account: &str) -> Vec<(u64, Level)> {
        self.entries
            .iter()
            .filter(|entry| entry.account.as_deref() == Some(account))
            .filter_map(|entry| entry.level)
            .collect()
    }

    /// Notes a committed record journaled at `seq`, read against the state it left: a notable
    /// ledger or DAG event becomes an entry, a note attributes the entries of its command.
    pub fn note_record(&mut self, ledger: &Ledger, dags: &DagState, seq: u64, record: &Record) {
        match record {
            Record::Ledger(event) => {
                if let Some(entry) = entry_of(ledger, seq, event) {
                    let entry = match &self.attribution {
                        Some(note) => note::attribute(entry, note),
                        None => entry,
                    };
                    self.push(entry);
                }
            }
            Record::Dag(event) => {
                if let Some(entry) = task_entry(dags, seq, event) {
                    self.push(entry);
                }
            }
            Record::Note(note) => self.attribution = Some(note.clone()),
        }
    }

    /// A batch ended: no later event belongs to the last note.
    pub fn end_batch(&mut self) {
        self.attribution = None;
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog::new()
    }
}

/// Whether an entry's account is `prefix` or below it (no prefix: everything).
pub fn under(account: Option<&str>, prefix: Option<&str>) -> bool {
    match (prefix, account) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(prefix), Some(account)) => purser_core::path::is_within(account, prefix),
    }
}

/// The entry of a refused hold: in the log, not journaled and not streamed.
pub fn denial(
    seq: u64,
    at_ms: u64,
    account: String,
    dimension: String,
    requested: u64,
    available: u64,
) -> AuditEntry {
    AuditEntry {
        seq,
        at: rfc3339(at_ms),
        kind: "denial",
        reason: format!(
            "hold on {account} refused: {requested} {dimension} requested, {available} available before the stop threshold"
        ),
        account: Some(account),
        actor: Cow::Borrowed("api"),
        data: json!({"dimension": dimension, "requested": requested, "available": available}),
        streamed: false,
        level: None,
    }
}

/// An entry from outside the ledger: a finding of the resource monitor, an agent's health.
/// Derived state, not journaled; streamed.
#[derive(Clone, Debug)]
pub struct Notice {
    /// `alert` (pressure, trend, anomaly) or `agent`.
    pub kind: &'static str,
    pub account: Option<String>,
    /// `monitor` or `agents`.
    pub actor: &'static str,
    pub reason: String,
    pub data: Value,
}

impl Notice {
    pub fn into_entry(self, seq: u64, at_ms: u64) -> AuditEntry {
        AuditEntry {
            seq,
            at: rfc3339(at_ms),
            kind: self.kind,
            account: self.account,
            actor: Cow::Borrowed(self.actor),
            reason: self.reason,
            data: self.data,
            streamed: true,
            level: None,
        }
    }
}

/// Shown to a stream subscriber that fell behind and lost entries.
pub fn lagged(n_lost: u64) -> Value {
    json!({"lost": n_lost, "message": "the stream fell behind; resume with Last-Event-ID from GET /v1/audit"})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, account: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: rfc3339(seq),
            kind: "period",
            account: Some(account.into()),
            actor: Cow::Borrowed("clock"),
            reason: String::new(),
            data: Value::Null,
            streamed: true,
            level: None,
        }
    }

    #[test]
    fn a_page_reads_the_oldest_or_the_newest_under_a_prefix() {
        let mut log = AuditLog::new();
        for seq in 1..=6 {
            log.push(entry(seq, if seq % 2 == 0 { "acme/a" } else { "beta" }));
        }
        let seqs = |newest_first: bool| -> Vec<u64> {
            let query = AuditQuery {
                prefix: Some(AccountPath::parse("acme").unwrap()),
                since_seq: 0,
                limit: 2,
                streamed_only: false,
                newest_first,
            };
            log.page(&query).iter().map(|entry| entry.seq).collect()
        };
        assert_eq!(seqs(false), [2, 4]);
        assert_eq!(seqs(true), [6, 4]);
    }

    #[test]
    fn prefixes_match_whole_segments() {
        for (account, prefix, expected) in [
            (Some("acme/research"), Some("acme"), true),
            (Some("acme"), Some("acme"), true),
            (Some("acmex"), Some("acme"), false),
            (None, Some("acme"), false),
            (None, None, true),
        ] {
            assert_eq!(
                under(account, prefix),
                expected,
                "{account:?} under {prefix:?}"
            );
        }
    }
}
