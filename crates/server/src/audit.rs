//! The audit log and the event stream: notable events (allocations, limit changes, enforcement
//! changes, alerts, reallocations, periods, expiries, denials, task changes) with who, what, why
//! and when. The engine thread turns each committed event into an entry, keeps the newest in a
//! bounded ring (`GET /v1/audit`, and the resume of `GET /v1/events` by `Last-Event-ID`), and
//! publishes it to the live subscribers of the stream.

use std::collections::VecDeque;
use std::sync::Arc;

use purser_core::event::ReallocationKind;
use purser_core::{Event, Ledger, Level, action_for};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::wire::rfc3339;

/// Entries the ring keeps; older ones are only in the journal.
pub const AUDIT_KEPT_MAX: usize = 50_000;
/// The most entries one `GET /v1/audit` answers.
pub const AUDIT_PAGE_MAX: usize = 10_000;
/// Entries a slow stream subscriber may fall behind before it is told it lost some.
pub const STREAM_BACKLOG: usize = 4_096;

/// One entry of the audit log; also one server-sent event.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The sequence number of the journaled event (a denial, which is not journaled, carries
    /// the last one before it).
    pub seq: u64,
    pub at: String,
    /// `allocation`, `limit_change`, `account_closed`, `enforcement`, `alert`,
    /// `reallocation`, `period`, `reservation_expired`, `denial` or `task`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub account: Option<String>,
    /// The token's name for an operator's change (`name` in `[[tokens]]`; `anonymous` without
    /// tokens, `config` for accounts of `purser.toml`), else `api`, `optimizer`, `forecast` or
    /// `clock`.
    #[schema(value_type = String)]
    pub actor: std::borrow::Cow<'static, str>,
    pub reason: String,
    #[schema(value_type = Object)]
    pub data: Value,
    /// False for entries the log keeps but the stream does not carry (denials).
    #[serde(skip)]
    pub streamed: bool,
    /// For enforcement entries: when, and the level reached (the report's level chart).
    #[serde(skip)]
    pub level: Option<(u64, Level)>,
}

/// Who changed accounts, and what changed: journaled just before the ledger events of an
/// operator's command (`engine::Record::Note`), so that the audit entries of those events,
/// then and after a restart, name the token and the settings that moved.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, Serialize)]
pub struct Note {
    /// The token's name (`name` in `[[tokens]]`), `anonymous`, or `config`.
    pub actor: Arc<str>,
    pub changes: Vec<Change>,
}

/// One setting of one account that a command moved, rendered for people.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, Serialize)]
pub struct Change {
    pub account: String,
    /// `limits.tokens`, `thresholds.stop`, `weight`, `labels.team`, `period.every`, ...
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// An account's settings as flat `field -> value` pairs, for diffing.
pub type Settings = std::collections::BTreeMap<String, String>;

/// The settings an operator controls of `account`, or those of a new account (the defaults,
/// no limits) when it does not exist.
pub fn settings(ledger: &Ledger, account: Option<purser_core::AccountId>) -> Settings {
    let ppm = |value: u32| (f64::from(value) / 1e6).to_string();
    let (config, limits) = match account {
        Some(id) => {
            let acc = ledger.account(id);
            let limits: Vec<(String, u64)> = acc
                .slots
                .iter()
                .filter_map(|slot| {
                    slot.limit
                        .map(|limit| (ledger.dimensions().name(slot.dim).to_string(), limit))
                })
                .collect();
            (acc.config.clone(), limits)
        }
        None => (ledger.defaults().clone(), Vec::new()),
    };
    let mut out = Settings::new();
    for (name, limit) in limits {
        out.insert(format!("limits.{name}"), limit.to_string());
    }
    out.insert("weight".into(), config.weight.to_string());
    out.insert("priority".into(), config.priority.to_string());
    if let Some(kind) = &config.kind {
        out.insert("kind".into(), kind.to_string());
    }
    for (key, value) in &config.labels {
        out.insert(format!("labels.{key}"), value.clone());
    }
    let thresholds = &config.thresholds;
    out.insert("thresholds.warn".into(), ppm(thresholds.warn_ppm));
    out.insert("thresholds.throttle".into(), ppm(thresholds.throttle_ppm));
    out.insert("thresholds.degrade".into(), ppm(thresholds.degrade_ppm));
    out.insert("thresholds.stop".into(), ppm(thresholds.stop_ppm));
    out.insert("throttle_rate".into(), ppm(config.throttle_rate_ppm));
    out.insert("reserve".into(), ppm(config.reserve_ppm));
    if let Some(period) = &config.period {
        out.insert("period.every".into(), period.every.name().to_string());
        out.insert("period.timezone".into(), period.timezone.to_string());
        out.insert("period.rollover_max".into(), ppm(period.rollover_max_ppm));
    }
    if let Some(deadline_ms) = config.deadline_ms {
        out.insert("deadline".into(), rfc3339(deadline_ms));
    }
    out
}

/// What moved between two views of one account's settings.
pub fn diff(account: &str, before: &Settings, after: &Settings) -> Vec<Change> {
    let fields: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| Change {
            account: account.to_string(),
            field: field.clone(),
            from: before.get(field).cloned(),
            to: after.get(field).cloned(),
        })
        .collect()
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

