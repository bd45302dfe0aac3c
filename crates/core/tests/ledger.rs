//! The ledger through its public API: accounts, usage, holds, the ladder, allocation.

mod common;

use common::*;
use purser_core::event::ReallocationKind;
use purser_core::*;

fn tree() -> Fixture {
    let mut fx = Fixture::default();
    fx.put(
        "acme",
        &[("tokens", 1_000_000), ("cost_micros", 100_000_000)],
    )
    .unwrap();
    fx.put("acme/research", &[("tokens", 500_000)]).unwrap();
    fx.put("acme/research/wf-42", &[("tokens", 100_000)])
        .unwrap();
    fx.put("acme/research/wf-42/worker-1", &[("tokens", 40_000)])
        .unwrap();
    fx
}

#[test]
fn usage_is_charged_to_every_ancestor() {
    let mut fx = tree();
    fx.usage(
        "acme/research/wf-42/worker-1",
        &[("tokens", 450), ("cost_micros", 11_000)],
        None,
    )
    .unwrap();
    for account in [
        "acme",
        "acme/research",
        "acme/research/wf-42",
        "acme/research/wf-42/worker-1",
    ] {
        assert_eq!(fx.figure(account, "tokens").1, 450, "{account}");
        assert_eq!(fx.figure(account, "cost_micros").1, 11_000, "{account}");
    }
    fx.check_replay();
}

#[test]
fn ladder_levels_and_fired() {
    // (tokens used on wf-42 of 100,000, expected level, expected action)
    let cases = [
        (49_999, Level::Green, "continue"),
        (50_000, Level::Yellow, "warn"),
        (75_000, Level::Orange, "throttle"),
        (90_000, Level::Red, "degrade"),
        (95_000, Level::Black, "stop"),
    ];
    for (used, level, action) in cases {
        let mut fx = tree();
        let answer = fx
            .usage("acme/research/wf-42", &[("tokens", used)], None)
            .unwrap();
        assert_eq!(answer.verdict.level, level, "{used}");
        assert_eq!(answer.verdict.action.kind(), action, "{used}");
        // A worker below sees its ancestor's level, and the ancestor named as the one that fired.
        let worker = fx.status("acme/research/wf-42/worker-1");
        assert_eq!(worker.verdict.level, level);
        if level > Level::Green {
            assert_eq!(worker.fired_path.unwrap().as_str(), "acme/research/wf-42");
        } else {
            assert!(worker.fired_path.is_none());
        }
    }
}

#[test]
fn hysteresis_and_resume_after_a_raise() {
    let mut fx = tree();
    let answer = fx
        .usage("acme/research/wf-42/worker-1", &[("tokens", 38_000)], None)
        .unwrap();
    assert_eq!(answer.verdict.level, Level::Black);
    // Raising to 40,700 puts the fraction at 0.934: below 0.95 but within the margin: still black.
    fx.put("acme/research/wf-42/worker-1", &[("tokens", 40_700)])
        .unwrap();
    assert_eq!(
        fx.status("acme/research/wf-42/worker-1").verdict.level,
        Level::Black
    );
    // At 0.926 it drops to red.
    fx.put("acme/research/wf-42/worker-1", &[("tokens", 41_000)])
        .unwrap();
    assert_eq!(
        fx.status("acme/research/wf-42/worker-1").verdict.level,
        Level::Red
    );
    // A raise to twice the use resumes the agent.
    fx.put("acme/research/wf-42/worker-1", &[("tokens", 80_000)])
        .unwrap();
    assert_eq!(
        fx.status("acme/research/wf-42/worker-1").verdict.action,
        Action::Continue
    );
    fx.check_replay();
}

