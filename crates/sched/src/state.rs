//! The task state machine. Only the transitions listed in [`TaskState::can_move_to`] exist.

use crate::SchedError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Waiting for its parents.
    Queued,
    /// Parents done; may be placed.
    Eligible,
    /// Placed on a machine, not started.
    Scheduled,
    Running,
    Completed,
    /// Kept for the record only; terminal.
    Archived,
    Failed,
    /// Stopped by a higher priority task or a spot interruption; resumes from its checkpoint.
    Preempted,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 9] = [
        TaskState::Queued,
        TaskState::Eligible,
        TaskState::Scheduled,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Archived,
        TaskState::Failed,
        TaskState::Preempted,
        TaskState::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Queued => "QUEUED",
            TaskState::Eligible => "ELIGIBLE",
            TaskState::Scheduled => "SCHEDULED",
            TaskState::Running => "RUNNING",
            TaskState::Completed => "COMPLETED",
            TaskState::Archived => "ARCHIVED",
            TaskState::Failed => "FAILED",
            TaskState::Preempted => "PREEMPTED",
            TaskState::Cancelled => "CANCELLED",
        }
    }

    pub fn can_move_to(self, to: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, to),
            (Queued, Eligible | Cancelled)
                | (Eligible, Scheduled | Cancelled)
                // A scheduled task goes back to ELIGIBLE when the plan is redone.
                | (Scheduled, Running | Eligible | Cancelled)
                | (Running, Completed | Failed | Preempted | Cancelled)
                // A preempted or failed task is retried from its last checkpoint.
                | (Preempted, Eligible | Cancelled)
                | (Failed, Eligible | Archived)
                | (Completed, Archived)
                | (Cancelled, Archived)
        )
    }

    /// The next state, or an error naming both states.
    pub fn move_to(self, to: TaskState) -> Result<TaskState, SchedError> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(SchedError::IllegalTransition {
                from: self.name().into(),
                to: to.name().into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    /// The whole table, written out: every pair not listed here must be refused.
    const LEGAL: &[(TaskState, TaskState)] = &[
        (Queued, Eligible),
        (Queued, Cancelled),
        (Eligible, Scheduled),
        (Eligible, Cancelled),
        (Scheduled, Running),
        (Scheduled, Eligible),
        (Scheduled, Cancelled),
        (Running, Completed),
        (Running, Failed),
        (Running, Preempted),
        (Running, Cancelled),
        (Preempted, Eligible),
        (Preempted, Cancelled),
        (Failed, Eligible),
        (Failed, Archived),
        (Completed, Archived),
        (Cancelled, Archived),
    ];

    #[test]
    fn every_pair_is_legal_exactly_when_listed() {
        let mut n_legal = 0;
        for from in TaskState::ALL {
            for to in TaskState::ALL {
                let expected = LEGAL.contains(&(from, to));
                assert_eq!(from.can_move_to(to), expected, "{from:?} -> {to:?}");
                match from.move_to(to) {
                    Ok(next) => assert_eq!(next, to),
                    Err(err) => {
                        assert!(!expected);
                        let message = err.to_string();
                        assert!(message.contains(from.name()) && message.contains(to.name()));
                    }
                }
                n_legal += usize::from(expected);
            }
        }
        assert_eq!(n_legal, LEGAL.len());
    }

    #[test]
    fn happy_path_reaches_archived_which_is_terminal() {
        let mut state = Queued;
        for next in [Eligible, Scheduled, Running, Completed, Archived] {
            state = state.move_to(next).unwrap();
        }
        assert!(TaskState::ALL.iter().all(|&to| !state.can_move_to(to)));
    }
}
