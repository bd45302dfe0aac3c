//! Dimensions and amounts: what is counted, as integers.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The dimensions every ledger knows, in the order of their ids.
pub const WELL_KNOWN: [&str; 8] = [
    "tokens",
    "cost_micros",
    "time_ms",
    "requests",
    "cpu_millis",
    "memory_bytes",
    "gpu",
    "slots",
];

/// The most dimensions a ledger tracks; custom names beyond it are refused.
pub const DIMENSIONS_MAX: usize = 256;
/// The most dimensions one amount map may name.
pub const AMOUNT_DIMENSIONS_MAX: usize = 32;

/// A dimension, interned: an index into the ledger's [`Dimensions`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct DimId(pub u16);

/// Checks a dimension name: `[a-z][a-z0-9_]{0,31}`.
pub fn check_dimension_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 32
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "dimension {name:?} must match [a-z][a-z0-9_]{{0,31}}"
        ))
    }
}

/// The interned dimension names of one ledger. Ids are handed out in order and never reused, so a
/// replay of the journal hands out the same ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Dimensions {
    names: Vec<Arc<str>>,
    custom: FxHashMap<Arc<str>, DimId>,
}

impl Default for Dimensions {
    fn default() -> Self {
        Dimensions {
            names: WELL_KNOWN.iter().map(|name| Arc::from(*name)).collect(),
            custom: FxHashMap::default(),
        }
    }
}

impl Dimensions {
    pub fn lookup(&self, name: &str) -> Option<DimId> {
        well_known(name).or_else(|| self.custom.get(name).copied())
    }

    pub fn name(&self, dim: DimId) -> &Arc<str> {
        &self.names[dim.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Adds a custom name; the caller has checked it is new, valid and within the limit.
    pub(crate) fn add(&mut self, name: &str) -> DimId {
        let dim = DimId(self.names.len() as u16);
        let shared: Arc<str> = Arc::from(name);
        self.names.push(shared.clone());
        self.custom.insert(shared, dim);
        dim
    }

    pub(crate) fn custom_names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.names[WELL_KNOWN.len()..].iter()
    }
}

/// Dimensions one amount map holds without a heap allocation: a report names one to three.
pub const AMOUNT_INLINE: usize = 3;

/// An amount per dimension, sorted by dimension, each dimension once. Zero entries are kept: a
/// limit of zero is a limit. Up to [`AMOUNT_INLINE`] dimensions live inline (no allocation on
/// the hot path); it encodes exactly as a `Vec` of pairs would, so journals do not change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts(SmallVec<[(DimId, u64); AMOUNT_INLINE]>);

impl Amounts {
    pub fn new() -> Amounts {
        Amounts(SmallVec::new())
    }

    /// Builds from pairs in any order; a dimension named twice keeps the last value.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (DimId, u64)>) -> Amounts {
        let mut pairs: SmallVec<[(DimId, u64); AMOUNT_INLINE]> = pairs.into_iter().collect();
        // Stable: of a dimension named twice, the later pair stays last and wins below.
        pairs.sort_by_key(|(dim, _)| *dim);
        pairs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        Amounts(pairs)
    }

    pub fn get(&self, dim: DimId) -> Option<u64> {
        self.0
            .iter()
            .find(|(d, _)| *d == dim)
            .map(|(_, value)| *value)
    }

    pub fn set(&mut self, dim: DimId, value: u64) {
        match self.0.binary_search_by_key(&dim, |(d, _)| *d) {
            Ok(idx) => self.0[idx].1 = value,
            Err(idx) => self.0.insert(idx, (dim, value)),
        }
    }

    /// The pairs, sorted by dimension.
    pub fn into_inner(self) -> SmallVec<[(DimId, u64); AMOUNT_INLINE]> {
        self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = (DimId, u64)> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An amount map as it comes from outside, names not yet interned. Values are already checked
/// non-negative integers (the wire layer rejects the rest).
pub type NamedAmounts = Vec<(String, u64)>;

/// Usage as a request carries it: the well-known dimensions already interned where the request
/// was read (on the request's task, off the writer's thread), other names as text for the
/// ledger to intern. Ids in `known` are checked by the ledger before they are trusted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spend {
    pub known: Amounts,
    pub custom: NamedAmounts,
}

impl Spend {
    /// Interns the well-known names of `named`; a dimension named twice keeps the last value.
    pub fn from_named(named: NamedAmounts) -> Spend {
        let mut known = SmallVec::<[(DimId, u64); AMOUNT_INLINE]>::new();
        let mut custom = Vec::new();
        for (name, value) in named {
            match well_known(&name) {
                Some(dim) => known.push((dim, value)),
                None => custom.push((name, value)),
            }
        }
        Spend {
            known: Amounts::from_pairs(known),
            custom,
        }
    }

    /// Usage in well-known dimensions only.
    pub fn known(pairs: impl IntoIterator<Item = (DimId, u64)>) -> Spend {
        Spend {
            known: Amounts::from_pairs(pairs),
            custom: Vec::new(),
        }
    }

    /// How many dimensions it names.
    pub fn len(&self) -> usize {
        self.known.len() + self.custom.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<(String, u64)> for Spend {
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(pairs: I) -> Spend {
        Spend::from_named(pairs.into_iter().collect())
    }
}

impl From<NamedAmounts> for Spend {
    fn from(named: NamedAmounts) -> Spend {
        Spend::from_named(named)
    }
}

/// The id of a well-known dimension: the same in every ledger. Matched without hashing: they
/// are nearly every name on the hot path.
pub fn well_known(name: &str) -> Option<DimId> {
    let known = match name {
        "tokens" => 0,
        "cost_micros" => 1,
        "time_ms" => 2,
        "requests" => 3,
        "cpu_millis" => 4,
        "memory_bytes" => 5,
        "gpu" => 6,
        "slots" => 7,
        _ => return None,
    };
    Some(DimId(known))
}

/// `30000` as `30,000`, for people.
pub fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, ch) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids_match_their_order() {
        let dims = Dimensions::default();
        for (idx, name) in WELL_KNOWN.iter().enumerate() {
            assert_eq!(dims.lookup(name), Some(DimId(idx as u16)));
            assert_eq!(&**dims.name(DimId(idx as u16)), *name);
        }
        assert_eq!(dims.lookup("gpu_hours"), None);
    }

    #[test]
    fn dimension_names() {
        for (name, ok) in [
            ("tokens", true),
            ("gpu_hours", true),
            ("a", true),
            ("", false),
            ("Tokens", false),
            ("1x", false),
            ("a-b", false),
            (&"a".repeat(32), true),
            (&"a".repeat(33), false),
        ] {
            assert_eq!(check_dimension_name(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn amounts_sorted_and_deduplicated() {
        let amounts = Amounts::from_pairs(vec![(DimId(3), 1), (DimId(0), 5), (DimId(3), 7)]);
        assert_eq!(
            amounts.iter().collect::<Vec<_>>(),
            vec![(DimId(0), 5), (DimId(3), 7)]
        );
        let mut amounts = amounts;
        amounts.set(DimId(1), 2);
        assert_eq!(amounts.get(DimId(1)), Some(2));
        assert_eq!(amounts.len(), 3);
    }

    #[test]
    fn digits_are_grouped_by_three() {
        for (value, expected) in [(0, "0"), (999, "999"), (1000, "1,000"), (30000, "30,000")] {
            assert_eq!(group_digits(value), expected);
        }
        assert_eq!(group_digits(1_234_567), "1,234,567");
    }
}
