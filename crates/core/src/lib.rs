//! The pure core of Purser: accounts in a tree, budgets in many dimensions, usage, reservations,
//! the enforcement ladder and the allocation strategies.
//!
//! Main types: [`Ledger`] (the state; [`Ledger::apply`] decides a [`Command`] at a given time and
//! folds the [`Event`]s it decided; [`Ledger::replay`] folds journaled events), [`AccountPath`],
//! [`Amounts`], [`Level`] and [`Action`].
//!
//! By design this crate does no I/O, reads no clock and no environment, spawns nothing and knows
//! no wire format: time comes in as milliseconds, and serde derives are here only so that the
//! shell can pick an encoding. Its dependencies are serde, thiserror and rustc-hash.

pub mod account;
pub mod allocate;
pub mod amount;
pub mod command;
pub mod error;
pub mod event;
pub mod foresight;
pub mod ledger;
pub mod level;
pub mod optimize;
pub mod path;
pub mod report;
pub mod rules;
pub mod trace;
pub mod watch;

pub use account::{AccountConfig, AccountId};
pub use allocate::Strategy;
pub use amount::{Amounts, DimId, NamedAmounts, Spend};
pub use command::*;
pub use error::LedgerError;
pub use event::Event;
pub use ledger::{
    AccountStatus, DimFigures, Ledger, LedgerLimits, LedgerSnapshot, LedgerSnapshotBeforeRules,
    ReplayError,
};
pub use level::{Action, Level, Thresholds, action_for};
pub use path::AccountPath;