    /// Entries after `since_seq` under `prefix`, oldest first, at most `limit`.
    pub fn page(
        &self,
        prefix: Option<&str>,
        since_seq: u64,
        limit: usize,
        streamed_only: bool,
    ) -> Vec<Arc<AuditEntry>> {
        let start = self.entries.partition_point(|entry| entry.seq <= since_seq);
        self.entries
            .range(start..)
            .filter(|entry| !streamed_only || entry.streamed)
            .filter(|entry| under(entry.account.as_deref(), prefix))
            .take(limit.min(AUDIT_PAGE_MAX))
            .cloned()
            .collect()
    }

    /// The level changes of `account` the ring still holds, oldest first.
    pub fn level_changes(&self, account: &str) -> Vec<(u64, Level)> {
        self.entries
            .iter()
            .filter(|entry| entry.account.as_deref() == Some(account))
            .filter_map(|entry| entry.level)
            .collect()
    }

    /// Turns a committed ledger event into its entry, if it is notable.
    pub fn note_event(&mut self, ledger: &Ledger, seq: u64, event: &Event) {
        if let Some(entry) = entry_of(ledger, seq, event) {
            let entry = match &self.attribution {
                Some(note) => attribute(entry, note),
                None => entry,
            };
            self.push(entry);
        }
    }

    /// The note journaled before an operator's command: its events are attributed to it.
    pub fn note_actor(&mut self, note: &Note) {
        self.attribution = Some(note.clone());
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

/// An entry of an operator's command, with the token's name; a limit change also lists the
/// settings that moved on its account.
fn attribute(mut entry: AuditEntry, note: &Note) -> AuditEntry {
    if entry.actor != "api" {
        return entry;
    }
    entry.actor = std::borrow::Cow::Owned(note.actor.to_string());
    if entry.kind != "limit_change" {
        return entry;
    }
    let changes: Vec<&Change> = note
        .changes
        .iter()
        .filter(|change| entry.account.as_deref() == Some(change.account.as_str()))
        .collect();
    if let Value::Object(data) = &mut entry.data {
        let listed = changes
            .iter()
            .map(|change| json!({"field": change.field, "from": change.from, "to": change.to}))
            .collect();
        data.insert("changes".into(), listed);
    }
    let described: Vec<String> = changes
        .iter()
        .map(|change| {
            format!(
                "{} {} -> {}",
                change.field,
                change.from.as_deref().unwrap_or("unset"),
                change.to.as_deref().unwrap_or("unset")
            )
        })
        .collect();
    entry.reason = if described.is_empty() {
        format!("{} by {}", entry.reason, note.actor)
    } else {
        format!(
            "{} by {}: {}",
            entry.reason,
            note.actor,
            described.join(", ")
        )
    };
    entry
}

/// Whether an account path is `prefix` or below it (no prefix: everything).
pub fn under(account: Option<&str>, prefix: Option<&str>) -> bool {
    match (prefix, account) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(prefix), Some(account)) => {
            account == prefix
                || (account.starts_with(prefix)
                    && account.as_bytes().get(prefix.len()) == Some(&b'/'))
        }
    }
}

