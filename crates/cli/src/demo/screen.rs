//! What the demo shows: a live frame per agent on a terminal, lines otherwise, and the
//! closing summary.

use purser_core::amount::group_digits;
use std::io::Write;

use purser_server::wire::ActionOut;
use purser_server::wire::accounts::{AccountOut, AccountsOut};

use super::manager::Follower;
use super::{Shared, WORKFLOW, dag, expect, tokens};
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

/// The server's status of each agent, in the order of `shared.agents`.
fn agent_statuses(client: &Client, shared: &Shared) -> anyhow::Result<Vec<Option<AccountOut>>> {
    let listing: AccountsOut = expect(
        client,
        "GET",
        &format!("/v1/accounts?prefix={WORKFLOW}&depth=1"),
        None,
    )?;
    Ok(shared
        .agents
        .iter()
        .map(|(name, _)| {
            let path = format!("{WORKFLOW}/{name}");
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
    let statuses = agent_statuses(client, shared)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut screen = String::new();
    for (idx, (name, role)) in shared.agents.iter().enumerate() {
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
            name,
            role,
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
    let height = shared.agents.len() + 11;
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

pub(super) fn summary(
    client: &Client,
    shared: &Shared,
    follower: &Follower,
    dag_id: &str,
) -> anyhow::Result<()> {
    let statuses = agent_statuses(client, shared)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut rows = vec![
        [
            "AGENT", "PROFILE", "CALLS", "TOKENS", "LIMIT", "USED", "COST", "LEVEL", "ALERTED",
            "OUTCOME",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (idx, (name, role)) in shared.agents.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let spent = tokens(&status.consumed);
        let limit = tokens(&status.limits);
        rows.push(vec![
            name.to_string(),
            role.to_string(),
            if views[idx].calls > 0 {
                views[idx].calls.to_string()
            } else {
                "-".into()
            },
            group_digits(spent),
            group_digits(limit),
            format!("{:.1}%", spent as f64 * 100.0 / limit.max(1) as f64),
            format!("${:.2}", cost(status) as f64 / 1e6),
            status.level.clone(),
            follower
                .alerted
                .get(*name)
                .map_or("-".into(), |at| format!("{at:.1}s")),
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
    let (dag, dag_rows) = dag::rows(client, dag_id)?;
    println!(
        "The DAG {} ({}), its machine time charged to {WORKFLOW}:\n\n{}",
        dag.name.as_deref().unwrap_or(dag_id),
        dag.state,
        table::render(&dag_rows)
    );
    let workflow: AccountOut = expect(client, "GET", &format!("/v1/accounts/{WORKFLOW}"), None)?;
    let report: serde_json::Value = expect(
        client,
        "GET",
        &format!("/v1/accounts/{WORKFLOW}:report?format=json"),
        None,
    )?;
    let jain = report["fairness"]
        .as_array()
        .and_then(|dims| dims.iter().find(|dim| dim["dimension"] == "tokens"))
        .and_then(|dim| dim["jain_index"].as_f64());
    println!(
        "Utilization of the workflow's budget: {:.1}% of its {} tokens used (the demo aims at 85 % \
         or more), ${:.2} of ${:.2} (LLM calls and machine time)",
        tokens(&workflow.consumed) as f64 * 100.0 / tokens(&workflow.limits).max(1) as f64,
        group_digits(tokens(&workflow.limits)),
        cost(&workflow) as f64 / 1e6,
        workflow.limits.get("cost_micros").copied().unwrap_or(0) as f64 / 1e6,
    );
    match jain {
        Some(jain) => println!(
            "Fairness over the agents (Jain's index of their token utilizations, 1 is even): {jain:.3}"
        ),
        None => println!("Fairness over the agents: the report has no figure for tokens"),
    }
    println!(
        "The optimizer moved budget {} times ({} reclaims, {} grants):",
        follower.reclaims + follower.grants,
        follower.reclaims,
        follower.grants
    );
    for line in follower.moves_summary() {
        println!("{line}");
    }
    let tree: AccountsOut = expect(client, "GET", "/v1/accounts?prefix=acme&depth=2", None)?;
    println!(
        "\nThe account tree, as `purser status acme` shows it:\n\n{}",
        table::accounts(&tree.accounts)
    );
    println!(
        "Every answer above was sent only after its events were durable in the SQLite journal."
    );
    Ok(())
}

fn cost(status: &AccountOut) -> u64 {
    status.consumed.get("cost_micros").copied().unwrap_or(0)
}

pub(super) fn action_text(action: &ActionOut) -> String {
    match action.rate {
        Some(rate) => format!("throttle x{rate}"),
        None => action.kind.clone(),
    }
}
