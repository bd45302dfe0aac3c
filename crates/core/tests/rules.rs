//! Budget rules as ledger commands: shadow mode, child defaults, pause at stop, run caps and
//! loops, one-time budgets, manual resets, period changes and increase requests. Each does
//! what it says, refuses what it must with nothing written, and replays to the same state.

mod common;

use common::{Fixture, named, path};
use purser_core::account::{PeriodSpec, PeriodUnit};
use purser_core::ledger::RulesSpec;
use purser_core::rules::{Cap, LoopRule, RunCaps, WarnOnly};
use purser_core::*;

fn set_rules(fx: &mut Fixture, text: &str, rules: RulesSpec) -> Result<Answer, LedgerError> {
    fx.apply(Command::UpsertAccount {
        path: path(text),
        spec: AccountSpec {
            rules: Some(Box::new(rules)),
            ..AccountSpec::default()
        },
    })
}

fn hold(fx: &mut Fixture, text: &str, tokens: u64) -> Answer {
    fx.reserve(text, &[("tokens", tokens)], None)
}

fn report(fx: &mut Fixture, text: &str, operation: &str, tokens: u64) -> UsageAnswer {
    let report = UsageReport {
        account_id: None,
        account: path(text),
        usage: named(&[("tokens", tokens)]).into(),
        operation: Some(operation.to_string()),
        work_units: 1,
        idempotency_key: None,
    };
    match fx.apply(Command::Usage(report)).unwrap() {
        Answer::Usage(answer) => answer,
        other => panic!("usage answered {other:?}"),
    }
}

#[test]
fn shadow_mode_keeps_levels_but_only_warns_and_denies_nothing() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.put("acme/agent", &[("tokens", 100)]).unwrap();
    let shadow = RulesSpec {
        warn_only: WarnOnly::ACCOUNT,
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme/agent", shadow).unwrap();
    let answer = fx.usage("acme/agent", &[("tokens", 97)], None).unwrap();
    assert_eq!(
        answer.verdict.level,
        Level::Black,
        "the level moves as usual"
    );
    assert_eq!(
        answer.verdict.action,
        Action::WarnOnly {
            would: Level::Black
        }
    );
    assert!(
        matches!(hold(&mut fx, "acme/agent", 50), Answer::Reserved(_)),
        "a hold past the stop threshold is not denied in shadow mode"
    );
    // The parent enforces: its stop still denies.
    fx.usage("acme/agent", &[("tokens", 900)], None).unwrap();
    assert!(
        matches!(hold(&mut fx, "acme/agent", 10), Answer::Denied(d) if d.account == fx.ledger.lookup("acme").unwrap())
    );

    // Only the stop threshold in shadow: degrade is enforced.
    fx.put("beta", &[("tokens", 100)]).unwrap();
    let stop_only = RulesSpec {
        warn_only: WarnOnly::default().with(Level::Black),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "beta", stop_only).unwrap();
    let answer = fx.usage("beta", &[("tokens", 91)], None).unwrap();
    assert_eq!(answer.verdict.action, Action::Degrade);
    let answer = fx.usage("beta", &[("tokens", 5)], None).unwrap();
    assert_eq!(
        answer.verdict.action,
        Action::WarnOnly {
            would: Level::Black
        }
    );
    fx.check_replay();
}

#[test]
fn new_children_get_their_parents_defaults_in_the_dimensions_they_do_not_name() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000), ("cost_micros", 5_000)])
        .unwrap();
    let defaults = RulesSpec {
        child_defaults: Some(named(&[("tokens", 100), ("cost_micros", 50)])),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme", defaults).unwrap();
    fx.put("acme/auto", &[]).unwrap();
    assert_eq!(fx.figure("acme/auto", "tokens").0, Some(100));
    assert_eq!(fx.figure("acme/auto", "cost_micros").0, Some(50));
    fx.put("acme/named", &[("tokens", 300)]).unwrap();
    assert_eq!(fx.figure("acme/named", "tokens").0, Some(300));
    assert_eq!(fx.figure("acme/named", "cost_micros").0, Some(50));
    // Defaults come out of the pool like any limit: when it is short, the child is refused.
    for idx in 0..5 {
        fx.put(&format!("acme/more{idx}"), &[]).unwrap();
    }
    let err = fx.put("acme/one-too-many", &[]).unwrap_err();
    assert_eq!(err.code(), "insufficient_pool");
    // An existing child is not touched when it is updated.
    fx.put("acme/named", &[("tokens", 200)]).unwrap();
    assert_eq!(fx.figure("acme/named", "cost_micros").0, Some(50));
    fx.check_replay();
}