fn entry_of(ledger: &Ledger, seq: u64, event: &Event) -> Option<AuditEntry> {
    let path = |account: purser_core::AccountId| ledger.account(account).path.to_string();
    let dim = |dim: purser_core::DimId| ledger.dimensions().name(dim).to_string();
    let amounts = |amounts: &purser_core::Amounts| -> Value {
        amounts
            .iter()
            .map(|(d, value)| (dim(d), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let entry = |at_ms: u64, kind, account: String, actor, reason: String, data: Value| {
        Some(AuditEntry {
            seq,
            at: rfc3339(at_ms),
            kind,
            account: Some(account),
            actor: std::borrow::Cow::Borrowed(actor),
            reason,
            data,
            streamed: true,
            level: None,
        })
    };
    match event {
        Event::AccountOpened {
            path: account,
            limits,
            at_ms,
            ..
        } => entry(
            *at_ms,
            "limit_change",
            account.to_string(),
            "api",
            format!("account {account} opened"),
            json!({"limits": amounts(limits)}),
        ),
        Event::AccountUpdated {
            account,
            limits,
            at_ms,
            ..
        } => entry(
            *at_ms,
            "limit_change",
            path(*account),
            "api",
            format!("account {} updated", path(*account)),
            json!({"limits": amounts(limits)}),
        ),
        Event::AccountClosed { account, at_ms } => entry(
            *at_ms,
            "account_closed",
            path(*account),
            "api",
            format!(
                "account {} closed; its limit went back to its parent",
                path(*account)
            ),
            json!({}),
        ),
        Event::LevelChanged {
            account,
            from,
            to,
            dimension,
            at_ms,
        } => {
            let acc = ledger.account(*account);
            let action = action_for(*to, acc.config.throttle_rate_ppm);
            let by_forecast = *to == Level::Yellow
                && acc.alert.is_some_and(|alert| Some(alert.dim) == *dimension);
            let dimension = dimension.map(dim);
            let reason = match &dimension {
                Some(name) if by_forecast => {
                    format!(
                        "{} warned: the forecast sees {name} exhausted soon",
                        acc.path
                    )
                }
                Some(name) => format!(
                    "{} moved from {} to {} on {name}",
                    acc.path,
                    from.as_str(),
                    to.as_str()
                ),
                None => format!(
                    "{} moved from {} to {}",
                    acc.path,
                    from.as_str(),
                    to.as_str()
                ),
            };
            entry(
                *at_ms,
                "enforcement",
                acc.path.to_string(),
                "api",
                reason,
                json!({"from": from.as_str(), "level": to.as_str(), "action": action.kind(),
                       "dimension": dimension}),
            )
            .map(|entry| AuditEntry {
                level: Some((*at_ms, *to)),
                ..entry
            })
        }
        Event::AlertRaised {
            account,
            dimension,
            method,
            projected_total,
            exhausts_at_ms,
            confidence_ppm,
            at_ms,
        } => entry(
            *at_ms,
            "alert",
            path(*account),
            "forecast",
            format!(
                "{} forecast to reach its stop threshold in {} at {} ({method}, confidence {:.2})",
                path(*account),
                dim(*dimension),
                rfc3339(*exhausts_at_ms),
                f64::from(*confidence_ppm) / 1e6
            ),
            json!({"dimension": dim(*dimension), "raised": true, "method": method.as_ref(),
                   "projected_total": projected_total, "exhausts_at": rfc3339(*exhausts_at_ms),
                   "confidence": f64::from(*confidence_ppm) / 1e6}),
        ),
        Event::AlertCleared {
            account,
            dimension,
            at_ms,
        } => entry(
            *at_ms,
            "alert",
            path(*account),
            "forecast",
            format!(
                "{} no longer forecast to exhaust {}",
                path(*account),
                dim(*dimension)
            ),
            json!({"dimension": dim(*dimension), "raised": false}),
        ),
        Event::Reallocated {
            account,
            dimension,
            from,
            to,
            kind,
            reason,
            at_ms,
        } => entry(
            *at_ms,
            "reallocation",
            path(*account),
            "optimizer",
            reason.to_string(),
            json!({"kind": kind.name(), "dimension": dim(*dimension), "from": from, "to": to,
                   "delta": match kind { ReallocationKind::Grant => to - from, ReallocationKind::Reclaim => from - to }}),
        ),
        Event::PeriodRenewed {
            account,
            start_ms,
            end_ms,
            limits,
            at_ms,
        } => entry(
            *at_ms,
            "period",
            path(*account),
            "clock",
            format!("{} began a new budget period", path(*account)),
            json!({"start": rfc3339(*start_ms), "end": rfc3339(*end_ms), "limits": amounts(limits)}),
        ),
        Event::ReservationExpired { reservation, at_ms } => {
            let account = ledger.reservation_account(*reservation).map(path)?;
            entry(
                *at_ms,
                "reservation_expired",
                account.clone(),
                "clock",
                format!("reservation rsv_{reservation} on {account} expired and was released"),
                json!({"id": format!("rsv_{reservation}")}),
            )
        }
        _ => None,
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
        actor: std::borrow::Cow::Borrowed("api"),
        data: json!({"dimension": dimension, "requested": requested, "available": available}),
        streamed: false,
        level: None,
    }
}

/// Shown to a stream subscriber that fell behind and lost entries.
pub fn lagged(n_lost: u64) -> Value {
    json!({"lost": n_lost, "message": "the stream fell behind; resume with Last-Event-ID from GET /v1/audit"})
}

#[cfg(test)]
mod tests {
    use super::under;

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
