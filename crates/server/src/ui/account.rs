//! One account: its figures per dimension, its level and what it tells agents, consumption
//! over time with the limit and the forecast, levels over time (the report's charts), its
//! open holds, its children and its latest audit entries.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use purser_engine::audit::AuditQuery;

use super::activity::entries_table;
use super::html::{self, digits, escape};
use super::{Page, show};
use crate::error::ApiError;
use crate::routes::AppState;
use crate::wire;

/// Audit entries an account's page shows.
const ENTRIES_SHOWN: usize = 50;
/// Children an account's page lists at most.
const CHILDREN_SHOWN: usize = 200;
/// Open holds an account's page lists at most.
const HOLDS_SHOWN: usize = 100;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let uri = format!("/ui/accounts/{path}");
    show(&state, &headers, &uri, async |caller| {
        account(&state, caller, &path).await
    })
    .await
}

async fn account(
    state: &AppState,
    caller: &crate::auth::Caller,
    path: &str,
) -> Result<Page, ApiError> {
    let path = wire::account_path(path, "path")?;
    caller.allow(crate::auth::Need::Read, Some(path.as_str()))?;
    let view = state.engine.account(path.clone()).await?;
    let report = state.engine.report(path.clone()).await?;
    let children = state
        .engine
        .accounts(Some(path.clone()), 1, caller.scope())
        .await?;
    let holds = state.engine.holds(path.clone(), HOLDS_SHOWN).await?;
    let entries = state
        .engine
        .audit(AuditQuery {
            prefix: Some(path.clone()),
            since_seq: 0,
            limit: ENTRIES_SHOWN,
            streamed_only: false,
            newest_first: true,
        })
        .await?;

    let mut body = String::with_capacity(64 << 10);
    let parent = path.parent().map_or(String::new(), |parent| {
        format!(" Parent: {}.", html::account_link(parent.as_str()))
    });
    let fired = view.verdict.fired.as_ref().map_or(String::new(), |fired| {
        format!(
            " Set by {} in {} at {}.",
            escape(&fired.account),
            escape(&fired.dimension),
            html::percent(fired.fraction)
        )
    });
    let _ = writeln!(
        body,
        "<section id=\"summary\" data-live><p>{} Agents are told to <strong>{}</strong>.{fired}{parent} \
         Open holds: {}. Last change at event {}.</p>",
        html::level_badge(view.verdict.level),
        view.verdict.action.kind(),
        view.open_reservations,
        view.seq,
    );
    // Why, where the figures do not say (a run cap, a pause, shadow mode), and the rules set.
    if let Some(reason) = &view.verdict.reason {
        let _ = writeln!(
            body,
            "<p id=\"why\"><strong>Why:</strong> {}</p>",
            escape(reason)
        );
    }
    if let Some(rules) = report.rules.iter().find(|row| row.path == path) {
        let _ = writeln!(
            body,
            "<p id=\"rules\" class=\"muted\">Budget rules: {}.</p>",
            escape(&rules.rules.join("; "))
        );
    }
    body.push_str(
        "<table><thead><tr><th scope=\"col\">Dimension</th><th scope=\"col\" class=\"num\">Limit</th>\
         <th scope=\"col\" class=\"num\">Spent</th><th scope=\"col\" class=\"num\">Held</th>\
         <th scope=\"col\" class=\"num\">Remaining</th><th scope=\"col\">Budget</th></tr></thead><tbody>\n",
    );
    for (dimension, consumed) in &view.consumed {
        let limit = view.limits.get(dimension);
        let _ = writeln!(
            body,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(dimension),
            limit.map_or("—".into(), |limit| digits(*limit)),
            digits(*consumed),
            digits(view.reserved.get(dimension).copied().unwrap_or(0)),
            view.remaining
                .get(dimension)
                .map_or("—".into(), |left| digits(*left)),
            html::bar(&view, dimension).unwrap_or_default(),
        );
    }
    body.push_str("</tbody></table></section>\n");

    let _ = writeln!(
        body,
        "<h2>Open holds ({})</h2>\n<p class=\"muted\">Taken on this account itself; holds below it \
         count in its Held figures and show on their own accounts.</p>",
        view.open_reservations
    );
    body.push_str(
        "<table><thead><tr><th scope=\"col\">Hold</th><th scope=\"col\">Amount</th>\
         <th scope=\"col\">Expires</th></tr></thead><tbody id=\"holds\" data-live data-rows>\n",
    );
    for hold in &holds {
        let amounts: Vec<String> = hold
            .amounts
            .iter()
            .map(|(dimension, amount)| format!("{} {}", digits(*amount), escape(dimension)))
            .collect();
        let _ = writeln!(
            body,
            "<tr data-key=\"rsv_{0}\"><th scope=\"row\">rsv_{0}</th><td>{1}</td><td>{2}</td></tr>",
            hold.id,
            amounts.join(", "),
            html::when(&purser_engine::time::rfc3339(hold.expires_ms)),
        );
    }
    body.push_str("</tbody></table>\n");
    if (holds.len() as u32) < view.open_reservations {
        let _ = writeln!(
            body,
            "<p class=\"muted\">The oldest {} are shown.</p>",
            holds.len()
        );
    }

    body.push_str("<section id=\"charts\" data-live>");
    match &report.chart {
        Some(chart) => {
            let forecast = chart.forecast.as_ref().map_or(
                "No forecast yet.".to_string(),
                |forecast| {
                    format!(
                        "Forecast ({}): {} {} at the horizon's end, 80% interval {} to {}, confidence {:.2}.",
                        escape(forecast.method),
                        digits(forecast.projected_total),
                        escape(&chart.dimension),
                        digits(forecast.interval_low),
                        forecast.interval_high.map_or("unbounded".into(), digits),
                        forecast.confidence
                    )
                },
            );
            let _ = write!(
                body,
                "<h2>Consumption of {}</h2>\n<p>{forecast}</p>\n<figure id=\"consumption\">{}\
                 <figcaption class=\"legend\"><span class=\"k consumed\">consumed</span>\
                 <span class=\"k forecast\">forecast</span><span class=\"k interval\">80% interval</span>\
                 <span class=\"k limit\">limit</span></figcaption></figure>\n\
                 <h2>Levels over time</h2>\n<figure>{}<figcaption class=\"legend\">",
                escape(&chart.dimension),
                crate::report::svg::consumption(chart),
                crate::report::svg::levels(chart),
            );
            for level in purser_core::Level::ALL {
                body.push_str(&html::level_badge(level));
                body.push(' ');
            }
            body.push_str("</figcaption></figure>\n");
        }
        None => body.push_str("<h2>Consumption</h2><p>No consumption history yet.</p>\n"),
    }
    body.push_str("</section>\n");

    let children: Vec<_> = children
        .iter()
        .filter(|child| child.path != view.path)
        .collect();
    let _ = writeln!(body, "<h2>Children ({})</h2>", children.len());
    if children.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">Level</th>\
             <th scope=\"col\">Budget</th></tr></thead><tbody id=\"children\" data-live data-rows>\n",
        );
        for child in children.iter().take(CHILDREN_SHOWN) {
            let _ = writeln!(
                body,
                "<tr data-key=\"{}\"><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                escape(&child.path),
                html::account_link(&child.path),
                html::level_badge(child.verdict.level),
                html::bars(child),
            );
        }
        body.push_str("</tbody></table>\n");
    }

    body.push_str("<h2>Audit log</h2>\n");
    let newest: Vec<_> = entries.iter().collect();
    body.push_str(&entries_table("entries", &newest));
    let _ = write!(
        body,
        "<p><a href=\"/ui/audit?prefix={}\">The whole audit log of this account</a></p>",
        escape(&html::query_value(path.as_str())),
    );
    Ok(Page {
        title: path.to_string(),
        nav: "accounts",
        live: Some(path.to_string()),
        body,
    })
}
