//! What the ledger's audit entries share: names resolved against the ledger, and an entry of a
//! committed event.

use std::borrow::Cow;

use purser_core::{AccountId, Amounts, DimId, Ledger};
use serde_json::{Value, json};

use super::AuditEntry;
use crate::time::rfc3339;

/// Names of accounts and dimensions as the ledger holds them.
pub(super) struct Names<'a> {
    pub(super) ledger: &'a Ledger,
}

impl Names<'_> {
    pub(super) fn path(&self, account: AccountId) -> String {
        self.ledger.account(account).path.to_string()
    }

    pub(super) fn dim(&self, dim: DimId) -> String {
        self.ledger.dimensions().name(dim).to_string()
    }

    pub(super) fn amounts(&self, amounts: &Amounts) -> Value {
        amounts
            .iter()
            .map(|(dim, value)| (self.dim(dim), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

pub(super) fn entry(
    seq: u64,
    at_ms: u64,
    kind: &'static str,
    account: String,
    actor: &'static str,
    reason: String,
    data: Value,
) -> AuditEntry {
    AuditEntry {
        seq,
        at: rfc3339(at_ms),
        kind,
        account: Some(account),
        actor: Cow::Borrowed(actor),
        reason,
        data,
        streamed: true,
        level: None,
    }
}