#[test]
fn reservations_stop_strictly_below_the_threshold() {
    let mut fx = tree();
    // worker-1 stops at 95% of 40,000 = 38,000: a hold may take it to 37,999.
    let granted = fx.reserve("acme/research/wf-42/worker-1", &[("tokens", 37_999)], None);
    let Answer::Reserved(hold) = granted else {
        panic!("{granted:?}")
    };
    let denied = fx.reserve("acme/research/wf-42/worker-1", &[("tokens", 1)], None);
    let Answer::Denied(denial) = denied else {
        panic!("{denied:?}")
    };
    assert_eq!(denial.available, 0);
    assert_eq!(fx.figure("acme", "tokens").2, 37_999);
    // Settling for less releases the hold and charges the actual use.
    let settled = fx.settle(hold.reservation, &[("tokens", 1_000)]).unwrap();
    assert_eq!(
        settled.seq,
        fx.ledger.last_seq() - count_trailing_level_events(&fx)
    );
    assert_eq!(
        fx.figure("acme/research/wf-42/worker-1", "tokens"),
        (Some(40_000), 1_000, 0)
    );
    assert_eq!(fx.figure("acme", "tokens"), (Some(1_000_000), 1_000, 0));
    // A second settle answers the first result.
    let again = fx.settle(hold.reservation, &[("tokens", 5_000)]).unwrap();
    assert!(again.duplicate);
    assert_eq!(fx.figure("acme", "tokens").1, 1_000);
    fx.check_replay();
}

fn count_trailing_level_events(fx: &Fixture) -> u64 {
    fx.journal
        .iter()
        .rev()
        .take_while(|event| matches!(event, Event::LevelChanged { .. }))
        .count() as u64
}

#[test]
fn a_hold_is_denied_by_an_ancestor() {
    let mut fx = tree();
    fx.put("acme/research/wf-42/worker-2", &[("tokens", 40_000)])
        .unwrap();
    fx.usage("acme/research/wf-42", &[("tokens", 90_000)], None)
        .unwrap();
    let denied = fx.reserve("acme/research/wf-42/worker-2", &[("tokens", 5_000)], None);
    let Answer::Denied(denial) = denied else {
        panic!("{denied:?}")
    };
    assert_eq!(
        fx.ledger.account(denial.account).path.as_str(),
        "acme/research/wf-42"
    );
    assert_eq!(denial.available, 4_999);
}

#[test]
fn holds_expire_and_can_still_be_settled() {
    let mut fx = tree();
    let Answer::Reserved(hold) = fx.reserve(
        "acme/research/wf-42/worker-1",
        &[("tokens", 5_000)],
        Some(1_000),
    ) else {
        panic!()
    };
    fx.now_ms += 999;
    assert_eq!(
        fx.apply(Command::ExpireDue).unwrap(),
        Answer::Expired { count: 0 }
    );
    fx.now_ms += 1;
    assert_eq!(
        fx.apply(Command::ExpireDue).unwrap(),
        Answer::Expired { count: 1 }
    );
    assert_eq!(fx.figure("acme", "tokens").2, 0);
    let settled = fx.settle(hold.reservation, &[("tokens", 700)]).unwrap();
    assert!(settled.expired);
    assert_eq!(fx.figure("acme", "tokens"), (Some(1_000_000), 700, 0));
    // Void after a settle is a conflict; void of an open hold releases it.
    assert_eq!(
        fx.apply(Command::Void {
            reservation: hold.reservation
        })
        .unwrap_err()
        .code(),
        "reservation_closed"
    );
    let Answer::Reserved(other) =
        fx.reserve("acme/research/wf-42/worker-1", &[("tokens", 5_000)], None)
    else {
        panic!()
    };
    assert_eq!(
        fx.apply(Command::Void {
            reservation: other.reservation
        })
        .unwrap(),
        Answer::Voided {
            reservation: other.reservation
        }
    );
    assert_eq!(fx.figure("acme", "tokens").2, 0);
    assert_eq!(
        fx.settle(other.reservation, &[]).unwrap_err().code(),
        "reservation_void"
    );
    fx.check_replay();
}

#[test]
fn idempotent_reports_count_once() {
    let mut fx = tree();
    let first = fx
        .usage(
            "acme/research/wf-42/worker-1",
            &[("tokens", 100)],
            Some("k1"),
        )
        .unwrap();
    fx.usage("acme/research/wf-42/worker-1", &[("tokens", 100)], None)
        .unwrap();
    let again = fx
        .usage(
            "acme/research/wf-42/worker-1",
            &[("tokens", 100)],
            Some("k1"),
        )
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    assert_eq!(fx.figure("acme", "tokens").1, 200);
    // The same key on another account is another report.
    fx.usage("acme/research/wf-42", &[("tokens", 100)], Some("k1"))
        .unwrap();
    assert_eq!(fx.figure("acme", "tokens").1, 300);
    fx.check_replay();
}

