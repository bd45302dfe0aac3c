//! `GET /v1/events`: the audit log's stream as server-sent events, live entries after the
//! backlog asked for with `Last-Event-ID`, ended when the server begins to shut down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use purser_core::AccountPath;
use purser_engine::audit::{AUDIT_PAGE_MAX, AuditEntry, AuditQuery, lagged, under};
use tokio::sync::broadcast;

use super::manage::scoped_prefix;
use super::{AppState, boolean, number, query_params};
use crate::error::ApiError;

/// `change` events come at most this often.
const CHANGE_EVERY: Duration = Duration::from_millis(250);

struct Stream {
    backlog: VecDeque<Arc<AuditEntry>>,
    live: broadcast::Receiver<Arc<AuditEntry>>,
    prefix: Option<AccountPath>,
    last_seq: u64,
    closing: tokio::sync::watch::Receiver<bool>,
    /// With `changes=true`: the engine's last committed seq, and whether a change waits to be
    /// told (at `change_at`, so that a burst of commits is one event).
    changes: Option<tokio::sync::watch::Receiver<u64>>,
    change_pending: bool,
    change_at: tokio::time::Instant,
}

/// What woke the stream up.
enum Woken {
    Entry(Result<Arc<AuditEntry>, broadcast::error::RecvError>),
    Closing,
    Changed(bool),
    ChangeDue,
}

/// Waits for the next change of `changes`; false when the engine is gone.
async fn changed(changes: &mut Option<tokio::sync::watch::Receiver<u64>>) -> bool {
    match changes {
        Some(changes) => changes.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

impl Stream {
    /// The next event to send: the backlog first, then live entries under the prefix that the
    /// backlog did not already carry; `None` ends the stream (the server is closing).
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Self)> {
        loop {
            if let Some(entry) = self.backlog.pop_front() {
                self.last_seq = self.last_seq.max(entry.seq);
                return Some((Ok::<_, Infallible>(sse_event(&entry)), self));
            }
            if *self.closing.borrow() {
                return None;
            }
            let woken = tokio::select! {
                received = self.live.recv() => Woken::Entry(received),
                _ = self.closing.changed() => Woken::Closing,
                alive = changed(&mut self.changes), if !self.change_pending => Woken::Changed(alive),
                _ = tokio::time::sleep_until(self.change_at), if self.change_pending => Woken::ChangeDue,
            };
            let received = match woken {
                Woken::Entry(received) => received,
                Woken::Closing => return None,
                Woken::Changed(alive) => {
                    self.change_pending = alive;
                    if !alive {
                        self.changes = None;
                    }
                    continue;
                }
                Woken::ChangeDue => {
                    self.change_pending = false;
                    self.change_at = tokio::time::Instant::now() + CHANGE_EVERY;
                    let seq = self
                        .changes
                        .as_mut()
                        .map_or(0, |changes| *changes.borrow_and_update());
                    let event = SseEvent::default()
                        .event("change")
                        .data(format!("{{\"seq\":{seq}}}"));
                    return Some((Ok(event), self));
                }
            };
            match received {
                Ok(entry) => {
                    // The backlog may already have carried it; the stream has no duplicates.
                    if entry.seq <= self.last_seq && self.last_seq > 0
                        || !under(
                            entry.account.as_deref(),
                            self.prefix.as_ref().map(AccountPath::as_str),
                        )
                    {
                        continue;
                    }
                    self.last_seq = entry.seq;
                    return Some((Ok(sse_event(&entry)), self));
                }
                Err(broadcast::error::RecvError::Lagged(n_lost)) => {
                    let event = SseEvent::default()
                        .event("lagged")
                        .json_data(lagged(n_lost))
                        .unwrap_or_default();
                    return Some((Ok(event), self));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

fn sse_event(entry: &AuditEntry) -> SseEvent {
    SseEvent::default()
        .id(entry.seq.to_string())
        .event(entry.kind)
        .json_data(entry)
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable entry"))
}

#[utoipa::path(get, path = "/v1/events", tag = "routes_manage",
    params(("prefix" = Option<String>, Query, description = "Only events of this account and below"),
           ("changes" = Option<bool>, Query, description = "Also `change` events, at most 4 a second, without an id: `{\"seq\": N}` whenever anything was committed (usage included), so that a view can refresh")),
    responses((status = 200, description = "text/event-stream: enforcement, alert, reallocation, reservation_expired, period, task, dag (paused or resumed); `id:` is the sequence number, `Last-Event-ID` resumes")))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut prefix, mut changes) = (None, false);
    for (key, value) in query_params(raw.as_deref(), &["prefix", "changes"])? {
        match key.as_str() {
            "prefix" => prefix = Some(value),
            _ => changes = boolean(&value, "changes")?,
        }
    }
    // A browser's `EventSource` cannot send headers: the dashboard's cookie also signs in.
    let caller = state.tokens.reader(&headers)?;
    let prefix = scoped_prefix(&caller, prefix)?;
    // Subscribe first, then read the backlog: nothing falls between the two.
    let live = state.engine.subscribe().await?;
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| number(value.trim(), "Last-Event-ID"))
        .transpose()?;
    let mut backlog = VecDeque::new();
    if let Some(since_seq) = resume {
        let query = AuditQuery {
            prefix: prefix.clone(),
            since_seq,
            limit: AUDIT_PAGE_MAX,
            streamed_only: true,
            newest_first: false,
        };
        backlog.extend(state.engine.audit(query).await?);
    }
    let stream = Stream {
        backlog,
        live,
        prefix,
        last_seq: resume.unwrap_or(0),
        closing: state.closing.clone(),
        changes: changes.then(|| state.engine.changes()),
        change_pending: false,
        change_at: tokio::time::Instant::now(),
    };
    let events = futures_util::stream::unfold(stream, Stream::next);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
