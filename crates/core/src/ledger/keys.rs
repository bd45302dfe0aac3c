//! The remembered answers of idempotency keys. The keys and answers live in a ring in the order
//! they were first seen (the oldest is forgotten first once the bound is reached); a hash table
//! of 16-byte entries (hash, stamp) finds them. A key is hashed once per lookup and looked up
//! by `&str`, so asking costs no allocation, and growing the table moves 16 bytes per key, not
//! the answers.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::Remembered;
use crate::account::AccountId;

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    hash: u64,
    account: AccountId,
    key: Arc<str>,
    answer: Remembered,
}

/// The remembered keys, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    /// (hash, stamp) per key; the stamp is the key's place in the ring counted from the first
    /// key ever remembered.
    table: HashTable<(u64, u64)>,
    ring: VecDeque<Entry>,
    /// The stamp of `ring[0]`.
    first_stamp: u64,
}

fn hash_of(account: AccountId, key: &str) -> u64 {
    let mut hasher = FxBuildHasher.build_hasher();
    account.0.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

impl Keys {
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    fn stamp_of(&self, hash: u64, account: AccountId, key: &str) -> Option<u64> {
        self.table
            .find(hash, |&(entry_hash, stamp)| {
                let entry = &self.ring[(stamp - self.first_stamp) as usize];
                entry_hash == hash && entry.account == account && *entry.key == *key
            })
            .map(|&(_, stamp)| stamp)
    }

    pub(crate) fn get(&self, account: AccountId, key: &str) -> Option<&Remembered> {
        let stamp = self.stamp_of(hash_of(account, key), account, key)?;
        Some(&self.ring[(stamp - self.first_stamp) as usize].answer)
    }

    /// Remembers `answer` under `key`, then forgets the oldest beyond `max`. A key already
    /// remembered (a retried hold whose first was forgotten) takes the new answer and keeps its
    /// place.
    pub(crate) fn insert(
        &mut self,
        account: AccountId,
        key: Arc<str>,
        answer: Remembered,
        max: usize,
    ) {
        let hash = hash_of(account, &key);
        if let Some(stamp) = self.stamp_of(hash, account, &key) {
            self.ring[(stamp - self.first_stamp) as usize].answer = answer;
        } else {
            let stamp = self.first_stamp + self.ring.len() as u64;
            self.table
                .insert_unique(hash, (hash, stamp), |&(hash, _)| hash);
            self.ring.push_back(Entry {
                hash,
                account,
                key,
                answer,
            });
        }
        while self.ring.len() > max {
            let Some(oldest) = self.ring.pop_front() else {
                break;
            };
            let stamp = self.first_stamp;
            self.first_stamp += 1;
            if let Ok(entry) = self
                .table
                .find_entry(oldest.hash, |&(_, entry_stamp)| entry_stamp == stamp)
            {
                entry.remove();
            }
        }
    }

    /// Every remembered key, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (AccountId, &Arc<str>, &Remembered)> + '_ {
        self.ring
            .iter()
            .map(|entry| (entry.account, &entry.key, &entry.answer))
    }
}

impl PartialEq for Keys {
    fn eq(&self, other: &Keys) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(mine, theirs)| mine == theirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_forgotten_first_and_a_first_answer_stays() {
        let mut keys = Keys::default();
        for idx in 0..5u64 {
            keys.insert(
                AccountId(1),
                Arc::from(format!("k{idx}")),
                Remembered::Reservation(idx),
                3,
            );
        }
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get(AccountId(1), "k0"), None);
        assert_eq!(keys.get(AccountId(1), "k1"), None);
        assert_eq!(
            keys.get(AccountId(1), "k2"),
            Some(&Remembered::Reservation(2))
        );
        // The same key on another account is another key.
        assert_eq!(keys.get(AccountId(2), "k2"), None);
        let order: Vec<_> = keys.iter().map(|(_, key, _)| key.to_string()).collect();
        assert_eq!(order, ["k2", "k3", "k4"]);
        // Remembering a known key again keeps its place and takes the new answer.
        keys.insert(AccountId(1), Arc::from("k2"), Remembered::Reservation(9), 3);
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys.get(AccountId(1), "k2"),
            Some(&Remembered::Reservation(9))
        );
        let order: Vec<_> = keys.iter().map(|(_, key, _)| key.to_string()).collect();
        assert_eq!(order, ["k2", "k3", "k4"]);
    }

    #[test]
    fn many_keys_stay_within_the_bound() {
        let mut keys = Keys::default();
        for idx in 0..10_000u64 {
            keys.insert(
                AccountId((idx % 7) as u32),
                Arc::from(format!("key-{idx}")),
                Remembered::Reservation(idx),
                1_000,
            );
        }
        assert_eq!(keys.len(), 1_000);
        for idx in 9_000..10_000u64 {
            let account = AccountId((idx % 7) as u32);
            assert_eq!(
                keys.get(account, &format!("key-{idx}")),
                Some(&Remembered::Reservation(idx))
            );
        }
        assert_eq!(keys.iter().count(), 1_000);
    }
}