#[test]
fn pool_and_reserve() {
    let mut fx = Fixture::default();
    fx.put("org", &[("tokens", 1_000)]).unwrap();
    // 10% of 1,000 is kept back: 900 can go to children.
    fx.put("org/a", &[("tokens", 600)]).unwrap();
    let err = fx.put("org/b", &[("tokens", 301)]).unwrap_err();
    assert_eq!(
        err,
        LedgerError::InsufficientPool {
            account: "org".into(),
            dimension: "tokens".into(),
            requested: 301,
            available: 300
        }
    );
    fx.put("org/b", &[("tokens", 300)]).unwrap();
    let org = fx.status("org");
    assert_eq!(org.dims[0].pool, Some(100));
    // Lowering a limit is always allowed; the parent can't drop below its children.
    fx.put("org/a", &[("tokens", 100)]).unwrap();
    assert_eq!(
        fx.put("org", &[("tokens", 399)]).unwrap_err().code(),
        "limit_below_children"
    );
    // Closing returns the limit to the pool.
    fx.apply(Command::CloseAccount {
        path: path("org/b"),
    })
    .unwrap();
    assert_eq!(fx.status("org").dims[0].pool, Some(900));
    assert_eq!(
        fx.apply(Command::CloseAccount { path: path("org") })
            .unwrap_err()
            .code(),
        "has_children"
    );
    fx.check_replay();
}

#[test]
fn bad_input_changes_nothing() {
    let mut fx = tree();
    fx.usage("acme", &[("tokens", 1)], None).unwrap();
    let before = postcard::to_stdvec(&fx.ledger.to_snapshot()).unwrap();
    let errors = [
        fx.put("nobody/child", &[("tokens", 1)]).unwrap_err().code(),
        fx.put("acme/x", &[("Bad-Name", 1)]).unwrap_err().code(),
        fx.usage("acme/ghost", &[("tokens", 1)], None)
            .unwrap_err()
            .code(),
        fx.usage("acme", &[("tokens", u64::MAX)], None)
            .unwrap_err()
            .code(),
        fx.usage("acme", &[("tokens", 1)], Some(""))
            .unwrap_err()
            .code(),
        fx.settle(424_242, &[("tokens", 1)]).unwrap_err().code(),
    ];
    assert_eq!(
        errors,
        [
            "parent_not_found",
            "invalid_dimension",
            "account_not_found",
            "amount_too_large",
            "invalid_field",
            "reservation_not_found"
        ]
    );
    let spec = AccountSpec {
        warn: Some(0.8),
        throttle: Some(0.7),
        ..AccountSpec::default()
    };
    let err = fx
        .apply(Command::UpsertAccount {
            path: path("acme"),
            spec,
        })
        .unwrap_err();
    assert_eq!(err.field(), Some("thresholds.throttle"));
    assert_eq!(
        postcard::to_stdvec(&fx.ledger.to_snapshot()).unwrap(),
        before
    );
}

#[test]
fn custom_dimensions_are_interned_once() {
    let mut fx = tree();
    fx.usage("acme/research", &[("gpu_seconds", 5)], None)
        .unwrap();
    fx.usage("acme/research", &[("gpu_seconds", 5)], None)
        .unwrap();
    assert_eq!(fx.figure("acme", "gpu_seconds"), (None, 10, 0));
    assert_eq!(
        fx.journal
            .iter()
            .filter(|event| matches!(event, Event::DimensionAdded { .. }))
            .count(),
        1
    );
    fx.check_replay();
}

