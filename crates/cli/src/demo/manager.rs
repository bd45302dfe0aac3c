//! The manager as the demo shows it: the audit log followed as it grows, each forecast alert
//! and each move of the optimizer printed with its reason as the log words it, and what was
//! seen kept for the closing summary (which agent was warned before it stopped, what moved).

use std::collections::BTreeMap;

use purser_core::amount::group_digits;
use serde::Deserialize;

use super::{Shared, WORKFLOW, expect};
use crate::client::Client;

/// One entry of `GET /v1/audit`, the fields the demo reads.
#[derive(Debug, Deserialize)]
struct Entry {
    seq: u64,
    #[serde(rename = "type")]
    kind: String,
    account: Option<String>,
    reason: String,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Page {
    events: Vec<Entry>,
}

/// What the optimizer moved, in one dimension of one agent.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Moved {
    pub reclaimed: u64,
    pub granted: u64,
}

/// What the audit log has shown so far.
#[derive(Debug, Default)]
pub(super) struct Follower {
    since_seq: u64,
    /// Agents (by name) a forecast alert was raised for, with the demo second it came at.
    pub alerted: BTreeMap<String, f64>,
    /// Per agent name and dimension, what the optimizer moved.
    pub moved: BTreeMap<(String, String), Moved>,
    pub reclaims: u32,
    pub grants: u32,
}

impl Follower {
    /// Reads the audit entries since the last call and says the alerts and moves among them.
    pub fn poll(&mut self, client: &Client, shared: &Shared) -> anyhow::Result<()> {
        loop {
            let page: Page = expect(
                client,
                "GET",
                &format!(
                    "/v1/audit?prefix={WORKFLOW}&since_seq={}&limit=500",
                    self.since_seq
                ),
                None,
            )?;
            let full = page.events.len() == 500;
            for entry in page.events {
                self.since_seq = self.since_seq.max(entry.seq);
                self.show(entry, shared);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn show(&mut self, entry: Entry, shared: &Shared) {
        let account = entry.account.unwrap_or_default();
        let name = account.rsplit('/').next().unwrap_or_default().to_string();
        match entry.kind.as_str() {
            "alert" if entry.data["raised"] == true => {
                self.alerted
                    .entry(name.clone())
                    .or_insert_with(|| shared.started.elapsed().as_secs_f64());
                shared.say(format!("{name:<7} ALERT  {}", entry.reason));
            }
            "reallocation" => {
                let kind = entry.data["kind"].as_str().unwrap_or_default().to_string();
                let dimension = entry.data["dimension"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let delta = entry.data["delta"].as_u64().unwrap_or(0);
                let moved = self.moved.entry((name.clone(), dimension)).or_default();
                let label = if kind == "reclaim" {
                    moved.reclaimed += delta;
                    self.reclaims += 1;
                    "RECLAIM"
                } else {
                    moved.granted += delta;
                    self.grants += 1;
                    "GRANT  "
                };
                shared.say(format!("{name:<7} {label} {}", entry.reason));
            }
            _ => {}
        }
    }

    /// One line per agent and dimension the optimizer touched, for the summary.
    pub fn moves_summary(&self) -> Vec<String> {
        self.moved
            .iter()
            .map(|((name, dimension), moved)| {
                let mut parts = Vec::new();
                if moved.reclaimed > 0 {
                    parts.push(format!("{} reclaimed", group_digits(moved.reclaimed)));
                }
                if moved.granted > 0 {
                    parts.push(format!("{} granted", group_digits(moved.granted)));
                }
                format!("  {name:<7} {dimension}: {}", parts.join(", "))
            })
            .collect()
    }
}
