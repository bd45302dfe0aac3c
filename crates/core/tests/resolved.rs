//! Reports that arrive resolved (an account id and interned well-known dimensions, as the
//! engine's request tasks send them) charge exactly what the same report by text charges, and
//! an id that no longer names an open account falls back to the path.

mod common;

use common::*;
use purser_core::amount::well_known;
use purser_core::*;

fn resolved(text: &str, hint: Option<AccountId>, usage: &[(&str, u64)]) -> UsageReport {
    UsageReport {
        account: path(text),
        account_id: hint,
        usage: Spend::known(
            usage
                .iter()
                .map(|(name, value)| (well_known(name).expect("well-known"), *value)),
        ),
        operation: None,
        work_units: 1,
        idempotency_key: None,
    }
}

#[test]
fn a_resolved_report_charges_what_the_same_report_by_text_charges() {
    let mut by_text = Fixture::default();
    let mut by_id = Fixture::default();
    for fixture in [&mut by_text, &mut by_id] {
        fixture.put("org", &[("tokens", 10_000)]).unwrap();
        fixture.put("org/agent", &[("tokens", 1_000)]).unwrap();
    }
    let id = by_id.ledger.lookup("org/agent");
    for tokens in [100, 300, 450] {
        let text = by_text
            .usage("org/agent", &[("tokens", tokens), ("cost_micros", 7)], None)
            .unwrap();
        let report = resolved("org/agent", id, &[("cost_micros", 7), ("tokens", tokens)]);
        let Answer::Usage(resolved) = by_id.apply(Command::Usage(report)).unwrap() else {
            panic!("a usage report answers usage");
        };
        assert_eq!(text, resolved);
    }
    assert_eq!(by_text.journal, by_id.journal);
}

#[test]
fn an_id_of_a_closed_account_falls_back_to_the_path() {
    let mut fixture = Fixture::default();
    fixture.put("org", &[("tokens", 10_000)]).unwrap();
    fixture.put("org/agent", &[("tokens", 1_000)]).unwrap();
    let old = fixture.ledger.lookup("org/agent").unwrap();
    fixture
        .apply(Command::CloseAccount {
            path: path("org/agent"),
        })
        .unwrap();
    // Closed and not reopened: the stale id is not trusted, the path names nothing.
    let report = resolved("org/agent", Some(old), &[("tokens", 5)]);
    assert!(matches!(
        fixture.apply(Command::Usage(report)),
        Err(LedgerError::AccountNotFound { .. })
    ));
    // Reopened under a new id: the stale id leads to the new account through its path.
    fixture.put("org/agent", &[("tokens", 1_000)]).unwrap();
    let new = fixture.ledger.lookup("org/agent").unwrap();
    assert_ne!(old, new);
    let report = resolved("org/agent", Some(old), &[("tokens", 5)]);
    fixture.apply(Command::Usage(report)).unwrap();
    let tokens = well_known("tokens").unwrap();
    assert_eq!(
        fixture.ledger.account(new).slot(tokens).unwrap().consumed,
        5
    );
    assert_eq!(
        fixture.ledger.account(old).slot(tokens).unwrap().consumed,
        0
    );
}

#[test]
fn an_unknown_dimension_id_is_refused_and_nothing_is_written() {
    let mut fixture = Fixture::default();
    fixture.put("org", &[("tokens", 10_000)]).unwrap();
    let report = UsageReport {
        account: path("org"),
        account_id: None,
        usage: Spend::known([(DimId(200), 1)]),
        operation: None,
        work_units: 1,
        idempotency_key: None,
    };
    let err = fixture.apply(Command::Usage(report)).unwrap_err();
    assert!(err.to_string().contains("dimension id 200"), "{err}");
}

#[test]
fn a_spend_splits_well_known_names_from_custom_ones_and_the_last_value_wins() {
    let spend = Spend::from_named(vec![
        ("gpu_seconds".into(), 3),
        ("tokens".into(), 1),
        ("cost_micros".into(), 2),
        ("tokens".into(), 4),
    ]);
    assert_eq!(
        spend.known.iter().collect::<Vec<_>>(),
        vec![(DimId(0), 4), (DimId(1), 2)]
    );
    assert_eq!(spend.custom, vec![("gpu_seconds".to_string(), 3)]);
    assert_eq!(spend.len(), 3);
}
