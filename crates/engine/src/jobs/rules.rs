//! Increase requests read from the engine: the listing and one request, under a caller's scope.

use purser_core::LedgerError;
use purser_core::ledger::request_name;

use super::{Answer, Engine, Op};
use crate::error::EngineError;
use crate::scope::Scope;
use crate::state::EngineState;
use crate::view::rules::{RequestView, request};

impl Engine {
    /// Increase requests, newest first, those `scope` covers, at most `max`.
    pub async fn requests(
        &self,
        pending_only: bool,
        scope: Scope,
        max: usize,
    ) -> Answer<Vec<RequestView>> {
        self.ask(|reply| Op::Requests(pending_only, scope, max, reply))
            .await
    }

    pub async fn request(&self, id: u64, scope: Scope) -> Answer<RequestView> {
        self.ask(|reply| Op::Request(id, scope, reply)).await?
    }
}

impl EngineState {
    pub(super) fn increase_requests(
        &self,
        pending_only: bool,
        scope: &Scope,
        max: usize,
    ) -> Vec<RequestView> {
        self.ledger
            .increase_requests(pending_only)
            .filter(|(_, found)| scope.covers(self.ledger.account(found.account).path.as_str()))
            .take(max)
            .map(|(id, found)| request(&self.ledger, id, found))
            .collect()
    }

    /// One request; one outside `scope` is not found, as one that does not exist.
    pub(super) fn increase_request(&self, id: u64, scope: &Scope) -> Answer<RequestView> {
        self.ledger
            .increase_request(id)
            .filter(|found| scope.covers(self.ledger.account(found.account).path.as_str()))
            .map(|found| request(&self.ledger, id, found))
            .ok_or_else(|| {
                EngineError::Ledger(LedgerError::RequestNotFound {
                    id: request_name(id),
                })
            })
    }
}
