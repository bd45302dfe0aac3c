//! Property tests of the ledger against a model: replay equals the live state; holds never take an
//! account past its stop threshold; retried idempotent reports count once; a parent's figures are
//! its own plus its children's.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use proptest::prelude::*;
use proptest::strategy::Strategy;
use purser_core::{Answer, Command, Ledger, LedgerLimits, ReserveRequest};

const AGENTS: [&str; 6] = [
    "org/a/w1", "org/a/w2", "org/a/w3", "org/b/w1", "org/b/w2", "org/b",
];
const ACCOUNTS: [&str; 9] = [
    "org", "org/a", "org/b", "org/a/w1", "org/a/w2", "org/a/w3", "org/b/w1", "org/b/w2", "org/c",
];

#[derive(Clone, Debug)]
enum Op {
    Usage {
        agent: usize,
        tokens: u64,
        key: Option<u8>,
    },
    Reserve {
        agent: usize,
        tokens: u64,
        ttl_ms: u64,
    },
    /// Settles the n-th open hold (modulo) for at most what it held, as a fraction in percent.
    Settle {
        hold: usize,
        percent: u64,
    },
    Void {
        hold: usize,
    },
    Advance {
        ms: u64,
    },
    Raise {
        agent: usize,
        tokens: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..AGENTS.len(), 0..3_000u64, proptest::option::of(0..6u8))
            .prop_map(|(agent, tokens, key)| Op::Usage { agent, tokens, key }),
        (0..AGENTS.len(), 1..20_000u64, 1..5_000u64).prop_map(|(agent, tokens, ttl_ms)| {
            Op::Reserve {
                agent,
                tokens,
                ttl_ms,
            }
        }),
        (0..8usize, 0..=100u64).prop_map(|(hold, percent)| Op::Settle { hold, percent }),
        (0..8usize).prop_map(|hold| Op::Void { hold }),
        (1..3_000u64).prop_map(|ms| Op::Advance { ms }),
        (0..AGENTS.len() - 1, 1_000..60_000u64)
            .prop_map(|(agent, tokens)| Op::Raise { agent, tokens }),
    ]
}

fn setup() -> Fixture {
    let mut fx = Fixture::default();
    fx.put("org", &[("tokens", 400_000)]).unwrap();
    fx.put("org/a", &[("tokens", 150_000)]).unwrap();
    fx.put("org/b", &[("tokens", 150_000)]).unwrap();
    fx.put("org/c", &[]).unwrap();
    for agent in ["org/a/w1", "org/a/w2", "org/a/w3", "org/b/w1", "org/b/w2"] {
        fx.put(agent, &[("tokens", 40_000)]).unwrap();
    }
    fx
}