#[test]
fn an_account_that_pauses_at_stop_says_pause_and_resumes_when_raised() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.put("acme/agent", &[("tokens", 100)]).unwrap();
    let pause = RulesSpec {
        pause_at_stop: true,
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme/agent", pause).unwrap();
    let answer = fx.usage("acme/agent", &[("tokens", 96)], None).unwrap();
    assert_eq!(answer.verdict.action, Action::Pause);
    assert!(matches!(hold(&mut fx, "acme/agent", 1), Answer::Denied(_)));
    fx.put("acme/agent", &[("tokens", 400)]).unwrap();
    let answer = fx.usage("acme/agent", &[("tokens", 1)], None).unwrap();
    assert_eq!(
        answer.verdict.action,
        Action::Continue,
        "resumed once raised"
    );
    fx.check_replay();
}

#[test]
fn run_caps_stop_a_run_at_its_turns_and_a_new_run_lifts_them() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000_000)]).unwrap();
    let caps = RulesSpec {
        run: Some(RunCaps {
            max_turns: Some(3),
            ..RunCaps::default()
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme", caps).unwrap();
    assert_eq!(
        report(&mut fx, "acme", "a", 10).verdict.action,
        Action::Continue
    );
    report(&mut fx, "acme", "b", 10);
    let third = report(&mut fx, "acme", "c", 10);
    assert_eq!(third.verdict.level, Level::Black);
    assert_eq!(third.verdict.action, Action::Stop);
    let halted = fx.ledger.halt(fx.ledger.lookup("acme").unwrap()).unwrap();
    assert_eq!(halted.cap, Cap::Turns);
    assert!(matches!(
        hold(&mut fx, "acme", 1),
        Answer::Refused(Refusal {
            cap: Cap::Turns,
            paused: false,
            ..
        })
    ));
    // Journaled as a derived event after the report that reached the cap.
    assert!(fx.journal.iter().any(|event| matches!(
        event,
        Event::RunFlagged {
            cap: Cap::Turns,
            stops: true,
            ..
        }
    )));
    fx.check_replay();
    fx.apply(Command::StartRun { path: path("acme") }).unwrap();
    assert_eq!(fx.status("acme").verdict.level, Level::Green);
    assert!(matches!(hold(&mut fx, "acme", 1), Answer::Reserved(_)));
    fx.check_replay();
}

#[test]
fn a_loop_of_near_identical_reports_raises_an_alert_or_stops() {
    let mut fx = Fixture::default();
    fx.put("alert", &[("tokens", 1_000_000)]).unwrap();
    fx.put("stop", &[("tokens", 1_000_000)]).unwrap();
    for (text, stop) in [("alert", false), ("stop", true)] {
        let caps = RulesSpec {
            run: Some(RunCaps {
                loops: Some(LoopRule {
                    repeats: 4,
                    window_ms: 60_000,
                    stop,
                }),
                ..RunCaps::default()
            }),
            ..RulesSpec::default()
        };
        set_rules(&mut fx, text, caps).unwrap();
    }
    // Varied work is no loop: different operations, or amounts more than 5 % apart.
    for (idx, tokens) in [100, 200, 300, 400, 500, 600].into_iter().enumerate() {
        fx.now_ms += 1_000;
        let op = if idx % 2 == 0 { "plan" } else { "edit" };
        report(&mut fx, "alert", op, tokens);
    }
    assert!(fx.ledger.halt(fx.ledger.lookup("alert").unwrap()).is_none());
    // Four near-identical calls within a minute.
    for tokens in [1_000, 1_010, 990, 1_020] {
        fx.now_ms += 1_000;
        report(&mut fx, "alert", "retry", tokens);
        report(&mut fx, "stop", "retry", tokens);
    }
    let alert = fx.status("alert").verdict;
    assert_eq!(alert.level, Level::Yellow, "an alert-only loop warns");
    assert_eq!(alert.action, Action::Warn);
    let stop = fx.status("stop").verdict;
    assert_eq!(stop.level, Level::Black);
    assert_eq!(stop.action, Action::Stop);
    // Spread past the window, the same calls are no loop.
    let mut spread = Fixture::default();
    spread.put("acme", &[("tokens", 1_000_000)]).unwrap();
    let caps = RulesSpec {
        run: Some(RunCaps {
            loops: Some(LoopRule {
                repeats: 3,
                window_ms: 10_000,
                stop: true,
            }),
            ..RunCaps::default()
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut spread, "acme", caps).unwrap();
    for _ in 0..6 {
        spread.now_ms += 6_000;
        report(&mut spread, "acme", "retry", 1_000);
    }
    assert_eq!(spread.status("acme").verdict.level, Level::Green);
    fx.check_replay();
    spread.check_replay();
}

#[test]
fn the_clock_halts_runs_past_their_wall_time_and_expired_one_time_budgets() {
    let mut fx = Fixture::default();
    fx.put("run", &[("tokens", 1_000)]).unwrap();
    fx.put("once", &[("tokens", 1_000)]).unwrap();
    let start = fx.now_ms;
    let caps = RulesSpec {
        run: Some(RunCaps {
            max_wall_ms: Some(60_000),
            ..RunCaps::default()
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "run", caps).unwrap();
    let once = RulesSpec {
        expires_ms: Some(start + 120_000),
        pause_at_stop: true,
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "once", once).unwrap();
    assert!(fx.ledger.caps_due(start + 59_999, 10).is_empty());
    let run = fx.ledger.lookup("run").unwrap();
    let once = fx.ledger.lookup("once").unwrap();
    assert_eq!(
        fx.ledger.caps_due(start + 60_000, 10),
        vec![(run, Cap::WallTime)]
    );
    fx.now_ms = start + 120_000;
    let due = fx.ledger.caps_due(fx.now_ms, 10);
    assert_eq!(due, vec![(run, Cap::WallTime), (once, Cap::Expired)]);
    for (account, cap) in due {
        fx.apply(Command::ReachCap { account, cap }).unwrap();
    }
    assert!(fx.ledger.caps_due(fx.now_ms, 10).is_empty(), "halted once");
    assert_eq!(fx.status("run").verdict.action, Action::Stop);
    assert_eq!(fx.status("once").verdict.action, Action::Pause);
    assert!(matches!(
        hold(&mut fx, "once", 1),
        Answer::Refused(Refusal {
            cap: Cap::Expired,
            paused: true,
            ..
        })
    ));
    // Moving the expiry later lifts it.
    let later = RulesSpec {
        expires_ms: Some(fx.now_ms + 60_000),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "once", later).unwrap();
    assert_eq!(fx.status("once").verdict.level, Level::Green);
    fx.check_replay();
}

#[test]
fn a_manual_reset_restarts_the_window_and_a_period_change_must_say_what_it_keeps() {
    let mut fx = Fixture::default();
    let hourly = PeriodSpec {
        every: PeriodUnit::Hour,
        timezone: "UTC".into(),
        rollover_max_ppm: 0,
    };
    fx.apply(Command::UpsertAccount {
        path: path("acme"),
        spec: AccountSpec {
            limits: Some(named(&[("tokens", 100)])),
            period: Some(hourly),
            ..AccountSpec::default()
        },
    })
    .unwrap();
    let acme = fx.ledger.lookup("acme").unwrap();
    fx.apply(Command::RenewPeriod {
        account: acme,
        start_ms: fx.now_ms,
        end_ms: fx.now_ms + 3_600_000,
    })
    .unwrap();
    fx.usage("acme", &[("tokens", 96)], None).unwrap();
    assert_eq!(fx.status("acme").verdict.level, Level::Black);
    fx.apply(Command::ResetUsage { path: path("acme") })
        .unwrap();
    assert_eq!(fx.status("acme").verdict.level, Level::Green);
    let acme_slot = fx.ledger.account(acme).slots[0];
    assert_eq!(
        (acme_slot.consumed, acme_slot.period_consumed()),
        (96, 0),
        "history is kept, the window restarts"
    );

    fx.usage("acme", &[("tokens", 40)], None).unwrap();
    let daily = |keep_usage| AccountSpec {
        period: Some(PeriodSpec {
            every: PeriodUnit::Quarter {
                fiscal_start_month: 4,
            },
            timezone: "UTC".into(),
            rollover_max_ppm: 0,
        }),
        keep_usage,
        ..AccountSpec::default()
    };
    let err = fx
        .apply(Command::UpsertAccount {
            path: path("acme"),
            spec: daily(None),
        })
        .unwrap_err();
    assert_eq!(err.code(), "keep_usage_required");
    fx.apply(Command::UpsertAccount {
        path: path("acme"),
        spec: daily(Some(true)),
    })
    .unwrap();
    let spent = |fx: &Fixture| fx.ledger.account(acme).slots[0].period_consumed();
    assert_eq!(spent(&fx), 40, "kept");
    fx.apply(Command::UpsertAccount {
        path: path("acme"),
        spec: AccountSpec {
            period: Some(PeriodSpec {
                every: PeriodUnit::Month,
                timezone: "UTC".into(),
                rollover_max_ppm: 0,
            }),
            keep_usage: Some(false),
            ..AccountSpec::default()
        },
    })
    .unwrap();
    assert_eq!(spent(&fx), 0, "reset");
    fx.check_replay();
}

#[test]
fn increase_requests_are_approved_from_the_parents_pool_or_rejected_once() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.put("acme/agent", &[("tokens", 500)]).unwrap();
    let ask = |fx: &mut Fixture, tokens: u64| match fx
        .apply(Command::RequestIncrease {
            path: path("acme/agent"),
            amount: named(&[("tokens", tokens)]),
            reason: "the refactor needs a second pass".into(),
            idempotency_key: Some(format!("ask-{tokens}")),
        })
        .unwrap()
    {
        Answer::Requested { request } => request,
        other => panic!("a request answered {other:?}"),
    };
    let first = ask(&mut fx, 200);
    let second = ask(&mut fx, 400);
    let third = ask(&mut fx, 50);
    assert_eq!(fx.ledger.increase_requests(true).count(), 3);
    let decide = |fx: &mut Fixture, request, approve| {
        fx.apply(Command::DecideIncrease {
            request,
            approve,
            note: String::new(),
        })
    };
    decide(&mut fx, first, true).unwrap();
    assert_eq!(fx.figure("acme/agent", "tokens").0, Some(700));
    // The pool beyond the 10 % reserve has 200 left: 400 does not fit, nothing is written.
    let err = decide(&mut fx, second, true).unwrap_err();
    assert_eq!(err.code(), "insufficient_pool");
    decide(&mut fx, second, false).unwrap();
    assert_eq!(fx.figure("acme/agent", "tokens").0, Some(700));
    // Retries: the same decision again answers the request, writing nothing; asking again with
    // the same key finds the first request, decided or not.
    let written = fx.journal.len();
    assert_eq!(
        decide(&mut fx, first, true).unwrap(),
        Answer::Requested { request: first }
    );
    assert_eq!(ask(&mut fx, 200), first);
    assert_eq!(fx.journal.len(), written);
    assert_eq!(
        decide(&mut fx, second, true).unwrap_err().code(),
        "request_decided"
    );
    assert_eq!(
        decide(&mut fx, 999, true).unwrap_err().code(),
        "request_not_found"
    );
    assert_eq!(fx.ledger.increase_requests(true).count(), 1);
    assert_eq!(fx.ledger.increase_requests(false).count(), 3);
    let pending = fx.ledger.increase_request(third).unwrap();
    assert!(pending.decision.is_none());
    // Refused requests: nothing to raise, no reason, a dimension the account does not limit.
    for (amount, reason, code) in [
        (vec![], "why", "invalid_field"),
        (vec![("tokens", 1)], "", "invalid_field"),
        (vec![("gpu_seconds", 1)], "why", "not_limited"),
    ] {
        let err = fx
            .apply(Command::RequestIncrease {
                path: path("acme/agent"),
                amount: named(&amount),
                reason: reason.into(),
                idempotency_key: None,
            })
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    fx.check_replay();
}

#[test]
fn rules_survive_a_snapshot() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    let rules = RulesSpec {
        warn_only: WarnOnly::ACCOUNT,
        child_defaults: Some(named(&[("tokens", 10)])),
        run: Some(RunCaps {
            max_turns: Some(2),
            ..RunCaps::default()
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme", rules).unwrap();
    report(&mut fx, "acme", "x", 1);
    report(&mut fx, "acme", "x", 1);
    fx.apply(Command::RequestIncrease {
        path: path("acme"),
        amount: named(&[("tokens", 5)]),
        reason: "more".into(),
        idempotency_key: None,
    })
    .unwrap();
    let snapshot = fx.ledger.to_snapshot();
    let bytes = postcard::to_stdvec(&snapshot).unwrap();
    let back: LedgerSnapshot = postcard::from_bytes(&bytes).unwrap();
    let restored = Ledger::try_from_snapshot(back, LedgerLimits::default()).unwrap();
    assert_eq!(postcard::to_stdvec(&restored.to_snapshot()).unwrap(), bytes);
    let acme = restored.lookup("acme").unwrap();
    assert_eq!(restored.halt(acme).unwrap().cap, Cap::Turns);
    assert_eq!(restored.increase_requests(true).count(), 1);
}

#[test]
fn a_lowered_turn_cap_stops_at_the_next_turn_and_an_alert_does_not_hide_the_wall_time() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000_000)]).unwrap();
    let caps = |max_turns| RulesSpec {
        run: Some(RunCaps {
            max_turns: Some(max_turns),
            max_wall_ms: Some(60_000),
            loops: Some(LoopRule {
                repeats: 3,
                window_ms: 60_000,
                stop: false,
            }),
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme", caps(100)).unwrap();
    let start = fx.now_ms;
    for _ in 0..3 {
        fx.now_ms += 1_000;
        report(&mut fx, "acme", "retry", 50);
    }
    let acme = fx.ledger.lookup("acme").unwrap();
    let alert = fx.ledger.halt(acme).unwrap();
    assert_eq!((alert.cap, alert.stops), (Cap::Loop, false));
    assert_eq!(fx.status("acme").verdict.action, Action::Warn);
    // The alert-only loop does not keep the clock from stopping the run at its wall time.
    assert_eq!(
        fx.ledger.caps_due(start + 60_000, 10),
        vec![(acme, Cap::WallTime)]
    );
    // The same run's cap lowered below its turns: the next turn stops it.
    set_rules(&mut fx, "acme", caps(2)).unwrap();
    let next = report(&mut fx, "acme", "plan", 7);
    assert_eq!(next.verdict.action, Action::Stop);
    assert_eq!(fx.ledger.halt(acme).unwrap().cap, Cap::Turns);
    assert!(
        fx.ledger.caps_due(start + 60_000, 10).is_empty(),
        "already stopped"
    );
    fx.check_replay();
}

#[test]
fn a_keyed_report_that_reaches_a_cap_answers_the_same_when_retried() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    let caps = RulesSpec {
        run: Some(RunCaps {
            max_turns: Some(1),
            ..RunCaps::default()
        }),
        ..RulesSpec::default()
    };
    set_rules(&mut fx, "acme", caps).unwrap();
    let first = fx.usage("acme", &[("tokens", 10)], Some("call-1")).unwrap();
    assert_eq!(first.verdict.action, Action::Stop);
    // Its seq is the report's, not the derived events' after it.
    let reported = fx
        .journal
        .iter()
        .rposition(|event| matches!(event, Event::UsageRecorded { .. }))
        .unwrap() as u64
        + 1;
    assert_eq!(first.seq, reported);
    let again = fx.usage("acme", &[("tokens", 10)], Some("call-1")).unwrap();
    assert!(again.duplicate);
    assert_eq!((again.seq, again.verdict), (first.seq, first.verdict));
    fx.check_replay();
}
