//! Operators and agents using budget rules on the usage agents (never on the holds subtree,
//! whose agents must never reach a stop): rules set and replaced (shadow mode, pause at stop,
//! run caps with loops, one-time expiries the clock halts), new runs, manual resets, and
//! increase requests asked, then approved or rejected.

use std::sync::Arc;

use purser_core::ledger::RulesSpec;
use purser_core::rules::{LoopRule, RunCaps, WarnOnly};
use purser_core::{AccountSpec, Command, Level};
use purser_engine::Op;
use tokio::sync::oneshot;

use super::Sim;
use super::clients::Pending;

impl Sim {
    pub(super) fn rules_op(&mut self) -> Option<(Op, Pending)> {
        let account = self.rng.pick(&self.agents)?.clone();
        let (reply, answer) = oneshot::channel();
        let command = match self.rng.range(0, 6) {
            0 | 1 => {
                let mut warn_only = WarnOnly::default();
                for level in [Level::Orange, Level::Red, Level::Black] {
                    if self.rng.chance(200) {
                        warn_only = warn_only.with(level);
                    }
                }
                let loops = self.rng.chance(500).then(|| LoopRule {
                    repeats: self.rng.range(2, 6) as u32,
                    window_ms: self.rng.range(1_000, 30_000),
                    stop: self.rng.chance(500),
                });
                let rules = RulesSpec {
                    warn_only,
                    child_defaults: None,
                    expires_ms: self
                        .rng
                        .chance(100)
                        .then(|| self.now_ms + self.rng.range(0, 120_000)),
                    pause_at_stop: self.rng.chance(300),
                    run: self.rng.chance(700).then(|| RunCaps {
                        max_turns: self.rng.chance(600).then(|| self.rng.range(1, 300)),
                        max_wall_ms: self.rng.chance(400).then(|| self.rng.range(1_000, 300_000)),
                        loops,
                    }),
                };
                Command::UpsertAccount {
                    path: account,
                    spec: AccountSpec {
                        rules: Some(Box::new(rules)),
                        ..AccountSpec::default()
                    },
                }
            }
            2 => Command::StartRun { path: account },
            3 => Command::ResetUsage { path: account },
            4 => Command::RequestIncrease {
                path: account,
                amount: vec![("tokens".into(), self.rng.range(1_000, 500_000))],
                reason: "the simulation asks".into(),
                // Sometimes a retry of an earlier ask: it must find that request.
                idempotency_key: Some(format!("ask-{}", self.rng.range(0, 20))),
            },
            _ => {
                if self.requests.is_empty() {
                    return None;
                }
                let idx = self.rng.range(0, self.requests.len() as u64) as usize;
                let request = self.requests.swap_remove(idx);
                Command::DecideIncrease {
                    request,
                    approve: self.rng.chance(600),
                    note: String::new(),
                }
            }
        };
        Some((
            Op::Manage(command, Arc::from("operator"), reply),
            Pending::Request(answer),
        ))
    }
}
