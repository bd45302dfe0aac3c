//! A small driver for the ledger in tests: paths as text, amounts as `tokens=N` pairs.
#![allow(dead_code)]

use purser_core::*;

pub struct Fixture {
    pub ledger: Ledger,
    pub now_ms: u64,
    pub journal: Vec<Event>,
}

pub fn path(text: &str) -> AccountPath {
    AccountPath::parse(text).unwrap()
}

pub fn named(pairs: &[(&str, u64)]) -> NamedAmounts {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), *value))
        .collect()
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            ledger: Ledger::default(),
            now_ms: 1_000_000,
            journal: Vec::new(),
        }
    }
}

impl Fixture {
    pub fn apply(&mut self, command: Command) -> Result<Answer, LedgerError> {
        let before = self.journal.len();
        let answer = self.ledger.apply(command, self.now_ms, &mut self.journal);
        if answer.is_err() {
            assert_eq!(self.journal.len(), before, "a refused command wrote events");
        }
        answer
    }

    pub fn put(&mut self, text: &str, limits: &[(&str, u64)]) -> Result<Answer, LedgerError> {
        let spec = AccountSpec {
            limits: Some(named(limits)),
            ..AccountSpec::default()
        };
        self.apply(Command::UpsertAccount {
            path: path(text),
            spec,
        })
    }

    pub fn usage(
        &mut self,
        text: &str,
        usage: &[(&str, u64)],
        key: Option<&str>,
    ) -> Result<UsageAnswer, LedgerError> {
        let report = UsageReport {
            account_id: None,
            account: path(text),
            usage: named(usage).into(),
            operation: None,
            work_units: 1,
            idempotency_key: key.map(str::to_string),
        };
        match self.apply(Command::Usage(report))? {
            Answer::Usage(answer) => Ok(answer),
            other => panic!("usage answered {other:?}"),
        }
    }

    pub fn reserve(&mut self, text: &str, amount: &[(&str, u64)], ttl_ms: Option<u64>) -> Answer {
        let request = ReserveRequest {
            account: path(text),
            amount: named(amount),
            ttl_ms,
            idempotency_key: None,
        };
        self.apply(Command::Reserve(request)).unwrap()
    }

    pub fn settle(
        &mut self,
        reservation: u64,
        usage: &[(&str, u64)],
    ) -> Result<UsageAnswer, LedgerError> {
        let request = SettleRequest {
            reservation,
            usage: named(usage),
            operation: None,
            work_units: 1,
        };
        match self.apply(Command::Settle(request))? {
            Answer::Usage(answer) => Ok(answer),
            other => panic!("settle answered {other:?}"),
        }
    }

    pub fn status(&self, text: &str) -> AccountStatus {
        self.ledger.status(self.ledger.lookup(text).unwrap())
    }

    pub fn figure(&self, text: &str, dim: &str) -> (Option<u64>, u64, u64) {
        let status = self.status(text);
        let figures = status.dims.iter().find(|d| &*d.name == dim).cloned();
        figures.map_or((None, 0, 0), |d| (d.limit, d.consumed, d.reserved))
    }

    /// Replays the journal into a fresh ledger and checks it equals this one, byte for byte.
    pub fn check_replay(&self) {
        let mut replayed = Ledger::new(LedgerLimits::default());
        for (idx, event) in self.journal.iter().enumerate() {
            replayed.replay(idx as u64 + 1, event.clone()).unwrap();
        }
        assert!(replayed.replay_settled());
        let live = postcard::to_stdvec(&self.ledger.to_snapshot()).unwrap();
        let again = postcard::to_stdvec(&replayed.to_snapshot()).unwrap();
        assert_eq!(live, again, "replay differs from the live state");
    }
}
