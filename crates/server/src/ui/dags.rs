//! DAGs: the list with each DAG's state, task counts and cost so far; a DAG's page with its
//! tasks (state, machine, attempts, cost) and a timeline of attempts per machine, drawn from
//! the task moves the audit log keeps.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use purser_engine::audit::{AUDIT_PAGE_MAX, AuditQuery};
use purser_engine::jobs::DagListQuery;
use purser_engine::view::dag::DagSummaryView;

use super::html::{self, digits, escape};
use super::{Page, show};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{AppState, number, query_params};

/// DAGs per page.
const PAGE_ROWS: usize = 100;

fn cost(summary: &DagSummaryView) -> String {
    summary.cost.map_or("—".into(), |cost| {
        format!(
            "{} spent, {} held, {} projected",
            digits(cost.spent_micros),
            digits(cost.reserved_micros),
            digits(cost.projected_micros)
        )
    })
}

fn counts(summary: &DagSummaryView) -> String {
    summary
        .counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.to_lowercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    show(&state, &headers, "/ui/dags", async |caller| {
        list_page(&state, caller, raw.as_deref()).await
    })
    .await
}

async fn list_page(state: &AppState, caller: &Caller, raw: Option<&str>) -> Result<Page, ApiError> {
    let mut after = 0;
    for (key, value) in query_params(raw, &["after"])? {
        if key == "after" {
            after = number(&value, "after")?;
        }
    }
    let page = state
        .engine
        .dags(DagListQuery {
            scope: caller.scope(),
            tenant: None,
            state: None,
            after,
            limit: PAGE_ROWS,
        })
        .await?;
    let mut body = String::from(
        "<table><thead><tr><th scope=\"col\">DAG</th><th scope=\"col\">Tenant</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Tasks</th><th scope=\"col\">Cost (micro-units)</th>\
         </tr></thead><tbody id=\"dags\" data-live data-rows>\n",
    );
    for dag in &page.dags {
        let name = dag
            .name
            .as_deref()
            .map_or(String::new(), |name| format!(" {}", escape(name)));
        let _ = writeln!(
            body,
            "<tr data-key=\"{id}\"><th scope=\"row\"><a href=\"/ui/dags/{id}\">dag_{id}</a>{name}</th>\
             <td>{}</td><td><span class=\"state s-{state}\">{state}</span></td><td>{}</td><td>{}</td></tr>",
            escape(&dag.tenant),
            counts(dag),
            cost(dag),
            id = dag.id,
            state = dag.state,
        );
    }
    body.push_str("</tbody></table>\n");
    if page.dags.is_empty() {
        body.push_str("<p class=\"muted\">No DAGs.</p>\n");
    }
    if let Some(next) = page.next_after {
        let _ = write!(
            body,
            "<nav class=\"pager\" aria-label=\"Pages\"><a rel=\"next\" href=\"/ui/dags?after={next}\">Next →</a></nav>"
        );
    }
    Ok(Page {
        title: "DAGs".into(),
        nav: "dags",
        live: Some(caller.scope.to_string()),
        body,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let uri = format!("/ui/dags/{id}");
    show(&state, &headers, &uri, async |caller| {
        dag_page(&state, caller, &id).await
    })
    .await
}

async fn dag_page(state: &AppState, caller: &Caller, id: &str) -> Result<Page, ApiError> {
    let id = number(id.strip_prefix("dag_").unwrap_or(id), "id")?;
    let view = state.engine.dag(id, caller.scope()).await?;
    let summary = &view.summary;
    let tenant = purser_core::AccountPath::parse(&summary.tenant).ok();
    let entries = state
        .engine
        .audit(AuditQuery {
            prefix: tenant,
            since_seq: 0,
            limit: AUDIT_PAGE_MAX,
            streamed_only: false,
            newest_first: true,
        })
        .await?;
    let name = format!("dag_{id}");
    // The tenant's newest entries, read back in the order they happened.
    let moves: Vec<Move> = entries
        .iter()
        .rev()
        .filter(|entry| entry.kind == "task" && entry.data["dag"] == name.as_str())
        .filter_map(|entry| Move::of(&entry.data))
        .collect();

    let paused = summary.paused.as_ref().map_or(String::new(), |why| {
        format!(
            " Paused: its next task needs {} {} on {}, which has {} left.",
            digits(why.needed),
            escape(&why.dimension),
            escape(&why.account),
            digits(why.available)
        )
    });
    let mut body = format!(
        "<section id=\"summary\" data-live><p><span class=\"state s-{state}\">{state}</span> \
         Tenant {tenant}, priority {priority}, {n} tasks: {counts}.{paused}</p>\
         <p>Cost so far (micro-units): {cost}{account}.</p></section>\n",
        state = summary.state,
        tenant = escape(&summary.tenant),
        priority = summary.priority,
        n = summary.n_tasks,
        counts = counts(summary),
        cost = cost(summary),
        account = summary
            .account
            .as_deref()
            .map_or(String::new(), |account| format!(
                ", charged to {}",
                html::account_link(account)
            )),
    );
    body.push_str("<h2>Timeline of attempts per machine</h2>\n<figure id=\"timeline\" data-live>");
    body.push_str(&timeline(&moves, &view.tasks));
    body.push_str("</figure>\n<h2>Tasks</h2>\n");
    body.push_str(
        "<table><thead><tr><th scope=\"col\">Task</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Machine</th><th scope=\"col\" class=\"num\">Attempts</th>\
         <th scope=\"col\">Depends on</th><th scope=\"col\" class=\"num\">Cost</th><th scope=\"col\">Error</th>\
         </tr></thead><tbody id=\"tasks\" data-live data-rows>\n",
    );
    for task in &view.tasks {
        let state = task.state.name();
        let _ = writeln!(
            body,
            "<tr data-key=\"{}\"><th scope=\"row\">{}</th><td><span class=\"state s-{}\">{state}</span></td>\
             <td>{}</td><td class=\"num\">{} / {}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            task.task,
            escape(&task.name),
            state.to_lowercase(),
            escape(task.machine.as_deref().unwrap_or("—")),
            task.attempts,
            task.max_attempts,
            escape(&task.depends_on.join(", ")),
            task.cost_micros.map_or("—".into(), digits),
            escape(task.error.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</tbody></table>\n");
    Ok(Page {
        title: format!(
            "dag_{id}{}",
            summary
                .name
                .as_deref()
                .map_or(String::new(), |name| format!(" {name}"))
        ),
        nav: "dags",
        live: Some(summary.tenant.clone()),
        body,
    })
}

/// A task's move as the audit log has it.
struct Move {
    task: String,
    from: String,
    to: String,
    machine: Option<String>,
    at_ms: i64,
}

impl Move {
    fn of(data: &serde_json::Value) -> Option<Move> {
        let at: jiff::Timestamp = data["at"].as_str()?.parse().ok()?;
        Some(Move {
            task: data["name"].as_str()?.to_string(),
            from: data["from"].as_str()?.to_string(),
            to: data["to"].as_str()?.to_string(),
            machine: data["machine"].as_str().map(str::to_string),
            at_ms: at.as_millisecond(),
        })
    }
}

/// One attempt on a machine: from RUNNING in to out of it (or still running).
struct Attempt {
    task: String,
    start_ms: i64,
    end_ms: Option<i64>,
    /// The state it left RUNNING for.
    outcome: String,
}

const WIDTH: f64 = 900.0;
const LABEL: f64 = 130.0;
const ROW: f64 = 26.0;

/// Attempts per machine on a shared time axis, as inline SVG.
fn timeline(moves: &[Move], tasks: &[purser_engine::view::dag::TaskView]) -> String {
    let mut by_machine: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    let mut open: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for moved in moves {
        if moved.to == "RUNNING" {
            let machine = moved.machine.clone().unwrap_or_else(|| "?".into());
            open.insert(moved.task.clone(), (machine, moved.at_ms));
        } else if moved.from == "RUNNING"
            && let Some((machine, start_ms)) = open.remove(&moved.task)
        {
            by_machine.entry(machine).or_default().push(Attempt {
                task: moved.task.clone(),
                start_ms,
                end_ms: Some(moved.at_ms),
                outcome: moved.to.to_lowercase(),
            });
        }
    }
    let Some(first_ms) = moves.iter().map(|moved| moved.at_ms).min() else {
        return "<p class=\"muted\">No attempt yet (or its moves are older than the audit log keeps).</p>".into();
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for (task, (machine, start_ms)) in open {
        by_machine.entry(machine).or_default().push(Attempt {
            task,
            start_ms,
            end_ms: None,
            outcome: "running".into(),
        });
    }
    if by_machine.is_empty() {
        return "<p class=\"muted\">No attempt has started yet.</p>".into();
    }
    let last_ms = by_machine
        .values()
        .flatten()
        .map(|attempt| attempt.end_ms.unwrap_or(now_ms))
        .max()
        .unwrap_or(first_ms)
        .max(first_ms + 1);
    let span = (last_ms - first_ms) as f64;
    let x = |at_ms: i64| LABEL + (at_ms - first_ms) as f64 / span * (WIDTH - LABEL - 10.0);
    // Attempts that overlap on one machine take lanes of their own, so none hides another.
    let mut rows: Vec<(Option<&str>, Vec<&Attempt>)> = Vec::new();
    for (machine, attempts) in by_machine.iter_mut() {
        attempts.sort_by_key(|attempt| attempt.start_ms);
        let mut lanes: Vec<(i64, Vec<&Attempt>)> = Vec::new();
        for attempt in attempts.iter() {
            let end_ms = attempt.end_ms.unwrap_or(now_ms);
            match lanes
                .iter_mut()
                .find(|(free_ms, _)| *free_ms <= attempt.start_ms)
            {
                Some((free_ms, lane)) => {
                    *free_ms = end_ms;
                    lane.push(attempt);
                }
                None => lanes.push((end_ms, vec![attempt])),
            }
        }
        for (idx, (_, lane)) in lanes.into_iter().enumerate() {
            rows.push(((idx == 0).then_some(machine.as_str()), lane));
        }
    }
    let height = ROW * rows.len() as f64 + 24.0;
    let mut svg = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-label=\"Attempts per machine over time\"><title>Attempts per machine over \
         {} ({} tasks)</title>",
        html::duration((last_ms - first_ms) as u64),
        tasks.len()
    );
    for (row, (machine, attempts)) in rows.iter().enumerate() {
        let y = row as f64 * ROW;
        if let Some(machine) = machine {
            let _ = write!(
                svg,
                "<text x=\"4\" y=\"{:.1}\" class=\"machine\">{}</text>",
                y + ROW * 0.65,
                escape(machine)
            );
        }
        for attempt in attempts {
            let start = x(attempt.start_ms);
            let end = x(attempt.end_ms.unwrap_or(now_ms)).max(start + 2.0);
            let _ = write!(
                svg,
                "<rect class=\"attempt o-{}\" x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                 <title>{}: {} ({})</title></rect>",
                escape(&attempt.outcome),
                y + 4.0,
                end - start,
                ROW - 8.0,
                escape(&attempt.task),
                escape(&attempt.outcome),
                html::duration((attempt.end_ms.unwrap_or(now_ms) - attempt.start_ms).max(0) as u64),
            );
        }
    }
    let axis_y = ROW * rows.len() as f64 + 16.0;
    let _ = write!(
        svg,
        "<text x=\"{LABEL}\" y=\"{axis_y}\" class=\"axis\">0</text>\
         <text x=\"{:.1}\" y=\"{axis_y}\" class=\"axis\" text-anchor=\"end\">{}</text></svg>",
        WIDTH - 10.0,
        html::duration((last_ms - first_ms) as u64)
    );
    svg.push_str(
        "<figcaption class=\"legend\"><span class=\"k o-completed\">completed</span>\
         <span class=\"k o-running\">running</span><span class=\"k o-failed\">failed</span>\
         <span class=\"k o-preempted\">preempted or interrupted</span></figcaption>",
    );
    svg
}
