//! Views of the core's answers with names resolved (account paths, dimension names): what the
//! engine hands back to its callers. Built on the engine thread, the only one that reads the
//! ledger and the DAGs; the server turns them into wire types, the CLI and tests read them.

pub mod account;
pub mod dag;
pub mod manage;
pub mod metrics;
pub mod rules;

use std::collections::BTreeMap;

/// Amounts by dimension name.
pub type AmountsByName = BTreeMap<String, u64>;

/// Amounts with their dimensions named.
pub fn amounts(ledger: &purser_core::Ledger, amounts: &purser_core::Amounts) -> AmountsByName {
    amounts
        .iter()
        .map(|(dim, value)| (ledger.dimensions().name(dim).to_string(), value))
        .collect()
}
