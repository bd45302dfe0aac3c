//! The simulated agents of the demo: reserve, call, settle, and how they take the ladder's
//! answers; and the operator's seat that watches them and the manager.

use purser_core::amount::group_digits;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use purser_server::wire::FiredOut;
use purser_server::wire::accounts::AccountOut;
use purser_server::wire::usage::{ReservationOut, UsageOut};

use super::manager::Follower;
use super::screen::{action_text, draw};
use super::{
    LARGE_MODEL_MICROS_PER_TOKEN, PROFILES, Rng, SMALL_MODEL_MICROS_PER_TOKEN, Shared, WORKFLOW,
    expect, tokens,
};
use crate::client::Client;

/// Why the ladder answered as it did, in a few words.
fn reason(fired: Option<&FiredOut>) -> String {
    match fired {
        Some(fired) => format!(
            "{} {} at {:.1}%",
            fired.account,
            fired.dimension,
            fired.fraction * 100.0
        ),
        None => "within budget".into(),
    }
}

/// One agent: reserve an estimate, make the call, settle the actual use, obey the action.
pub(super) fn agent(
    idx: usize,
    client: &Client,
    shared: &Shared,
    seed: u64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let profile = &PROFILES[idx];
    let account = format!("{WORKFLOW}/{}", profile.name);
    let mut rng = Rng(seed);
    let mut slow = 1.0f64;
    let mut degraded = false;
    let mut last_action = "continue".to_string();
    let mut calls = 0;
    while calls < profile.calls && Instant::now() < deadline {
        let mean_tokens = if degraded {
            profile.tokens_per_call / 2
        } else {
            profile.tokens_per_call
        };
        let price = if degraded {
            SMALL_MODEL_MICROS_PER_TOKEN
        } else {
            LARGE_MODEL_MICROS_PER_TOKEN
        };
        let estimate = mean_tokens * 6 / 5;
        let hold = json!({"account": account, "amount": {"tokens": estimate, "cost_micros": estimate * price}, "ttl_ms": 30_000});
        let held = client.call_as::<ReservationOut>("POST", "/v1/reservations", Some(&hold))?;
        let reservation = match held {
            Ok((reservation, _)) => reservation,
            Err(denied) if denied.detail.code == "budget_exhausted" => {
                let error = &denied.detail;
                shared.say(format!(
                    "{:<7} STOP: a hold of {} {} denied: {} would reach its stop threshold ({} available)",
                    profile.name,
                    group_digits(error.requested.unwrap_or(0)),
                    error.dimension.as_deref().unwrap_or(""),
                    error.account.as_deref().unwrap_or(""),
                    group_digits(error.available.unwrap_or(0)),
                ));
                if !wait_for_budget(client, shared, idx, &account, deadline)? {
                    return Ok(());
                }
                continue;
            }
            Err(other) => bail!("{} reserve: {other}", profile.name),
        };
        std::thread::sleep(Duration::from_millis(
            (rng.around(profile.pause_ms) as f64 * slow) as u64,
        ));
        let used = rng.around(mean_tokens);
        let settled: UsageOut = expect(
            client,
            "POST",
            &format!("/v1/reservations/{}:settle", reservation.id),
            Some(
                &json!({"usage": {"tokens": used, "cost_micros": used * price}, "operation": "llm_call", "work_units": 1}),
            ),
        )?;
        calls += 1;
        let action = action_text(&settled.action);
        if action != last_action {
            shared.say(format!(
                "{:<7} {} -> {}: {} ({})",
                profile.name,
                last_action,
                settled.level,
                action,
                reason(settled.fired.as_ref())
            ));
            last_action = action.clone();
        }
        match settled.action.kind.as_str() {
            "throttle" => slow = 1.0 / settled.action.rate.unwrap_or(1.0).max(0.05),
            "degrade" => {
                if !degraded {
                    shared.say(format!(
                        "{:<7} degrades to the small model: half the tokens, a fifth of the price",
                        profile.name
                    ));
                }
                degraded = true;
                slow = 2.0;
            }
            "stop" => {
                if !wait_for_budget(client, shared, idx, &account, deadline)? {
                    return Ok(());
                }
            }
            _ => slow = 1.0,
        }
        let mut views = shared.views.lock().expect("views lock");
        views[idx].calls = calls;
        views[idx].action = action;
        views[idx].degraded = degraded;
    }
    let mut views = shared.views.lock().expect("views lock");
    views[idx].done = true;
    views[idx].outcome = if calls >= profile.calls {
        format!("finished its {calls} calls")
    } else {
        "out of time".into()
    };
    Ok(())
}

/// A stopped agent waits until its budget is raised; false if it never is.
fn wait_for_budget(
    client: &Client,
    shared: &Shared,
    idx: usize,
    account: &str,
    deadline: Instant,
) -> anyhow::Result<bool> {
    {
        let mut views = shared.views.lock().expect("views lock");
        views[idx].stopped = true;
        views[idx].action = "stop".into();
    }
    let status_path = format!("/v1/accounts/{account}");
    let limit_at_stop = tokens(&expect::<AccountOut>(client, "GET", &status_path, None)?.limits);
    while Instant::now() < deadline {
        let status: AccountOut = expect(client, "GET", &status_path, None)?;
        if tokens(&status.limits) > limit_at_stop {
            shared.say(format!(
                "{:<7} resumes: its budget was raised, level {} ({})",
                PROFILES[idx].name,
                status.level,
                action_text(&status.action)
            ));
            let mut views = shared.views.lock().expect("views lock");
            views[idx].stopped = false;
            return Ok(true);
        }
        let all_idle = shared
            .views
            .lock()
            .expect("views lock")
            .iter()
            .all(|view| view.stopped || view.done);
        if all_idle && shared.started.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut views = shared.views.lock().expect("views lock");
    views[idx].done = true;
    views[idx].outcome = "stopped: budget exhausted".into();
    Ok(false)
}

/// The operator's seat: draws the view and follows the audit log (the manager's alerts and
/// moves) until every agent and the DAG are done; answers what the log showed.
pub(super) fn operate(
    client: &Client,
    shared: &Shared,
    deadline: Instant,
) -> anyhow::Result<Follower> {
    let mut follower = Follower::default();
    loop {
        follower.poll(client, shared)?;
        draw(client, shared, false)?;
        let all_done = shared
            .views
            .lock()
            .expect("views lock")
            .iter()
            .all(|view| view.done);
        if (all_done && shared.dag_done.load(Ordering::Relaxed)) || Instant::now() >= deadline {
            follower.poll(client, shared)?;
            return Ok(follower);
        }
        std::thread::sleep(Duration::from_millis(120));
    }
}