#[test]
fn allocation_sets_children_and_keeps_the_reserve() {
    let mut fx = Fixture::default();
    fx.put("org", &[("tokens", 400_000)]).unwrap();
    let request = AllocateRequest {
        strategy: Strategy::Proportional,
        total: None,
        children: vec![
            ChildRequest {
                name: "w1".into(),
                weight: Some(2.0),
                priority: None,
                demand: None,
            },
            ChildRequest {
                name: "w2".into(),
                weight: None,
                priority: None,
                demand: None,
            },
        ],
        min_share: None,
        max_share: None,
        initial_share: None,
    };
    let answer = fx
        .apply(Command::Allocate {
            path: path("org"),
            request: request.clone(),
        })
        .unwrap();
    let Answer::Allocated { allocations, .. } = answer else {
        panic!()
    };
    let tokens = DimId(0);
    assert_eq!(
        allocations
            .iter()
            .map(|(_, limits)| limits.get(tokens).unwrap())
            .collect::<Vec<_>>(),
        vec![240_000, 120_000]
    );
    // Allocating again sets (not adds) the limits; spent budget stays spent.
    fx.usage("org/w1", &[("tokens", 1_000)], None).unwrap();
    fx.apply(Command::Allocate {
        path: path("org"),
        request,
    })
    .unwrap();
    assert_eq!(fx.figure("org/w1", "tokens"), (Some(240_000), 1_000, 0));
    assert_eq!(fx.status("org").dims[0].pool, Some(40_000));
    fx.check_replay();
}

#[test]
fn list_orders_by_path_and_respects_depth() {
    let mut fx = tree();
    fx.put("acme/research/wf-42/worker-2", &[]).unwrap();
    fx.put("acme/ops", &[]).unwrap();
    let names = |ids: Vec<AccountId>| {
        ids.into_iter()
            .map(|id| fx.ledger.account(id).path.to_string())
            .collect::<Vec<_>>()
    };
    let listed = names(fx.ledger.list(Some(&path("acme/research")), 1, 100));
    assert_eq!(listed, ["acme/research", "acme/research/wf-42"]);
    let listed = names(fx.ledger.list(Some(&path("acme/research")), 2, 100));
    assert_eq!(listed.len(), 4);
    let listed = names(fx.ledger.list(None, 1, 100));
    assert_eq!(listed, ["acme", "acme/ops", "acme/research"]);
}

#[test]
fn foreign_records_share_the_sequence_and_replay_in_place() {
    // The server journals DAG events between ledger events under one sequence.
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    let mut records: Vec<(u64, Option<Event>)> = Vec::new();
    let mut n_taken = 0;
    let mut take_ledger = |fx: &mut Fixture, records: &mut Vec<(u64, Option<Event>)>| {
        let first_seq = fx.ledger.last_seq() + 1 - (fx.journal.len() - n_taken) as u64;
        for (idx, event) in fx.journal[n_taken..].iter().enumerate() {
            records.push((first_seq + idx as u64, Some(event.clone())));
        }
        n_taken = fx.journal.len();
    };
    take_ledger(&mut fx, &mut records);
    let foreign = fx.ledger.take_foreign_seq();
    assert_eq!(foreign, fx.ledger.last_seq());
    records.push((foreign, None));
    // A usage that crosses the warn threshold derives a level change journaled right after it.
    fx.usage("acme", &[("tokens", 600)], None).unwrap();
    take_ledger(&mut fx, &mut records);
    records.push((fx.ledger.take_foreign_seq(), None));
    let hold = fx.reserve("acme", &[("tokens", 10)], None);
    take_ledger(&mut fx, &mut records);
    let Answer::Reserved(hold) = hold else {
        panic!("reserve answered {hold:?}")
    };
    assert!(hold.reservation > foreign, "reservation ids stay seqs");

    let mut replayed = Ledger::default();
    for (seq, record) in &records {
        match record {
            Some(event) => replayed.replay(*seq, event.clone()).unwrap(),
            None => replayed.replay_foreign(*seq).unwrap(),
        }
    }
    assert_eq!(replayed.to_snapshot(), fx.ledger.to_snapshot());

    // Out of order, or between a command and its derived level change, is refused.
    let mut early = Ledger::default();
    assert!(early.replay_foreign(2).is_err());
    let mut split = Ledger::default();
    let usage_at = records
        .iter()
        .position(|(_, record)| matches!(record, Some(Event::UsageRecorded { .. })))
        .unwrap();
    for (seq, record) in &records[..=usage_at] {
        match record {
            Some(event) => split.replay(*seq, event.clone()).unwrap(),
            None => split.replay_foreign(*seq).unwrap(),
        }
    }
    assert!(split.replay_foreign(records[usage_at].0 + 1).is_err());
}

