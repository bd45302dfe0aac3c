//! Who ran an operator's command, and what it changed: a note journaled just before the
//! command's events (`Record::Note`), so that their audit entries, then and after a restart,
//! name the token and the settings that moved.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use purser_core::Ledger;
use serde_json::{Value, json};

use super::AuditEntry;
use crate::record::{Change, Note};
use crate::time::rfc3339;

/// An account's settings as flat `field -> value` pairs, for diffing.
pub type Settings = BTreeMap<String, String>;

/// The settings an operator controls of `account`, or those of a new account (the defaults,
/// no limits) when it does not exist.
pub fn settings(ledger: &Ledger, account: Option<purser_core::AccountId>) -> Settings {
    let ppm = |value: u32| (f64::from(value) / 1e6).to_string();
    let (config, limits) = match account {
        Some(id) => {
            let acc = ledger.account(id);
            let limits: Vec<(String, u64)> = acc
                .slots
                .iter()
                .filter_map(|slot| {
                    slot.limit
                        .map(|limit| (ledger.dimensions().name(slot.dim).to_string(), limit))
                })
                .collect();
            (acc.config.clone(), limits)
        }
        None => (ledger.defaults().clone(), Vec::new()),
    };
    let mut out = Settings::new();
    for (name, limit) in limits {
        out.insert(format!("limits.{name}"), limit.to_string());
    }
    out.insert("weight".into(), config.weight.to_string());
    out.insert("priority".into(), config.priority.to_string());
    if let Some(kind) = &config.kind {
        out.insert("kind".into(), kind.to_string());
    }
    for (key, value) in &config.labels {
        out.insert(format!("labels.{key}"), value.clone());
    }
    let thresholds = &config.thresholds;
    out.insert("thresholds.warn".into(), ppm(thresholds.warn_ppm));
    out.insert("thresholds.throttle".into(), ppm(thresholds.throttle_ppm));
    out.insert("thresholds.degrade".into(), ppm(thresholds.degrade_ppm));
    out.insert("thresholds.stop".into(), ppm(thresholds.stop_ppm));
    out.insert("throttle_rate".into(), ppm(config.throttle_rate_ppm));
    out.insert("reserve".into(), ppm(config.reserve_ppm));
    if let Some(period) = &config.period {
        out.insert("period.every".into(), period.every.name().to_string());
        out.insert("period.timezone".into(), period.timezone.to_string());
        out.insert("period.rollover_max".into(), ppm(period.rollover_max_ppm));
    }
    if let Some(deadline_ms) = config.deadline_ms {
        out.insert("deadline".into(), rfc3339(deadline_ms));
    }
    if let Some(rules) = account.and_then(|id| ledger.rules(id)) {
        rules_settings(ledger, rules, &mut out);
    }
    out
}

fn rules_settings(ledger: &Ledger, rules: &purser_core::rules::Rules, out: &mut Settings) {
    if !rules.warn_only.is_empty() {
        let levels: Vec<&str> = rules
            .warn_only
            .levels()
            .map(|level| level.as_str())
            .collect();
        out.insert("rules.warn_only".into(), levels.join(","));
    }
    for (dim, value) in rules
        .child_defaults
        .iter()
        .flat_map(|defaults| defaults.iter())
    {
        let name = ledger.dimensions().name(dim);
        out.insert(format!("rules.child_defaults.{name}"), value.to_string());
    }
    if let Some(expires_ms) = rules.expires_ms {
        out.insert("rules.expires_at".into(), rfc3339(expires_ms));
    }
    if rules.pause_at_stop {
        out.insert("rules.at_stop".into(), "pause".into());
    }
    let Some(run) = rules.run else { return };
    if let Some(turns) = run.max_turns {
        out.insert("rules.run.max_turns".into(), turns.to_string());
    }
    if let Some(wall_ms) = run.max_wall_ms {
        out.insert(
            "rules.run.max_wall_s".into(),
            (wall_ms as f64 / 1e3).to_string(),
        );
    }
    if let Some(rule) = run.loops {
        out.insert(
            "rules.run.loop".into(),
            format!(
                "{} in {} s{}",
                rule.repeats,
                rule.window_ms as f64 / 1e3,
                if rule.stop { ", stop" } else { "" }
            ),
        );
    }
}

/// What moved between two views of one account's settings.
pub fn diff(account: &str, before: &Settings, after: &Settings) -> Vec<Change> {
    let fields: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| Change {
            account: account.to_string(),
            field: field.clone(),
            from: before.get(field).cloned(),
            to: after.get(field).cloned(),
        })
        .collect()
}

/// An entry of an operator's command, with the token's name; a limit change also lists the
/// settings that moved on its account.
pub(super) fn attribute(mut entry: AuditEntry, note: &Note) -> AuditEntry {
    if entry.actor != "api" {
        return entry;
    }
    entry.actor = Cow::Owned(note.actor.to_string());
    if entry.kind != "limit_change" {
        return entry;
    }
    let changes: Vec<&Change> = note
        .changes
        .iter()
        .filter(|change| entry.account.as_deref() == Some(change.account.as_str()))
        .collect();
    if let Value::Object(data) = &mut entry.data {
        let listed = changes
            .iter()
            .map(|change| json!({"field": change.field, "from": change.from, "to": change.to}))
            .collect();
        data.insert("changes".into(), listed);
    }
    let described: Vec<String> = changes
        .iter()
        .map(|change| {
            format!(
                "{} {} -> {}",
                change.field,
                change.from.as_deref().unwrap_or("unset"),
                change.to.as_deref().unwrap_or("unset")
            )
        })
        .collect();
    entry.reason = if described.is_empty() {
        format!("{} by {}", entry.reason, note.actor)
    } else {
        format!(
            "{} by {}: {}",
            entry.reason,
            note.actor,
            described.join(", ")
        )
    };
    entry
}
