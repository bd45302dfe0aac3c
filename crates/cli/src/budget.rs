//! `purser budget`: the budget rules' actions on a running server. A manual reset of an
//! account's window, a new run of an agent with run caps, and requests for more budget: asked,
//! listed, approved or rejected.

use std::process::ExitCode;

use clap::Subcommand;
use purser_server::wire::accounts::AccountOut;
use purser_server::wire::rules::{RequestOut, RequestsOut};
use serde_json::json;

use crate::Remote;
use crate::accounts::{amounts, show};
use crate::table;

#[derive(Subcommand)]
pub enum Budget {
    /// Restart an account's budget window now: what it spent so far no longer counts against
    /// its limits (it stays in its history). Audited.
    Reset { path: String },
    /// Start a new run of an account with run caps: its turns and wall time count from zero
    /// and a run cap's stop is lifted.
    Run { path: String },
    /// Ask for more budget for an account; an operator approves or rejects it.
    Request {
        path: String,
        /// How much more, as DIM=N (dimensions the account limits).
        #[arg(value_name = "DIM=N", required = true)]
        amount: Vec<String>,
        /// Why, for whoever decides.
        #[arg(long)]
        reason: String,
    },
    /// List increase requests (pending ones unless --all).
    Requests {
        #[arg(long)]
        all: bool,
    },
    /// Approve a request: the account's limit grows by it, out of its parent's pool.
    Approve {
        /// `req_N`.
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a request.
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn run(remote: &Remote, command: Budget) -> anyhow::Result<ExitCode> {
    let account = |answer: &AccountOut| table::accounts(std::slice::from_ref(answer));
    match command {
        Budget::Reset { path } => show(
            remote,
            "POST",
            &format!("/v1/accounts/{path}:reset"),
            Some(json!({})),
            account,
        ),
        Budget::Run { path } => show(
            remote,
            "POST",
            &format!("/v1/accounts/{path}:run"),
            Some(json!({})),
            account,
        ),
        Budget::Request {
            path,
            amount,
            reason,
        } => show(
            remote,
            "POST",
            &format!("/v1/accounts/{path}:request"),
            Some(json!({"amount": amounts(&amount)?, "reason": reason})),
            |answer: &RequestOut| requests(std::slice::from_ref(answer)),
        ),
        Budget::Requests { all } => {
            let state = if all { "all" } else { "pending" };
            show(
                remote,
                "GET",
                &format!("/v1/requests?state={state}"),
                None,
                |answer: &RequestsOut| requests(&answer.requests),
            )
        }
        Budget::Approve { id, note } => decide(remote, &id, "approve", note),
        Budget::Reject { id, note } => decide(remote, &id, "reject", note),
    }
}

fn decide(remote: &Remote, id: &str, verb: &str, note: Option<String>) -> anyhow::Result<ExitCode> {
    let body = match note {
        Some(note) => json!({"note": note}),
        None => json!({}),
    };
    show(
        remote,
        "POST",
        &format!("/v1/requests/{id}:{verb}"),
        Some(body),
        |answer: &RequestOut| requests(std::slice::from_ref(answer)),
    )
}

/// Requests as a table.
fn requests(requests: &[RequestOut]) -> String {
    let mut rows = vec![
        [
            "REQUEST", "ACCOUNT", "AMOUNT", "STATE", "ASKED", "REASON", "NOTE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for request in requests {
        rows.push(vec![
            request.id.clone(),
            request.account.clone(),
            table::amounts(&request.amount),
            request.state.clone(),
            request.requested_at.clone(),
            request.reason.clone(),
            request.note.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if requests.is_empty() {
        return "no increase requests\n".into();
    }
    table::render(&rows)
}
