//! Budget periods, forecast alerts and the optimizer's moves as ledger commands: each renews,
//! raises or moves exactly what it says, and replays to the same state.

mod common;

use common::{Fixture, path};
use purser_core::account::{PeriodSpec, PeriodUnit};
use purser_core::command::Move;
use purser_core::event::ReallocationKind;
use purser_core::*;

const HOUR_MS: u64 = 3_600_000;

fn renew(fx: &mut Fixture, text: &str, start_ms: u64) -> Result<Answer, LedgerError> {
    let account = fx.ledger.lookup(text).unwrap();
    fx.apply(Command::RenewPeriod {
        account,
        start_ms,
        end_ms: start_ms + HOUR_MS,
    })
}

fn with_period(fx: &mut Fixture, text: &str, tokens: u64, rollover: f64) {
    let spec = AccountSpec {
        limits: Some(common::named(&[("tokens", tokens)])),
        period: Some(PeriodSpec {
            every: PeriodUnit::Hour,
            timezone: "UTC".into(),
            rollover_max_ppm: (rollover * 1e6) as u32,
        }),
        ..AccountSpec::default()
    };
    fx.apply(Command::UpsertAccount {
        path: path(text),
        spec,
    })
    .unwrap();
}

#[test]
fn a_renewal_restarts_the_window_keeps_the_history_and_rolls_over_up_to_the_cap() {
    let mut fx = Fixture::default();
    with_period(&mut fx, "acme", 1_000, 0.10);
    fx.put("acme/agent", &[]).unwrap();
    let start = fx.now_ms;
    renew(&mut fx, "acme", start).unwrap();
    fx.usage("acme/agent", &[("tokens", 960)], None).unwrap();
    assert_eq!(fx.status("acme").verdict.level, Level::Black);
    // Too early: the period runs for an hour.
    let err = renew(&mut fx, "acme", start + HOUR_MS).unwrap_err();
    assert_eq!(err.code(), "period_running");

    fx.now_ms = start + HOUR_MS;
    renew(&mut fx, "acme", start + HOUR_MS).unwrap();
    // 40 unspent, under the cap of 100: the next period has 1,040.
    assert_eq!(fx.figure("acme", "tokens"), (Some(1_040), 0, 0));
    assert_eq!(
        fx.figure("acme/agent", "tokens").1,
        0,
        "the child's window restarts too"
    );
    assert_eq!(fx.status("acme").verdict.level, Level::Green);
    let acc = fx.ledger.account(fx.ledger.lookup("acme").unwrap());
    assert_eq!(
        acc.slots[0].consumed, 960,
        "the old period stays in history"
    );

    // An idle period carries over at most 10% of the base limit, not of the rolled-over one.
    fx.now_ms = start + 2 * HOUR_MS;
    renew(&mut fx, "acme", start + 2 * HOUR_MS).unwrap();
    assert_eq!(fx.figure("acme", "tokens").0, Some(1_100));
    fx.check_replay();
}

#[test]
fn an_account_without_a_period_cannot_be_renewed() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 10)]).unwrap();
    assert_eq!(renew(&mut fx, "acme", 0).unwrap_err().code(), "no_period");
}

#[test]
fn an_alert_keeps_the_account_at_warn_until_cleared() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.usage("acme", &[("tokens", 100)], None).unwrap();
    let account = fx.ledger.lookup("acme").unwrap();
    let dimension = fx.ledger.dimensions().lookup("tokens").unwrap();
    let raise = AlertCommand {
        account,
        dimension,
        raise: Some(AlertFigures {
            method: "holt",
            projected_total: 1_500,
            exhausts_at_ms: fx.now_ms + 30_000,
            confidence_ppm: 900_000,
        }),
    };
    assert_eq!(
        fx.apply(Command::Alert(raise.clone())).unwrap(),
        Answer::Alerted { changed: true }
    );
    let status = fx.status("acme");
    assert_eq!(status.verdict.level, Level::Yellow);
    assert_eq!(status.verdict.action, Action::Warn);
    // Raising it again changes nothing and writes nothing.
    let before = fx.journal.len();
    assert_eq!(
        fx.apply(Command::Alert(raise)).unwrap(),
        Answer::Alerted { changed: false }
    );
    assert_eq!(fx.journal.len(), before);
    fx.apply(Command::Alert(AlertCommand {
        account,
        dimension,
        raise: None,
    }))
    .unwrap();
    assert_eq!(fx.status("acme").verdict.level, Level::Green);
    fx.check_replay();
}

#[test]
fn moves_that_would_reach_into_the_reserve_or_below_use_are_skipped() {
    let mut fx = Fixture::default();
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    fx.put("acme/a", &[("tokens", 500)]).unwrap();
    fx.put("acme/b", &[("tokens", 300)]).unwrap();
    fx.usage("acme/b", &[("tokens", 250)], None).unwrap();
    let a = fx.ledger.lookup("acme/a").unwrap();
    let b = fx.ledger.lookup("acme/b").unwrap();
    let tokens = fx.ledger.dimensions().lookup("tokens").unwrap();
    let mv = |account, from, to, kind| Move {
        account,
        dimension: tokens,
        from,
        to,
        kind,
        reason: "test".into(),
    };
    // The pool is 200 and the reserve 100: a grant of 150 reaches into the reserve.
    let answer = fx
        .apply(Command::Reallocate(vec![
            mv(b, 300, 450, ReallocationKind::Grant),
            mv(b, 300, 200, ReallocationKind::Reclaim),
            mv(a, 500, 400, ReallocationKind::Reclaim),
            mv(b, 300, 500, ReallocationKind::Grant),
        ]))
        .unwrap();
    // The reclaim from `a` frees 100: the grant of 200 to `b` then fits (pool 300, reserve 100).
    assert_eq!(
        answer,
        Answer::Reallocated {
            applied: 2,
            skipped: 2
        }
    );
    assert_eq!(fx.figure("acme/a", "tokens").0, Some(400));
    assert_eq!(fx.figure("acme/b", "tokens").0, Some(500));
    fx.check_replay();
}

#[test]
fn the_ticks_indexes_come_back_from_a_snapshot() {
    let mut fx = Fixture::default();
    with_period(&mut fx, "acme", 1_000, 0.0);
    fx.put("other", &[("tokens", 10)]).unwrap();
    let acme = fx.ledger.lookup("acme").unwrap();
    // Renewing without a period yet: due now.
    assert_eq!(fx.ledger.periods_due(fx.now_ms, 10), vec![acme]);
    let now_ms = fx.now_ms;
    renew(&mut fx, "acme", now_ms).unwrap();
    assert!(fx.ledger.periods_due(fx.now_ms, 10).is_empty());
    let tokens = fx.ledger.dimensions().lookup("tokens").unwrap();
    fx.apply(Command::Alert(AlertCommand {
        account: acme,
        dimension: tokens,
        raise: Some(AlertFigures {
            method: "linear",
            projected_total: 2_000,
            exhausts_at_ms: fx.now_ms + 10_000,
            confidence_ppm: 950_000,
        }),
    }))
    .unwrap();
    let restored = Ledger::from_snapshot(fx.ledger.to_snapshot(), LedgerLimits::default());
    let later = fx.now_ms + HOUR_MS;
    assert_eq!(restored.periods_due(later, 10), vec![acme]);
    assert_eq!(fx.ledger.periods_due(later, 10), vec![acme]);
    let alerted: Vec<AccountId> = restored.alerted_accounts().map(|(id, _)| id).collect();
    assert_eq!(alerted, vec![acme]);
    fx.check_replay();
}