/// What the test knows independently of the ledger.
#[derive(Default)]
struct Model {
    /// Tokens charged directly to each account (not through a child).
    direct: HashMap<&'static str, u64>,
    /// Open holds: reservation id, account, tokens, when it expires.
    holds: Vec<(u64, &'static str, u64, u64)>,
    keys_seen: HashSet<(usize, u8)>,
}

fn tokens_of(fx: &Fixture, path: &str) -> (u64, u64) {
    let (_, consumed, reserved) = fx.figure(path, "tokens");
    (consumed, reserved)
}

/// Invariant 1: a parent's figures are its own plus its children's.
fn check_sums(fx: &Fixture, model: &Model) {
    for path in ACCOUNTS {
        let status = fx.status(path);
        let own_direct = model.direct.get(path).copied().unwrap_or(0);
        let own_held: u64 = model
            .holds
            .iter()
            .filter(|(_, account, _, _)| *account == path)
            .map(|(_, _, tokens, _)| tokens)
            .sum();
        let (children_consumed, children_reserved) = status
            .children
            .iter()
            .map(|child| tokens_of(fx, &format!("{path}/{child}")))
            .fold((0, 0), |(c, r), (cc, cr)| (c + cc, r + cr));
        assert_eq!(
            tokens_of(fx, path),
            (own_direct + children_consumed, own_held + children_reserved),
            "figures of {path}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_model_and_replays_exactly(ops in proptest::collection::vec(op(), 1..160)) {
        let mut fx = setup();
        let mut model = Model::default();
        let midpoint = ops.len() / 2;
        let mut snapshot_at_midpoint = None;
        for (step, op) in ops.into_iter().enumerate() {
            if step == midpoint {
                snapshot_at_midpoint = Some((fx.ledger.to_snapshot(), fx.journal.len()));
            }
            match op {
                Op::Usage { agent, tokens, key } => {
                    let key_text = key.map(|k| format!("key-{k}"));
                    let answer = fx.usage(AGENTS[agent], &[("tokens", tokens)], key_text.as_deref()).unwrap();
                    let first = key.is_none_or(|k| model.keys_seen.insert((agent, k)));
                    // Invariant 3: a key already seen is counted once and answers duplicate.
                    prop_assert_eq!(answer.duplicate, !first);
                    if first {
                        *model.direct.entry(AGENTS[agent]).or_default() += tokens;
                    }
                }
                Op::Reserve { agent, tokens, ttl_ms } => {
                    if let Answer::Reserved(hold) = fx.reserve(AGENTS[agent], &[("tokens", tokens)], Some(ttl_ms)) {
                        model.holds.push((hold.reservation, AGENTS[agent], tokens, fx.now_ms + ttl_ms));
                    }
                }
                Op::Settle { hold, percent } if !model.holds.is_empty() => {
                    let (id, account, held, _) = model.holds.remove(hold % model.holds.len());
                    let used = held * percent / 100;
                    fx.settle(id, &[("tokens", used)]).unwrap();
                    *model.direct.entry(account).or_default() += used;
                }
                Op::Void { hold } if !model.holds.is_empty() => {
                    let (id, _, _, _) = model.holds.remove(hold % model.holds.len());
                    fx.apply(Command::Void { reservation: id }).unwrap();
                }
                Op::Advance { ms } => {
                    fx.now_ms += ms;
                    fx.apply(Command::ExpireDue).unwrap();
                    // The model's own clock: a hold is released once its time has come.
                    let now_ms = fx.now_ms;
                    model.holds.retain(|(_, _, _, expires_ms)| *expires_ms > now_ms);
                }
                Op::Raise { agent, tokens } => {
                    let (limit, _, _) = fx.figure(AGENTS[agent], "tokens");
                    // A raise may not fit in the pool: then it must change nothing.
                    let _ = fx.put(AGENTS[agent], &[("tokens", limit.unwrap_or(0) + tokens)]);
                }
                Op::Settle { .. } | Op::Void { .. } => {}
            }
            check_sums(&fx, &model);
        }
        // Invariant 5: replay of the journal gives the live state, byte for byte; so does the
        // midpoint snapshot plus the journal after it.
        fx.check_replay();
        if let Some((snapshot, n_events)) = snapshot_at_midpoint {
            let mut restored = Ledger::from_snapshot(snapshot, LedgerLimits::default());
            for (idx, event) in fx.journal.iter().enumerate().skip(n_events) {
                restored.replay(idx as u64 + 1, event.clone()).unwrap();
            }
            prop_assert_eq!(postcard::to_stdvec(&restored.to_snapshot()).unwrap(), postcard::to_stdvec(&fx.ledger.to_snapshot()).unwrap());
        }
    }

    /// Invariant 2 on its own: agents that spend only through holds, settling for at most what
    /// they held, never take any account on their path to its stop threshold, however they
    /// interleave.
    #[test]
    fn holds_never_reach_the_stop_threshold(requests in proptest::collection::vec((0..5usize, 1..15_000u64, 0..=100u64, any::<bool>()), 1..200)) {
        let mut fx = setup();
        let agents = ["org/a/w1", "org/a/w2", "org/a/w3", "org/b/w1", "org/b/w2"];
        let mut open: Vec<(u64, u64)> = Vec::new();
        for (agent, tokens, percent, settle_now) in requests {
            if let Answer::Reserved(hold) = fx.reserve(agents[agent], &[("tokens", tokens)], None) {
                open.push((hold.reservation, tokens));
            }
            if settle_now && !open.is_empty() {
                let (id, held) = open.remove(0);
                fx.settle(id, &[("tokens", held * percent / 100)]).unwrap();
            }
            for path in ACCOUNTS {
                let status = fx.status(path);
                for dim in &status.dims {
                    if let Some(limit) = dim.limit {
                        prop_assert!(
                            status.config.thresholds.below_stop(dim.consumed + dim.reserved, limit),
                            "{} at {} of {}", path, dim.consumed + dim.reserved, limit
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_forgotten_keyed_hold_leaves_a_snapshot_and_its_key_usable() {
    // Regression: forgetting a closed hold dropped its idempotency key from the remembered
    // answers but not from their order, and `to_snapshot` panicked on the missing answer.
    let limits = LedgerLimits {
        closed_reservations_max: 1,
        ..LedgerLimits::default()
    };
    let mut fx = Fixture {
        ledger: Ledger::new(limits),
        ..Fixture::default()
    };
    fx.put("acme", &[("tokens", 1_000)]).unwrap();
    let reserve = |fx: &mut Fixture, key: &str| {
        let request = ReserveRequest {
            account: path("acme"),
            amount: named(&[("tokens", 10)]),
            ttl_ms: None,
            idempotency_key: Some(key.to_string()),
        };
        match fx.apply(Command::Reserve(request)).unwrap() {
            Answer::Reserved(answer) => answer,
            other => panic!("reserve answered {other:?}"),
        }
    };
    let first = reserve(&mut fx, "k1");
    fx.apply(Command::Void {
        reservation: first.reservation,
    })
    .unwrap();
    let second = reserve(&mut fx, "k2");
    fx.apply(Command::Void {
        reservation: second.reservation,
    })
    .unwrap();
    // The first hold is forgotten: the snapshot holds, its key opens a new hold, which a retry
    // then finds.
    let _ = fx.ledger.to_snapshot();
    let again = reserve(&mut fx, "k1");
    assert!(!again.duplicate && again.reservation != first.reservation);
    assert_eq!(reserve(&mut fx, "k1").reservation, again.reservation);
    let mut replayed = Ledger::new(limits);
    for (idx, event) in fx.journal.iter().enumerate() {
        replayed.replay(idx as u64 + 1, event.clone()).unwrap();
    }
    let restored = Ledger::from_snapshot(fx.ledger.to_snapshot(), limits);
    let live = postcard::to_stdvec(&fx.ledger.to_snapshot()).unwrap();
    assert_eq!(postcard::to_stdvec(&replayed.to_snapshot()).unwrap(), live);
    assert_eq!(postcard::to_stdvec(&restored.to_snapshot()).unwrap(), live);
}
