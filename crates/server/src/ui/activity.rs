//! Alerts and the audit log: the entries the engine keeps (who, what, why, when), newest
//! first, filtered by account prefix, type and actor.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use purser_engine::audit::{AUDIT_PAGE_MAX, AuditEntry, AuditQuery};

use super::html::{self, escape};
use super::{Page, show};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{AppState, number, query_params};
use crate::wire;

/// Entries per page.
const PAGE_ROWS: usize = 100;

/// The types of entries, for the filter.
const TYPES: [&str; 11] = [
    "allocation",
    "limit_change",
    "account_closed",
    "enforcement",
    "alert",
    "reallocation",
    "period",
    "reservation_expired",
    "denial",
    "task",
    "dag",
];

/// Entries as a table whose rows keep their place when the page refreshes (`id` names it).
pub fn entries_table(id: &str, entries: &[&Arc<AuditEntry>]) -> String {
    let mut out = format!(
        "<table class=\"entries\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Type</th>\
         <th scope=\"col\">Account</th><th scope=\"col\">Actor</th><th scope=\"col\">Why</th></tr></thead>\
         <tbody id=\"{id}\" data-live data-rows=\"newest-first\">\n"
    );
    for entry in entries {
        let account = entry
            .account
            .as_deref()
            .map_or(String::new(), html::account_link);
        let _ = writeln!(
            out,
            "<tr data-key=\"{}-{}\"><td>{}</td><td>{}</td><td>{account}</td><td>{}</td><td>{}</td></tr>",
            entry.seq,
            escape(entry.kind),
            html::when(&entry.at),
            escape(entry.kind),
            escape(&entry.actor),
            escape(&entry.reason),
        );
    }
    out.push_str("</tbody></table>\n");
    if entries.is_empty() {
        out.push_str("<p class=\"muted\">No entries.</p>\n");
    }
    out
}

/// The entries under `prefix` the caller may read, newest first.
async fn read(
    state: &AppState,
    caller: &Caller,
    prefix: Option<String>,
) -> Result<(Option<purser_core::AccountPath>, Vec<Arc<AuditEntry>>), ApiError> {
    let prefix = match prefix {
        Some(prefix) => Some(prefix),
        None if !caller.scope.is_empty() => Some(caller.scope.to_string()),
        None => None,
    };
    let prefix = prefix
        .map(|text| wire::account_path(&text, "prefix"))
        .transpose()?;
    caller.allow(
        crate::auth::Need::Read,
        prefix.as_ref().map(|path| path.as_str()),
    )?;
    let entries = state
        .engine
        .audit(AuditQuery {
            prefix: prefix.clone(),
            since_seq: 0,
            limit: AUDIT_PAGE_MAX,
            streamed_only: false,
            newest_first: true,
        })
        .await?;
    Ok((prefix, entries))
}

pub async fn alerts(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show(&state, &headers, "/ui/alerts", async |caller| {
        alerts_page(&state, caller).await
    })
    .await
}

async fn alerts_page(state: &AppState, caller: &Caller) -> Result<Page, ApiError> {
    let (prefix, entries) = read(state, caller, None).await?;
    // An account's alert is in force when its newest alert entry raised it.
    let mut seen = std::collections::BTreeSet::new();
    let mut active = Vec::new();
    let mut history = Vec::new();
    for entry in entries.iter().filter(|entry| entry.kind == "alert") {
        let key = (
            entry.account.clone().unwrap_or_default(),
            entry.data["dimension"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let raised = entry.data["raised"] == true;
        if seen.insert(key) && raised {
            active.push(entry);
        }
        if history.len() < PAGE_ROWS {
            history.push(entry);
        }
    }
    let mut body = format!(
        "<p>Forecast alerts: raised a lead time before an account would reach its stop \
         threshold, cleared when the forecast no longer sees it. {} in force.</p>\n\
         <h2>In force</h2>\n",
        active.len()
    );
    body.push_str(&entries_table("active", &active));
    body.push_str("<h2>Latest alert entries</h2>\n");
    body.push_str(&entries_table("history", &history));
    Ok(Page {
        title: "Alerts".into(),
        nav: "alerts",
        live: Some(prefix.map_or(String::new(), |prefix| prefix.to_string())),
        body,
    })
}

pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    show(&state, &headers, "/ui/audit", async |caller| {
        audit_page(&state, caller, raw.as_deref()).await
    })
    .await
}

async fn audit_page(
    state: &AppState,
    caller: &Caller,
    raw: Option<&str>,
) -> Result<Page, ApiError> {
    let (mut prefix, mut kind, mut actor, mut page) = (None, String::new(), String::new(), 1);
    for (key, value) in query_params(raw, &["prefix", "type", "actor", "page"])? {
        match key.as_str() {
            "prefix" if !value.is_empty() => prefix = Some(value),
            "type" => kind = value,
            "actor" => actor = value.trim().to_string(),
            "page" => page = (number(&value, "page")? as usize).max(1),
            _ => {}
        }
    }
    if !kind.is_empty() && !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid(
            "invalid_field",
            "type",
            format!("type must be one of {TYPES:?}"),
        ));
    }
    let (prefix, entries) = read(state, caller, prefix).await?;
    let matching: Vec<&Arc<AuditEntry>> = entries
        .iter()
        .filter(|entry| kind.is_empty() || entry.kind == kind)
        .filter(|entry| actor.is_empty() || *entry.actor == *actor)
        .collect();
    let start = (page - 1) * PAGE_ROWS;
    let shown: Vec<_> = matching
        .iter()
        .skip(start)
        .take(PAGE_ROWS)
        .copied()
        .collect();
    let prefix_text = prefix
        .as_ref()
        .map_or(String::new(), |prefix| prefix.to_string());
    let mut body = format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/audit\">\
         <label>Prefix <input name=\"prefix\" value=\"{}\"></label> \
         <label>Type <select name=\"type\"><option value=\"\">any</option>",
        escape(&prefix_text)
    );
    for name in TYPES {
        let selected = if name == kind { " selected" } else { "" };
        let _ = write!(body, "<option{selected}>{name}</option>");
    }
    let _ = write!(
        body,
        "</select></label> <label>Actor <input name=\"actor\" value=\"{}\"></label> \
         <button type=\"submit\">Filter</button></form>\n\
         <p class=\"muted\">{} matching entries of the {} the server keeps (older ones are in the journal).</p>\n",
        escape(&actor),
        matching.len(),
        entries.len()
    );
    body.push_str(&entries_table("entries", &shown));
    let params = [
        ("prefix", prefix_text.clone()),
        ("type", kind),
        ("actor", actor),
    ];
    body.push_str(&html::pager(
        "/ui/audit",
        &params,
        page,
        matching.len() > start + PAGE_ROWS,
    ));
    Ok(Page {
        title: "Audit log".into(),
        nav: "audit",
        live: Some(prefix_text),
        body,
    })
}
