//! The optimizer's grants: only on confident forecasts, bounded per child and per pass, and
//! never to a stopped account.

mod common;

use common::*;
use purser_core::account::OptimizerPolicy;
use purser_core::command::Move;
use purser_core::optimize::{Outlook, plan_moves};
use purser_core::*;

/// An org of 1,000,000 tokens with children `a` and `b` of 100,000 each; `a` has used `used`.
fn org(used_a: u64) -> Fixture {
    let mut fx = Fixture::default();
    fx.put("org", &[("tokens", 1_000_000)]).unwrap();
    fx.put("org/a", &[("tokens", 100_000)]).unwrap();
    fx.put("org/b", &[("tokens", 100_000)]).unwrap();
    if used_a > 0 {
        fx.usage("org/a", &[("tokens", used_a)], None).unwrap();
    }
    fx
}

fn outlook(projected_total: u64, confidence: f64, n_backtests: u32) -> Outlook {
    Outlook {
        projected_total,
        time_to_exhaustion_s: Some(30),
        method: "linear",
        confidence,
        n_backtests,
        interval_low: 0,
    }
}

/// The moves of one pass where every child's forecast is `view`.
fn grants(fx: &Fixture, policy: &OptimizerPolicy, view: Outlook) -> Vec<Move> {
    plan_moves(&fx.ledger, fx.now_ms, policy, &mut |_, _| Some(view))
        .into_iter()
        .filter(|mv| mv.kind == event::ReallocationKind::Grant)
        .collect()
}

#[test]
fn a_forecast_without_confidence_gets_no_grant() {
    // Regression (hardening #3): one report at 96 % and, within 10 s, the child's limit went
    // from 100,000 to 900,000 on a forecast of confidence 0.00 with no backtests.
    let fx = org(90_000);
    let policy = OptimizerPolicy::default();
    assert!(grants(&fx, &policy, outlook(10_000_000, 0.0, 0)).is_empty());
    assert!(grants(&fx, &policy, outlook(10_000_000, 0.99, 2)).is_empty());
    assert!(grants(&fx, &policy, outlook(10_000_000, 0.80, 50)).is_empty());
    assert_eq!(grants(&fx, &policy, outlook(150_000, 0.90, 50)).len(), 1);
}

#[test]
fn an_interval_wholly_above_the_limit_gets_a_grant_without_the_confidence() {
    let fx = org(90_000);
    let policy = OptimizerPolicy::default();
    let above = |interval_low| Outlook {
        interval_low,
        ..outlook(150_000, 0.30, 50)
    };
    // Low confidence and an interval reaching below the limit: no grant.
    assert!(grants(&fx, &policy, above(99_000)).is_empty());
    let moves = grants(&fx, &policy, above(120_000));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 150_000));
    assert!(
        moves[0].reason.contains("80% interval from 120,000"),
        "{}",
        moves[0].reason
    );
    // The backtests must still be there.
    let unbacked = Outlook {
        n_backtests: 2,
        ..above(120_000)
    };
    assert!(grants(&fx, &policy, unbacked).is_empty());
}

#[test]
fn a_grant_is_bounded_by_the_need_the_growth_and_the_pass() {
    let fx = org(90_000);
    let policy = OptimizerPolicy::default();
    // The need: the forecast overage, not the pool.
    let moves = grants(&fx, &policy, outlook(130_000, 0.9, 20));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 130_000));
    // One grant at most doubles the limit.
    let moves = grants(&fx, &policy, outlook(10_000_000, 0.9, 20));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 200_000));
    // A pass hands out at most half of the pool beyond the reserve (1,000,000 - 200,000 -
    // 100,000 = 700,000, so 350,000), however large the growth allowed.
    let generous = OptimizerPolicy {
        grant_growth_max_ppm: 100_000_000,
        ..policy
    };
    let moves = grants(&fx, &generous, outlook(10_000_000, 0.9, 20));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 450_000));
    // The monopoly cap bounds it too.
    let capped = OptimizerPolicy {
        max_share_ppm: Some(150_000),
        ..generous
    };
    let moves = grants(&fx, &capped, outlook(10_000_000, 0.9, 20));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 150_000));
    assert!(
        moves[0]
            .reason
            .contains("confidence 0.90 over 20 backtests"),
        "{}",
        moves[0].reason
    );
}

#[test]
fn the_pass_budget_is_shared_by_every_child() {
    let mut fx = org(90_000);
    fx.usage("org/b", &[("tokens", 90_000)], None).unwrap();
    let policy = OptimizerPolicy {
        grant_growth_max_ppm: 100_000_000,
        ..OptimizerPolicy::default()
    };
    let moves = grants(&fx, &policy, outlook(10_000_000, 0.9, 20));
    let granted: u64 = moves.iter().map(|mv| mv.to - mv.from).sum();
    assert_eq!(granted, 350_000, "{moves:?}");
}

#[test]
fn a_stopped_child_is_left_to_its_operator() {
    // Regression (hardening #3): a grant took a child from black to green; a stop is lifted
    // by an operator (or a new period), never by the optimizer.
    let fx = org(96_000);
    assert_eq!(fx.status("org/a").verdict.level, Level::Black);
    let policy = OptimizerPolicy::default();
    assert!(grants(&fx, &policy, outlook(200_000, 0.99, 100)).is_empty());
    // An operator's own stop threshold is a stop too.
    let mut fx = org(0);
    let spec = AccountSpec {
        stop: Some(0.5),
        degrade: Some(0.45),
        throttle: Some(0.4),
        warn: Some(0.3),
        ..AccountSpec::default()
    };
    fx.apply(Command::UpsertAccount {
        path: path("org/a"),
        spec,
    })
    .unwrap();
    fx.usage("org/a", &[("tokens", 85_000)], None).unwrap();
    assert!(grants(&fx, &policy, outlook(200_000, 0.99, 100)).is_empty());
}

#[test]
fn a_drained_pool_makes_no_tail_of_tiny_grants() {
    // The demo showed grants of 146, 73, 36 ... 5 tokens, each half the last, as each pass may
    // hand out half of what the pool has left. Below 1 % of the child's limit a grant is made
    // only when it covers the whole need.
    let open = OptimizerPolicy {
        grant_pass_share_ppm: 1_000_000,
        ..OptimizerPolicy::default()
    };
    let mut fx = Fixture::default();
    fx.apply(Command::UpsertAccount {
        path: path("org"),
        spec: AccountSpec {
            limits: Some(named(&[("tokens", 200_900)])),
            reserve: Some(0.0),
            ..AccountSpec::default()
        },
    })
    .unwrap();
    fx.put("org/a", &[("tokens", 100_000)]).unwrap();
    fx.put("org/b", &[("tokens", 100_000)]).unwrap();
    fx.usage("org/a", &[("tokens", 90_000)], None).unwrap();
    // 900 left in the pool, under 1 % of a's limit, and a needs 100,000 more: no grant.
    let moves = grants(&fx, &open, outlook(200_000, 0.9, 20));
    assert!(moves.is_empty(), "{moves:?}");
    // The same 900 covering a need of 800 is granted.
    let moves = grants(&fx, &open, outlook(100_800, 0.9, 20));
    assert_eq!((moves[0].from, moves[0].to), (100_000, 100_800));
}
