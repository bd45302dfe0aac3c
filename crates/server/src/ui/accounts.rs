//! The account tree: every account under a prefix down to a depth, in tree order, each with
//! its level and a stacked bar per limited dimension (spent, held, remaining), a page at a
//! time.

use std::fmt::Write;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::html::{self, escape};
use super::{Page, show};
use crate::error::ApiError;
use crate::routes::{AppState, number, query_params};
use crate::wire;

/// Accounts per page.
pub const PAGE_ROWS: usize = 100;
/// The deepest a tree page goes below its prefix.
const DEPTH_MAX: usize = 8;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    show(&state, &headers, "/ui/accounts", async |caller| {
        tree(&state, caller, raw.as_deref()).await
    })
    .await
}

async fn tree(
    state: &AppState,
    caller: &crate::auth::Caller,
    raw: Option<&str>,
) -> Result<Page, ApiError> {
    let (mut prefix, mut depth, mut page) = (None, 3, 1);
    for (key, value) in query_params(raw, &["prefix", "depth", "page"])? {
        match key.as_str() {
            "prefix" if !value.is_empty() => prefix = Some(value),
            "depth" => depth = (number(&value, "depth")? as usize).clamp(1, DEPTH_MAX),
            "page" => page = (number(&value, "page")? as usize).max(1),
            _ => {}
        }
    }
    // A scoped token starts at its scope.
    if prefix.is_none() && !caller.scope.is_empty() {
        prefix = Some(caller.scope.to_string());
    }
    let prefix = prefix
        .map(|text| wire::account_path(&text, "prefix"))
        .transpose()?;
    caller.allow(
        crate::auth::Need::Read,
        prefix.as_ref().map(|path| path.as_str()),
    )?;
    let accounts = state
        .engine
        .accounts(prefix.clone(), depth, caller.scope())
        .await?;
    let start = (page - 1) * PAGE_ROWS;
    let shown = accounts.iter().skip(start).take(PAGE_ROWS);
    let base_depth = prefix
        .as_ref()
        .map_or(1, |prefix| prefix.as_str().split('/').count());
    let mut body = String::with_capacity(PAGE_ROWS * 1200);
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/ui/accounts\">\
         <label>Prefix <input name=\"prefix\" value=\"{}\" placeholder=\"acme/research\"></label> \
         <label>Depth <input name=\"depth\" type=\"number\" min=\"1\" max=\"{DEPTH_MAX}\" value=\"{depth}\"></label> \
         <button type=\"submit\">Show</button></form>\n\
         <p class=\"muted\">{} accounts{}. Bars: <span class=\"key spent\">spent</span> \
         <span class=\"key held\">held</span> <span class=\"key rest\">remaining</span> of the limit, \
         coloured by level.</p>\n",
        escape(prefix.as_ref().map_or("", |prefix| prefix.as_str())),
        accounts.len(),
        if accounts.len() >= purser_engine::ACCOUNTS_LIST_MAX {
            " (the first 10,000: narrow the prefix)"
        } else {
            ""
        },
    );
    body.push_str(
        "<table class=\"tree\"><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">Level</th>\
         <th scope=\"col\">Budget</th><th scope=\"col\" class=\"num\">Holds</th></tr></thead>\n\
         <tbody id=\"rows\" data-live data-rows>\n",
    );
    for view in shown {
        let depth = view.path.split('/').count().saturating_sub(base_depth);
        let name = view.path.rsplit('/').next().unwrap_or(&view.path);
        let _ = writeln!(
            body,
            "<tr data-key=\"{key}\"><th scope=\"row\" class=\"d{depth}\">\
             <a href=\"/ui/accounts/{key}\" title=\"{key}\">{name}</a></th>\
             <td>{level}</td><td>{bars}</td><td class=\"num\">{holds}</td></tr>",
            key = escape(&view.path),
            depth = depth.min(DEPTH_MAX),
            name = escape(name),
            level = html::level_badge(view.verdict.level),
            bars = html::bars(view),
            holds = view.open_reservations,
        );
    }
    body.push_str("</tbody></table>\n");
    let params = [
        (
            "prefix",
            prefix
                .as_ref()
                .map_or(String::new(), |prefix| prefix.to_string()),
        ),
        ("depth", depth.to_string()),
    ];
    body.push_str(&html::pager(
        "/ui/accounts",
        &params,
        page,
        accounts.len() > start + PAGE_ROWS,
    ));
    Ok(Page {
        title: "Accounts".into(),
        nav: "accounts",
        live: Some(
            prefix
                .as_ref()
                .map_or(String::new(), |prefix| prefix.to_string()),
        ),
        body,
    })
}
