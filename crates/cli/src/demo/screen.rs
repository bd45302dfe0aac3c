//! What the demo shows: a live frame per agent on a terminal, lines otherwise, and the
//! closing summary.

use purser_core::amount::group_digits;
use std::io::Write;

use purser_server::wire::ActionOut;
use purser_server::wire::accounts::{AccountOut, AccountsOut};

use super::{PROFILES, Shared, WORKFLOW, expect, tokens};
use crate::client::Client;
use crate::table;

fn colour(level: &str) -> &'static str {
    match level {
        "green" => "\x1b[32m",
        "yellow" => "\x1b[33m",
        "orange" => "\x1b[38;5;208m",
        "red" => "\x1b[31m",
        _ => "\x1b[90m",
    }
}

/// The server's status of each agent, in the order of `PROFILES`.
fn agent_statuses(client: &Client) -> anyhow::Result<Vec<Option<AccountOut>>> {
    let listing: AccountsOut = expect(
        client,
        "GET",
        &format!("/v1/accounts?prefix={WORKFLOW}&depth=1"),
        None,
    )?;
    Ok(PROFILES
        .iter()
        .map(|profile| {
            let path = format!("{WORKFLOW}/{}", profile.name);
            listing
                .accounts
                .iter()
                .find(|account| account.path == path)
                .cloned()
        })
        .collect())
}

/// Redraws the bars and the latest events in place on a terminal; elsewhere only the events print.
pub(super) fn draw(client: &Client, shared: &Shared, last: bool) -> anyhow::Result<()> {
    if !shared.tty {
        return Ok(());
    }
    let statuses = agent_statuses(client)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut screen = String::new();
    for (idx, profile) in PROFILES.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let limit = tokens(&status.limits).max(1);
        let spent = tokens(&status.consumed);
        let cost = status.consumed.get("cost_micros").copied().unwrap_or(0);
        let level = status.level.as_str();
        let filled = ((spent as f64 / limit as f64) * 30.0)
            .round()
            .clamp(0.0, 30.0) as usize;
        screen.push_str(&format!(
            "  {:<7} {:<17} {}{}{}\x1b[0m {:>5.1}%  {:>7}/{:<7} tokens  ${:>6.2}  {:<6} {:<13} calls {:>3}\x1b[K\n",
            profile.name,
            profile.role,
            colour(level),
            "█".repeat(filled),
            "░".repeat(30 - filled),
            spent as f64 * 100.0 / limit as f64,
            group_digits(spent),
            group_digits(limit),
            cost as f64 / 1e6,
            level,
            if views[idx].stopped { "stop".to_string() } else { action_text(&status.action) },
            views[idx].calls,
        ));
    }
    let log = shared.log.lock().expect("log lock");
    let tail: Vec<&String> = log.iter().rev().take(10).collect();
    screen.push('\n');
    for idx in 0..10 {
        match tail.get(9 - idx) {
            Some(line) => screen.push_str(&format!("  {line}\x1b[K\n")),
            None => screen.push_str("\x1b[K\n"),
        }
    }
    let height = PROFILES.len() + 11;
    let mut out = std::io::stdout().lock();
    // Move back to the top of the previous frame, then draw over it.
    let up = if shared
        .drawn
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        format!("\x1b[{height}A")
    } else {
        String::new()
    };
    write!(out, "{up}{screen}")?;
    if last {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn summary(client: &Client, shared: &Shared) -> anyhow::Result<()> {
    let statuses = agent_statuses(client)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut rows = vec![
        [
            "AGENT", "PROFILE", "CALLS", "TOKENS", "LIMIT", "USED", "COST", "LEVEL", "OUTCOME",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (idx, profile) in PROFILES.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let spent = tokens(&status.consumed);
        let limit = tokens(&status.limits);
        rows.push(vec![
            profile.name.to_string(),
            profile.role.to_string(),
            views[idx].calls.to_string(),
            group_digits(spent),
            group_digits(limit),
            format!("{:.1}%", spent as f64 * 100.0 / limit.max(1) as f64),
            format!(
                "${:.2}",
                status.consumed.get("cost_micros").copied().unwrap_or(0) as f64 / 1e6
            ),
            status.level.clone(),
            format!(
                "{}{}",
                views[idx].outcome,
                if views[idx].degraded {
                    " (degraded)"
                } else {
                    ""
                }
            ),
        ]);
    }
    println!(
        "Summary after {:.1} s\n\n{}",
        shared.started.elapsed().as_secs_f64(),
        table::render(&rows)
    );
    let tree: AccountsOut = expect(client, "GET", "/v1/accounts?prefix=acme&depth=2", None)?;
    println!(
        "The account tree, as `purser status acme` shows it:\n\n{}",
        table::accounts(&tree.accounts)
    );
    println!(
        "Every answer above was sent only after its events were durable in the SQLite journal."
    );
    Ok(())
}

pub(super) fn action_text(action: &ActionOut) -> String {
    match action.rate {
        Some(rate) => format!("throttle x{rate}"),
        None => action.kind.clone(),
    }
}
