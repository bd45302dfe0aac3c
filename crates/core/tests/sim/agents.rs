//! What an agent does: spells of quiet, steady use, bursts, idleness (minutes, so that the
//! optimizer reclaims from it) and acceleration; usage reported directly or through holds that
//! are settled, voided or abandoned to expire (some settled late); retries with idempotency keys;
//! and the verdicts heeded (slower when throttled, less when degraded, waiting when stopped).

use purser_core::{
    AccountPath, Action, Answer, Command, LedgerError, ReserveRequest, SettleRequest, UsageReport,
    Verdict,
};

use super::Sim;
use super::model::{HoldState, dim_index};
use super::rng::Rng;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Quiet,
    Steady,
    Burst,
    Idle,
    Accelerating,
}

/// A hold an agent works with, and when it is done with it.
#[derive(Clone, Copy)]
pub struct Call {
    hold: u64,
    /// What the call really uses (the hold asks for more, mostly).
    tokens: u64,
    at_ms: u64,
}

pub struct Agent {
    pub id: usize,
    pub path: AccountPath,
    /// Tokens a second when steady; the cost of a token in micro-dollars.
    rate: u64,
    price: u64,
    mode: Mode,
    mode_since_ms: u64,
    mode_until_ms: u64,
    last_act_ms: u64,
    /// The interval between calls in thousandths of the usual one (the last verdict's pace).
    pace: u64,
    degraded: bool,
    /// Told to stop (or refused a hold): waits and asks again.
    pub stopped: bool,
    call: Option<Call>,
    late: Option<Call>,
    pub finished: bool,
    pub closed: bool,
    n_keys: u64,
}

impl Agent {
    pub fn new(id: usize, path: AccountPath, rate: u64, rng: &mut Rng, now_ms: u64) -> Agent {
        let mut agent = Agent {
            id,
            path,
            rate: rate.max(1),
            price: rng.range(1, 20),
            mode: Mode::Steady,
            mode_since_ms: now_ms,
            mode_until_ms: now_ms,
            last_act_ms: now_ms,
            pace: 1_000,
            degraded: false,
            stopped: false,
            call: None,
            late: None,
            finished: false,
            closed: false,
            n_keys: 0,
        };
        agent.next_mode(rng, now_ms);
        // Spells start out of step with one another.
        agent.mode_until_ms = now_ms + rng.below(agent.mode_until_ms - now_ms + 1);
        agent
    }

    fn next_mode(&mut self, rng: &mut Rng, now_ms: u64) {
        let (mode, low_s, high_s) = match rng.below(100) {
            0..25 => (Mode::Quiet, 30, 120),
            25..60 => (Mode::Steady, 30, 180),
            60..75 => (Mode::Burst, 10, 40),
            75..92 => (Mode::Idle, 90, 300),
            _ => (Mode::Accelerating, 40, 150),
        };
        self.mode = mode;
        self.mode_since_ms = now_ms;
        self.mode_until_ms = now_ms + rng.range(low_s, high_s) * 1_000;
    }

    /// The pace of use in thousandths of the steady rate.
    fn intensity(&self, now_ms: u64) -> u64 {
        match self.mode {
            Mode::Quiet => 200,
            Mode::Steady => 1_000,
            Mode::Burst => 4_000,
            Mode::Idle => 0,
            Mode::Accelerating => {
                let elapsed_s = (now_ms - self.mode_since_ms) as f64 / 1_000.0;
                (1_000.0 * 1.25f64.powf(elapsed_s / 10.0)).min(40_000.0) as u64
            }
        }
    }

    fn heed(&mut self, verdict: &Verdict) {
        self.stopped = false;
        self.degraded = false;
        self.pace = 1_000;
        match verdict.action {
            Action::Continue | Action::Warn | Action::WarnOnly { .. } => {}
            Action::Throttle { rate } => self.pace = (1_000.0 / rate.max(0.05)) as u64,
            Action::Degrade => {
                self.pace = 3_000;
                self.degraded = true;
            }
            Action::Stop | Action::Pause => self.stopped = true,
        }
    }

    fn next_key(&mut self) -> String {
        self.n_keys += 1;
        format!("k{}", self.n_keys)
    }
}

fn earliest(at_ms: u64, other: Option<u64>) -> u64 {
    other.map_or(at_ms, |other| other.min(at_ms))
}