#[test]
fn one_huge_report_never_poisons_the_organisation() {
    // Regression (hardening #1): a report of 2^64-1 tokens was accepted, then every later
    // report anywhere under the org answered 400 amount_overflow. Amounts are now capped per
    // request, and sums saturate instead of refusing.
    let mut fx = Fixture::default();
    fx.put("org", &[("tokens", 1_000_000)]).unwrap();
    fx.put("org/a", &[("tokens", 100_000)]).unwrap();
    fx.put("org/b", &[("tokens", 100_000)]).unwrap();
    let refused = fx
        .usage("org/a", &[("tokens", u64::MAX)], None)
        .unwrap_err();
    assert_eq!(refused.code(), "amount_too_large");
    assert_eq!(refused.field(), Some("usage.tokens"));
    let amount_max = LedgerLimits::default().amount_max;
    assert_eq!(
        fx.usage("org/a", &[("tokens", amount_max + 1)], None)
            .unwrap_err()
            .code(),
        "amount_too_large"
    );
    // The largest amount allowed is recorded (the money is gone), and siblings go on.
    fx.usage("org/a", &[("tokens", amount_max)], None).unwrap();
    let answer = fx.usage("org/b", &[("tokens", 10)], None).unwrap();
    assert_eq!(fx.figure("org/b", "tokens").1, 10);
    assert_eq!(answer.verdict.level, Level::Black, "org is past its limit");
    fx.reserve("org/b", &[("tokens", 1)], None);
    fx.check_replay();
}

#[test]
fn sums_saturate_at_the_ceiling_and_later_reports_still_count() {
    // Regression (hardening #1): the ceiling of the figures must never refuse a report. With a
    // cap of 2^62, four reports reach 2^64 - 1 on the org; reports after it are accepted and
    // counted where there is room (the sibling's own figures).
    let limits = LedgerLimits {
        amount_max: 1 << 62,
        ..LedgerLimits::default()
    };
    let mut fx = Fixture {
        ledger: Ledger::new(limits),
        ..Fixture::default()
    };
    fx.put("org", &[("tokens", 1_000_000)]).unwrap();
    fx.put("org/a", &[("tokens", 100_000)]).unwrap();
    fx.put("org/b", &[("tokens", 100_000)]).unwrap();
    for _ in 0..5 {
        fx.usage("org/a", &[("tokens", 1 << 62)], None).unwrap();
    }
    assert_eq!(fx.figure("org", "tokens").1, u64::MAX);
    assert_eq!(fx.figure("org/a", "tokens").1, u64::MAX);
    fx.usage("org/b", &[("tokens", 7)], None).unwrap();
    fx.usage("org/b", &[("tokens", 5)], Some("k")).unwrap();
    assert_eq!(fx.figure("org/b", "tokens").1, 12);
    assert_eq!(fx.figure("org", "tokens").1, u64::MAX);
    fx.check_replay();
}

#[test]
fn replay_refuses_a_grant_that_lowers_a_limit() {
    // Regression (found by the journal fuzz target): a journaled grant whose new limit was below
    // the old passed the replay's check, and the audit log then panicked computing its delta.
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.put("acme/a", &[("tokens", 400)]).unwrap();
    let mut replayed = Ledger::default();
    let first_seq = fx.ledger.last_seq() + 1 - fx.journal.len() as u64;
    for (idx, event) in fx.journal.iter().enumerate() {
        replayed
            .replay(first_seq + idx as u64, event.clone())
            .unwrap();
    }
    let account = replayed.lookup("acme/a").unwrap();
    let dimension = replayed.dimensions().lookup("tokens").unwrap();
    let moved = |from, to, kind| Event::Reallocated {
        account,
        dimension,
        from,
        to,
        kind,
        reason: "fuzzed".into(),
        at_ms: 1,
    };
    let next = replayed.last_seq() + 1;
    for wrong in [
        moved(400, 300, ReallocationKind::Grant),
        moved(400, 500, ReallocationKind::Reclaim),
    ] {
        let err = replayed.replay(next, wrong.clone()).unwrap_err();
        assert_eq!(err.seq, next, "{wrong:?}");
    }
    replayed
        .replay(next, moved(400, 500, ReallocationKind::Grant))
        .unwrap();
    assert_eq!(replayed.account(account).limit(dimension), Some(500));
}
