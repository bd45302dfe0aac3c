//! Leading and following a shared journal (PostgreSQL): a standby folds what its leader
//! appends, serves reads from it, and refuses writes; promoted, it catches up and appends; a
//! leader whose append fails (fenced by a newer epoch, or a commit whose outcome is unknown)
//! recovers its state again from what the journal holds and becomes a standby.

use std::sync::atomic::Ordering::Relaxed;

use purser_store::StoreError;

use crate::recover;
use crate::snapshotter::Snapshots;
use crate::state::EngineState;

impl EngineState {
    /// True while this state appends: the flag the handles read, which only this thread
    /// writes.
    pub fn is_leader(&self) -> bool {
        self.stats.leader.load(Relaxed)
    }

    /// Folds what the journal gained since this state last looked (a standby's poll); answers
    /// the seq the state now reflects. Falls back to a full recovery when the leader compacted
    /// past what this state holds.
    pub fn catch_up(&mut self) -> Result<u64, String> {
        if self.is_leader() {
            // The writer holds everything journaled: it wrote it.
            return Ok(self.ledger.last_seq());
        }
        let end = self.journal.refresh().map_err(|err| err.to_string())?;
        let after = self.ledger.last_seq();
        if end <= after {
            return Ok(after);
        }
        if after < self.journal.compacted_through() {
            // The leader compacted past what this state holds: start from its snapshot.
            self.recover_in_place()?;
            return Ok(self.ledger.last_seq());
        }
        let folded = recover::fold(
            self.journal.as_mut(),
            &mut self.ledger,
            &mut self.dags,
            &mut self.audit,
            after,
        );
        match folded {
            Ok(folded) => {
                if folded.n_accounts_changed > 0 {
                    self.directory.replace_all(&self.ledger);
                }
            }
            Err(err) => {
                // A fold that failed half way leaves the state between two batches: start
                // again from the journal rather than serve it.
                eprintln!("purser: following the journal failed ({err}); recovering again");
                self.recover_in_place()?;
            }
        }
        self.changes.send_replace(self.ledger.last_seq());
        Ok(self.ledger.last_seq())
    }

    /// Catches up with everything journaled, then appends from here on (the lease was taken,
    /// so nobody else appends any more) and takes the snapshots.
    pub fn promote(&mut self) -> Result<u64, String> {
        let seq = self.catch_up()?;
        if !self.is_leader() {
            self.stats.leader.store(true, Relaxed);
            self.snapshots =
                Snapshots::new(self.config.snapshot_every_events, seq, self.stats.clone());
            self.follow()?;
            eprintln!("purser: leading from event {seq}");
        }
        Ok(seq)
    }

    /// Stops appending: a standby from here on (the lease moved, or the server is stopping).
    pub fn demote(&mut self) {
        if !self.is_leader() {
            return;
        }
        self.stats.leader.store(false, Relaxed);
        if self.follower.take().is_some()
            && let Err(err) = self.journal.snapshot_writer_stopped()
        {
            eprintln!("purser: the journal's housekeeping could not be turned back on: {err}");
        }
        eprintln!(
            "purser: following the journal from event {}",
            self.ledger.last_seq()
        );
    }

    /// An append failed on a shared journal: the state holds records the journal may not.
    /// Forget them by recovering from the journal, and follow it as a standby.
    pub fn step_down_after(&mut self, error: &StoreError) -> Result<(), String> {
        eprintln!("purser: stepping down: {error}");
        self.records.clear();
        self.demote();
        self.recover_in_place()
    }

    /// Recovers the state from the journal (its newest snapshot and what follows), keeping the
    /// handles' shared parts (directory, stats, changes).
    fn recover_in_place(&mut self) -> Result<(), String> {
        self.journal.refresh().map_err(|err| err.to_string())?;
        let recovered = recover::recover(
            self.journal.as_mut(),
            self.config.limits,
            self.config.dags.clone(),
        )?;
        let mut ledger = recovered.ledger;
        ledger.set_defaults(self.config.defaults.clone());
        self.ledger = ledger;
        self.dags = recovered.dags;
        // The audit ring keeps what it had (every entry in it was committed); its stream's
        // subscribers stay connected.
        self.directory.replace_all(&self.ledger);
        self.changes.send_replace(self.ledger.last_seq());
        self.stats
            .snapshot_seq
            .store(recovered.snapshot_seq, Relaxed);
        Ok(())
    }
}