impl Sim {
    /// The agent wakes at `now_ms`: ends what is due and acts; answers its next wake-up.
    pub(super) fn wake(&mut self, idx: usize) -> Option<u64> {
        let now_ms = self.now_ms;
        if self.agents[idx].closed {
            return None;
        }
        if let Some(late) = self.agents[idx].late
            && now_ms >= late.at_ms
        {
            self.agents[idx].late = None;
            self.settle(idx, late, true);
        }
        if let Some(call) = self.agents[idx].call
            && now_ms >= call.at_ms
        {
            self.agents[idx].call = None;
            self.end_call(idx, call);
            let gap_ms = self.rng.range(300, 3_000) * self.agents[idx].pace / 1_000;
            return Some(earliest(now_ms + gap_ms, self.late_at(idx)));
        }
        let late_at = self.late_at(idx);
        let agent = &mut self.agents[idx];
        if let Some(call) = agent.call {
            return Some(earliest(call.at_ms, late_at));
        }
        if agent.finished {
            return late_at;
        }
        while now_ms >= agent.mode_until_ms {
            agent.next_mode(&mut self.rng, now_ms);
        }
        if agent.stopped {
            let verdict = self.ledger.verdict(purser_core::AccountId(agent.id as u32));
            if verdict.action == Action::Stop {
                return Some(earliest(now_ms + self.rng.range(10_000, 20_000), late_at));
            }
            agent.heed(&verdict);
        }
        if agent.mode == Mode::Idle {
            return Some(earliest(agent.mode_until_ms, late_at));
        }
        if matches!(agent.mode, Mode::Quiet | Mode::Steady)
            && late_at.is_none()
            && self.rng.chance(3)
        {
            agent.finished = true;
            return None;
        }
        self.act(idx);
        let agent = &self.agents[idx];
        if let Some(call) = agent.call {
            return Some(earliest(call.at_ms, self.late_at(idx)));
        }
        let gap_ms = self.rng.range(3_000, 12_000) * agent.pace / 1_000;
        Some(earliest(now_ms + gap_ms, self.late_at(idx)))
    }

    fn late_at(&self, idx: usize) -> Option<u64> {
        self.agents[idx].late.map(|late| late.at_ms)
    }

    /// One call: what the agent used since its last one at its present pace, give or take 15%.
    fn act(&mut self, idx: usize) {
        let agent = &mut self.agents[idx];
        let since_ms = agent.last_act_ms.max(agent.mode_since_ms);
        let elapsed_ms = (self.now_ms - since_ms).min(20_000);
        agent.last_act_ms = self.now_ms;
        let mut tokens = agent.rate * agent.intensity(self.now_ms) / 1_000 * elapsed_ms / 1_000
            * self.rng.range(85, 115)
            / 100;
        if agent.degraded {
            tokens /= 2;
        }
        let tokens = tokens.max(1);
        if self.rng.chance(600) {
            self.report(idx, tokens);
        } else {
            self.reserve(idx, tokens);
        }
    }

    fn usage(&self, idx: usize, tokens: u64) -> (Vec<(String, u64)>, [u64; 2]) {
        let cost = tokens * self.agents[idx].price;
        let named = vec![
            ("tokens".to_string(), tokens),
            ("cost_micros".to_string(), cost),
        ];
        (named, [tokens, cost])
    }

    fn report(&mut self, idx: usize, tokens: u64) {
        let (named, amount) = self.usage(idx, tokens);
        let key = self.rng.chance(300).then(|| self.agents[idx].next_key());
        let id = self.agents[idx].id;
        let command = Command::Usage(UsageReport {
            account_id: None,
            account: self.agents[idx].path.clone(),
            usage: named.into(),
            operation: Some("llm".to_string()),
            work_units: 1,
            idempotency_key: key.clone(),
        });
        match self.apply(command.clone()) {
            Ok(Answer::Usage(answer)) if !answer.duplicate => {
                self.stats.reports += 1;
                self.model.charge(id, amount);
                self.touch(id, amount);
                self.agents[idx].heed(&answer.verdict);
            }
            other => self.fail(format!("a report answered {other:?}")),
        }
        self.check_path(id);
        if key.is_some() && self.rng.chance(150) {
            self.retry(
                command,
                |answer| matches!(answer, Answer::Usage(a) if a.duplicate),
            );
        }
    }

    /// A retried request is counted once: it answers as a duplicate and writes nothing.
    fn retry(&mut self, command: Command, duplicate: impl Fn(&Answer) -> bool) {
        let before = self.stats.events;
        match self.apply(command) {
            Ok(answer) if duplicate(&answer) && self.stats.events == before => {
                self.stats.duplicates += 1;
            }
            other => self.fail(format!("a retry answered {other:?}")),
        }
    }

