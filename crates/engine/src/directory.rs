//! Account paths to ids, published by the writer for the request tasks: a report's path is
//! hashed and looked up on the task that read it (in parallel, off the writer's thread), and the
//! writer receives the id. The writer trusts an id only while its account is open
//! (`Ledger::resolve_hinted`), so a stale entry costs a lookup by path, never a wrong charge.

use std::sync::{Arc, RwLock};

use purser_core::{AccountId, Event, Ledger};
use rustc_hash::FxHashMap;

use crate::record::Record;

/// The published map. Reads take a shared lock; the writer takes it once per batch that
/// opened or closed accounts.
#[derive(Debug, Default)]
pub struct Directory {
    ids: RwLock<FxHashMap<Arc<str>, AccountId>>,
}

impl Directory {
    /// Every open account of `ledger`.
    pub fn of(ledger: &Ledger) -> Directory {
        let ids = ledger
            .paths()
            .map(|(path, id)| (path.clone(), id))
            .collect();
        Directory {
            ids: RwLock::new(ids),
        }
    }

    /// Publishes every open account of `ledger` anew (after a standby folded accounts opened
    /// or closed by its leader, or a recovery in place).
    pub(crate) fn replace_all(&self, ledger: &Ledger) {
        let fresh = Directory::of(ledger);
        if let (Ok(mut ids), Ok(fresh)) = (self.ids.write(), fresh.ids.into_inner()) {
            *ids = fresh;
        }
    }

    /// The id `path` had when last published.
    pub fn lookup(&self, path: &str) -> Option<AccountId> {
        // A poisoned lock means the writer panicked while publishing: answer nothing, the
        // writer resolves by path.
        self.ids.read().ok()?.get(path).copied()
    }

    /// Publishes the accounts `records` opened and closed (already applied to `ledger`).
    pub(crate) fn publish(&self, ledger: &Ledger, records: &[Record]) {
        let mut changed = records.iter().filter_map(|record| match record {
            Record::Ledger(Event::AccountOpened { path, .. }) => Some(path.as_str()),
            Record::Ledger(Event::AccountClosed { account, .. }) => {
                Some(ledger.account(*account).path.as_str())
            }
            _ => None,
        });
        let Some(first) = changed.next() else { return };
        let Ok(mut ids) = self.ids.write() else {
            return;
        };
        for path in std::iter::once(first).chain(changed) {
            match ledger.lookup(path) {
                Some(id) => {
                    ids.insert(ledger.account(id).path.shared(), id);
                }
                None => {
                    ids.remove(path);
                }
            }
        }
    }
}
