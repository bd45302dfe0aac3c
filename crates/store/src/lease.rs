//! One leader per shard: a lease held in the shared store, with an epoch that only grows.
//!
//! The lease is a row `(shard, owner, epoch, expires_at, address)`. A process takes it only once
//! it has expired, and taking it bumps the epoch; the holder renews it well inside its TTL. The
//! lease alone does not make a leader safe (a paused process still believes it leads), the epoch
//! does: every append checks, in the same transaction, that the appender's epoch is still the
//! lease's, so a stale leader's commit is refused (`StoreError::Fenced`) once another took over.
//!
//! [`Leases`] is the table (PostgreSQL's [`crate::PostgresLeases`], or a model in the simulation
//! test), [`LeaseKeeper`] the one process's side of the protocol (standby, acquire, renew, step
//! down) that the server runs and the simulation drives, and [`Epoch`] the cell through which the
//! keeper tells the journal which epoch it appends under.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

/// The epoch this process appends under, shared by the lease keeper and the journal; empty
/// while the process is a standby (its appends are then refused).
#[derive(Clone, Debug, Default)]
pub struct Epoch(Arc<AtomicU64>);

impl Epoch {
    pub fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            epoch => Some(epoch),
        }
    }

    pub fn set(&self, epoch: Option<u64>) {
        self.0.store(epoch.unwrap_or(0), Ordering::Release);
    }
}

/// Who holds a shard's lease, as the table says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    pub shard: String,
    pub owner: String,
    pub epoch: u64,
    /// Where the holder serves (its advertised URL), for redirects.
    pub address: String,
    /// False once the lease expired unrenewed: anyone may take it.
    pub live: bool,
}

/// The lease table. Times are the store's own clock (PostgreSQL's `now()`), never a process's.
pub trait Leases {
    /// Takes the shard's lease if nobody holds it or it expired, bumping the epoch; answers the
    /// new epoch, or `None` while another holds it.
    fn try_acquire(
        &mut self,
        shard: &str,
        owner: &str,
        address: &str,
        ttl_ms: u64,
    ) -> Result<Option<u64>, StoreError>;

    /// Extends the lease by `ttl_ms` from now if `owner` still holds it at `epoch` (even
    /// expired, as long as nobody took it); false otherwise.
    fn renew(
        &mut self,
        shard: &str,
        owner: &str,
        epoch: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError>;

    /// Lets the lease expire now, if `owner` holds it at `epoch` (a clean shutdown: the standby
    /// takes over without waiting for the TTL).
    fn release(&mut self, shard: &str, owner: &str, epoch: u64) -> Result<(), StoreError>;

    /// Every shard's holder.
    fn holders(&mut self) -> Result<Vec<LeaseHolder>, StoreError>;
}

/// What a round of the keeper changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    Stay,
    /// This process now holds the lease at `epoch`: catch up with the journal, then lead.
    Promoted {
        epoch: u64,
    },
    /// This process no longer leads: stop accepting writes and follow.
    Demoted {
        epoch: u64,
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Standby,
    Leader { epoch: u64, renewed_at_ms: u64 },
}

/// One process's side of the lease protocol for one shard.
#[derive(Clone, Debug)]
pub struct LeaseKeeper {
    shard: String,
    owner: String,
    address: String,
    ttl_ms: u64,
    role: Role,
}

impl LeaseKeeper {
    /// A standby for `shard`; `owner` must be unique to this process (host, pid and a random
    /// part), `address` is where it serves.
    pub fn new(shard: &str, owner: &str, address: &str, ttl_ms: u64) -> LeaseKeeper {
        LeaseKeeper {
            shard: shard.to_owned(),
            owner: owner.to_owned(),
            address: address.to_owned(),
            ttl_ms: ttl_ms.max(1),
            role: Role::Standby,
        }
    }

    pub fn shard(&self) -> &str {
        &self.shard
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The epoch this process leads under, if it leads.
    pub fn epoch(&self) -> Option<u64> {
        match self.role {
            Role::Leader { epoch, .. } => Some(epoch),
            Role::Standby => None,
        }
    }

    /// How long between rounds: a leader renews four times per TTL, a standby looks as often.
    pub fn interval_ms(&self) -> u64 {
        (self.ttl_ms / 4).clamp(1, 2_000)
    }

    /// One round at this process's monotonic time `now_ms`: a standby tries to take the lease,
    /// a leader renews it. A leader whose renewal is refused steps down at once; one that cannot
    /// reach the store steps down once a whole TTL passed since its last renewal (its appends
    /// are fenced anyway once another takes over).
    pub fn round(&mut self, leases: &mut dyn Leases, now_ms: u64) -> Transition {
        match self.role {
            Role::Standby => {
                match leases.try_acquire(&self.shard, &self.owner, &self.address, self.ttl_ms) {
                    Ok(Some(epoch)) => {
                        self.role = Role::Leader {
                            epoch,
                            renewed_at_ms: now_ms,
                        };
                        Transition::Promoted { epoch }
                    }
                    Ok(None) | Err(_) => Transition::Stay,
                }
            }
            Role::Leader {
                epoch,
                renewed_at_ms,
            } => match leases.renew(&self.shard, &self.owner, epoch, self.ttl_ms) {
                Ok(true) => {
                    self.role = Role::Leader {
                        epoch,
                        renewed_at_ms: now_ms,
                    };
                    Transition::Stay
                }
                Ok(false) => self.demote(epoch, "the lease moved to another process".into()),
                Err(err) if now_ms.saturating_sub(renewed_at_ms) >= self.ttl_ms => {
                    self.demote(epoch, format!("the lease could not be renewed: {err}"))
                }
                Err(_) => Transition::Stay,
            },
        }
    }

    /// The journal refused an append on the epoch: step down without asking the table.
    pub fn fenced(&mut self) -> Transition {
        match self.role {
            Role::Leader { epoch, .. } => self.demote(
                epoch,
                "an append was fenced: a newer epoch holds the lease".into(),
            ),
            Role::Standby => Transition::Stay,
        }
    }

    /// Steps down and lets the lease expire now (a clean shutdown).
    pub fn release(&mut self, leases: &mut dyn Leases) -> Result<(), StoreError> {
        if let Role::Leader { epoch, .. } = self.role {
            self.role = Role::Standby;
            leases.release(&self.shard, &self.owner, epoch)?;
        }
        Ok(())
    }

    fn demote(&mut self, epoch: u64, reason: String) -> Transition {
        self.role = Role::Standby;
        Transition::Demoted { epoch, reason }
    }
}