    fn reserve(&mut self, idx: usize, tokens: u64) {
        let estimate = (tokens * self.rng.range(100, 150) / 100).max(1);
        let (named, amount) = self.usage(idx, estimate);
        let ttl_ms = self.rng.range(3_000, 30_000);
        let key = self.rng.chance(200).then(|| self.agents[idx].next_key());
        let id = self.agents[idx].id;
        let expected = self.model.below_stop(id, amount);
        let command = Command::Reserve(ReserveRequest {
            account: self.agents[idx].path.clone(),
            amount: named,
            ttl_ms: Some(ttl_ms),
            idempotency_key: key.clone(),
        });
        match (self.apply(command.clone()), expected) {
            (Ok(Answer::Reserved(answer)), Ok(())) if !answer.duplicate => {
                if answer.expires_ms != self.now_ms + ttl_ms {
                    self.fail(format!("a hold expires at {}", answer.expires_ms));
                }
                self.stats.holds += 1;
                self.model
                    .hold(answer.reservation, id, amount, answer.expires_ms);
                let at_ms = self.now_ms + self.rng.range(500, 8_000);
                self.agents[idx].call = Some(Call {
                    hold: answer.reservation,
                    tokens,
                    at_ms,
                });
                self.agents[idx].heed(&answer.verdict);
                self.check_path(id);
                if key.is_some() && self.rng.chance(100) {
                    let first = answer.reservation;
                    self.retry(command, |again| {
                        let Answer::Reserved(again) = again else {
                            return false;
                        };
                        again.duplicate && again.reservation == first
                    });
                }
            }
            // A hold is refused exactly where it would take an account to its stop threshold.
            (Ok(Answer::Denied(denial)), Err((account, d)))
                if denial.account.0 as usize == account && dim_index(denial.dimension) == Ok(d) =>
            {
                self.stats.denied += 1;
                self.agents[idx].stopped = true;
                self.check_path(id);
            }
            (answer, expected) => self.fail(format!(
                "a hold of {amount:?} on {} answered {answer:?}, the model expected {expected:?}",
                self.agents[idx].path
            )),
        }
    }

    fn end_call(&mut self, idx: usize, call: Call) {
        let id = self.agents[idx].id;
        match self.rng.below(100) {
            0..80 => self.settle(idx, call, false),
            80..90 => {
                let state = self.model.holds[&call.hold].state;
                match (
                    self.apply(Command::Void {
                        reservation: call.hold,
                    }),
                    state,
                ) {
                    (Ok(Answer::Voided { reservation }), HoldState::Open)
                        if reservation == call.hold =>
                    {
                        self.stats.voided += 1;
                        self.model.release(call.hold, HoldState::Done);
                    }
                    (Err(LedgerError::Conflict { .. }), HoldState::Expired) => {}
                    (answer, state) => self.fail(format!(
                        "a void of hold {} ({state:?} in the model) answered {answer:?}",
                        call.hold
                    )),
                }
                self.check_path(id);
            }
            _ => {
                // Abandoned: it expires; some agents come back and settle it late.
                self.stats.abandoned += 1;
                if self.rng.chance(500) {
                    let expires_ms = self.model.holds[&call.hold].expires_ms;
                    let at_ms = expires_ms.max(self.now_ms) + self.rng.range(500, 10_000);
                    self.agents[idx].late = Some(Call { at_ms, ..call });
                }
            }
        }
    }

    fn settle(&mut self, idx: usize, call: Call, late: bool) {
        let used = call.tokens * self.rng.range(85, 115) / 100;
        let (named, amount) = self.usage(idx, used);
        let id = self.agents[idx].id;
        let hold = &self.model.holds[&call.hold];
        let expired = hold.state == HoldState::Expired || self.now_ms >= hold.expires_ms;
        let command = Command::Settle(SettleRequest {
            reservation: call.hold,
            usage: named,
            operation: Some("llm".to_string()),
            work_units: 1,
        });
        match self.apply(command.clone()) {
            Ok(Answer::Usage(answer)) if !answer.duplicate && answer.expired == expired => {
                if late {
                    self.stats.late_settled += 1;
                } else {
                    self.stats.settled += 1;
                }
                self.model.release(call.hold, HoldState::Done);
                self.model.charge(id, amount);
                self.touch(id, amount);
                self.agents[idx].heed(&answer.verdict);
            }
            other => self.fail(format!(
                "a settle of hold {} (expired: {expired}) answered {other:?}",
                call.hold
            )),
        }
        self.check_path(id);
        if self.rng.chance(50) {
            self.retry(
                command,
                |answer| matches!(answer, Answer::Usage(a) if a.duplicate),
            );
        }
    }
}
