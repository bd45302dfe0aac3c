//! Pools and quotas: what each pool's machines offer and what placed tasks hold of it, the
//! tenants' quotas against their use and what they borrow, the tasks by state and the
//! eligible line: the scheduler's gauges, the same figures `/metrics` exports.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::html::{digits, escape, percent};
use super::{Page, show};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

const BAR: f64 = 220.0;

/// `used` of `capacity` as a bar, with the figures beside it.
fn usage_bar(used: u64, capacity: u64, borrowed: u64) -> String {
    let ratio = if capacity == 0 {
        if used > 0 { 1.0 } else { 0.0 }
    } else {
        used as f64 / capacity as f64
    };
    let width = (ratio.min(1.0) * BAR).max(0.0);
    let class = if ratio > 0.9 {
        "hot"
    } else if ratio > 0.8 {
        "warm"
    } else {
        "ok"
    };
    let borrowed = if borrowed > 0 {
        format!(", {} borrowed", digits(borrowed))
    } else {
        String::new()
    };
    let title = format!(
        "{} of {} ({}){borrowed}",
        digits(used),
        digits(capacity),
        percent(ratio)
    );
    format!(
        "<span class=\"bar\"><svg class=\"use {class}\" width=\"{BAR}\" height=\"14\" viewBox=\"0 0 {BAR} 14\" \
         role=\"img\" aria-label=\"{title}\"><title>{title}</title><rect class=\"rest\" width=\"{BAR}\" height=\"14\"/>\
         <rect class=\"used\" width=\"{width:.1}\" height=\"14\"/></svg><span class=\"figure\">{title}</span></span>"
    )
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show(&state, &headers, "/ui/pools", async |caller| {
        pools_page(&state, caller).await
    })
    .await
}

async fn pools_page(state: &AppState, caller: &Caller) -> Result<Page, ApiError> {
    let mut body = String::new();
    if !caller.scope().is_everything() {
        body.push_str(
            "<p>Pools and quotas span every tenant: a token without a scope sees them.</p>",
        );
        return Ok(Page {
            title: "Pools and quotas".into(),
            nav: "pools",
            live: None,
            body,
        });
    }
    let sched = state.engine.sched_gauges(0).await?;
    let _ = write!(
        body,
        "<section id=\"pools\" data-live><p>{} tasks wait in the eligible line.</p>\n<h2>Pools</h2>\n",
        sched.eligible
    );
    if sched.pools.is_empty() {
        body.push_str("<p class=\"muted\">No pool is configured ([[pool]] in purser.toml).</p>\n");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">Pool</th><th scope=\"col\">Dimension</th>\
             <th scope=\"col\">Used of capacity</th></tr></thead><tbody>\n",
        );
        for pool in &sched.pools {
            let _ = writeln!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                escape(&pool.pool),
                escape(&pool.dimension),
                usage_bar(pool.used, pool.capacity, 0)
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("<h2>Quotas</h2>\n");
    if sched.quotas.is_empty() {
        body.push_str(
            "<p class=\"muted\">No quota is configured ([[quota]] in purser.toml).</p>\n",
        );
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">Pool</th>\
             <th scope=\"col\">Dimension</th><th scope=\"col\">Used of nominal</th></tr></thead><tbody>\n",
        );
        for quota in &sched.quotas {
            let _ = writeln!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&quota.tenant),
                escape(&quota.pool),
                escape(&quota.dimension),
                usage_bar(quota.used, quota.nominal, quota.borrowed)
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("<h2>Tasks by state</h2>\n");
    if sched.tasks.is_empty() {
        body.push_str("<p class=\"muted\">No task.</p>\n");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">State</th><th scope=\"col\">Pool</th>\
             <th scope=\"col\" class=\"num\">Tasks</th></tr></thead><tbody>\n",
        );
        for (state, pool, n) in &sched.tasks {
            let _ = writeln!(
                body,
                "<tr><td><span class=\"state s-{}\">{state}</span></td><td>{}</td><td class=\"num\">{}</td></tr>",
                state.to_lowercase(),
                escape(pool),
                digits(*n)
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("</section>\n");
    Ok(Page {
        title: "Pools and quotas".into(),
        nav: "pools",
        live: Some(String::new()),
        body,
    })
}
