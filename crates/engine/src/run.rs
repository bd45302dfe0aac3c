//! The writer's thread: takes jobs in batches (up to `BATCH_JOBS_MAX`), steps the state once per
//! batch at the clock's time, and answers every job of the batch after its one durable append.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::jobs::Op;
use crate::state::EngineState;

/// Jobs applied in one batch (one commit) at most.
pub const BATCH_JOBS_MAX: usize = 4_096;

pub(crate) fn run(mut state: EngineState, clock: Arc<dyn Clock>, mut jobs: mpsc::Receiver<Op>) {
    let mut batch: Vec<Op> = Vec::with_capacity(BATCH_JOBS_MAX);
    let mut deliveries = Vec::with_capacity(BATCH_JOBS_MAX);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_JOBS_MAX {
            match jobs.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if let Err(err) = state.step(batch.drain(..), clock.now_ms(), &mut deliveries) {
            // The state now holds events the journal may not, and nobody of this batch was
            // answered (their callers see the engine unavailable and retry with their keys).
            deliveries.clear();
            if !state.journal.is_shared() {
                // Alone on its file: stop, and let a restart replay what is durable.
                eprintln!("purser: journal append failed, stopping: {err}");
                std::process::exit(70);
            }
            // Shared: another leader may have taken over. Re-read the journal and follow it.
            if let Err(recovery) = state.step_down_after(&err) {
                eprintln!("purser: recovering from the journal failed, stopping: {recovery}");
                std::process::exit(70);
            }
        }
        for delivery in deliveries.drain(..) {
            delivery();
        }
    }
}
