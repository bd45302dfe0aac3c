//! What the dashboard's pages share: escaping, links, level badges, the stacked budget bar
//! (inline SVG: the CSP allows no inline style), tables and paging.

use std::fmt::Write;

use purser_core::Level;
use purser_engine::view::account::AccountView;

pub use crate::report::svg::escape;
pub use crate::report::{digits, duration, percent};

/// Text for a query string's value.
pub fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The dashboard's page of an account.
pub fn account_link(path: &str) -> String {
    format!(
        "<a href=\"/ui/accounts/{}\">{}</a>",
        escape(path),
        escape(path)
    )
}

/// A level as a coloured badge with its name (colour is never the only cue).
pub fn level_badge(level: Level) -> String {
    format!("<span class=\"lvl lvl-{0}\">{0}</span>", level.as_str())
}

const BAR_WIDTH: f64 = 220.0;
const BAR_HEIGHT: f64 = 14.0;

/// One dimension's limit as a stacked bar: spent, held, remaining, coloured by the account's
/// level, with the figures in its title and beside it. `None` when the dimension has no limit.
pub fn bar(view: &AccountView, dimension: &str) -> Option<String> {
    let limit = *view.limits.get(dimension)?;
    let spent = view.consumed.get(dimension).copied().unwrap_or(0);
    let held = view.reserved.get(dimension).copied().unwrap_or(0);
    let remaining = view.remaining.get(dimension).copied().unwrap_or(0);
    let scale = |amount: u64| {
        if limit == 0 {
            0.0
        } else {
            (amount as f64 / limit as f64 * BAR_WIDTH).min(BAR_WIDTH)
        }
    };
    let spent_w = scale(spent);
    let held_w = scale(held).min(BAR_WIDTH - spent_w);
    let used = if limit == 0 {
        0.0
    } else {
        spent.saturating_add(held) as f64 / limit as f64
    };
    let title = format!(
        "{dimension}: {} spent, {} held, {} remaining of {}",
        digits(spent),
        digits(held),
        digits(remaining),
        digits(limit)
    );
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<span class=\"bar\"><svg class=\"lv-{level}\" width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" \
         viewBox=\"0 0 {BAR_WIDTH} {BAR_HEIGHT}\" role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
         <rect class=\"rest\" width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\"/>\
         <rect class=\"spent\" width=\"{spent_w:.1}\" height=\"{BAR_HEIGHT}\"/>\
         <rect class=\"held\" x=\"{spent_w:.1}\" width=\"{held_w:.1}\" height=\"{BAR_HEIGHT}\"/></svg>\
         <span class=\"figure\">{} {} / {}</span></span>",
        escape(dimension),
        percent(used),
        digits(limit),
        level = view.verdict.level.as_str(),
        title = escape(&title),
    );
    Some(svg)
}

/// Every limited dimension's bar, one per line; a dash when nothing is limited.
pub fn bars(view: &AccountView) -> String {
    let bars: Vec<String> = view
        .limits
        .keys()
        .filter_map(|dimension| bar(view, dimension))
        .collect();
    if bars.is_empty() {
        "<span class=\"muted\">no limit</span>".into()
    } else {
        bars.join("<br>")
    }
}

/// Links to the previous and next pages of a list, keeping the other query parameters.
pub fn pager(base: &str, params: &[(&str, String)], page: usize, has_next: bool) -> String {
    let link = |page: usize, label: &str, rel: &str| {
        let mut query: Vec<String> = params
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| format!("{key}={}", query_value(value)))
            .collect();
        query.push(format!("page={page}"));
        format!(
            "<a rel=\"{rel}\" href=\"{base}?{}\">{label}</a>",
            escape(&query.join("&"))
        )
    };
    let mut out = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 1 {
        out.push_str(&link(page - 1, "← Previous", "prev"));
    }
    let _ = write!(out, "<span>Page {page}</span>");
    if has_next {
        out.push_str(&link(page + 1, "Next →", "next"));
    }
    out.push_str("</nav>");
    out
}

/// `at` (RFC 3339) as shown: the date and time to the second, UTC.
pub fn when(at: &str) -> String {
    let shown = at.get(..19).unwrap_or(at).replace('T', " ");
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(at),
        escape(&shown)
    )
}
