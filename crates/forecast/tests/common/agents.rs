//! Seeded generators of agent-shaped usage over one hour, `(time_ms, tokens)` sorted by time.
//!
//! Each stands for a way LLM agents consume that the average rate might misread: sessions of
//! calls separated by idle spells, runs that end before the horizon, heavy-tailed request sizes,
//! conversations whose context grows turn by turn under a drifting arrival rate, and (the one
//! shape where the average rate should lose) a run whose fan-out keeps growing. The parameters
//! are plausible orders of magnitude, not fitted to any trace.

use super::SplitMix64;

pub const HOUR_MS: u64 = 3_600_000;

/// A generator: the events of the run of one seed.
pub type Generator = fn(u64) -> Vec<(u64, u64)>;

/// The generators, by name, for tests that run them all.
pub const SHAPES: [(&str, Generator); 5] = [
    ("sessions", sessions),
    ("ending", ending_run),
    ("heavy", heavy_tailed),
    ("conversations", conversations),
    ("accelerating", accelerating),
];

/// Seeds every test runs each generator with.
pub const SEEDS: std::ops::RangeInclusive<u64> = 1..=12;

impl SplitMix64 {
    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -(1.0 - self.next_f64()).ln() * mean
    }

    /// Pareto with minimum `scale` and tail index `shape`, capped at `cap` (a context window).
    pub fn pareto(&mut self, shape: f64, scale: f64, cap: f64) -> u64 {
        ((1.0 - self.next_f64()).powf(-1.0 / shape) * scale).min(cap) as u64
    }

    /// Log-uniform between `low` and `high`.
    pub fn log_uniform(&mut self, low: f64, high: f64) -> u64 {
        (low * (high / low).powf(self.next_f64())) as u64
    }
}

/// Bursts of calls separated by idle spells: a session makes a call every few seconds for one to
/// six minutes, then the agent waits (for a tool, a human, a queue) from under a minute to a
/// quarter of an hour.
pub fn sessions(seed: u64) -> Vec<(u64, u64)> {
    session_events(&mut SplitMix64(seed), HOUR_MS)
}

/// Sessions as above, but the run ends (its task is done) somewhere between a quarter and
/// three quarters of the hour; nothing is consumed after.
pub fn ending_run(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed ^ 0xE4D);
    let end_ms = (HOUR_MS as f64 * (0.25 + 0.5 * random.next_f64())) as u64;
    session_events(&mut random, end_ms)
}

fn session_events(random: &mut SplitMix64, end_ms: u64) -> Vec<(u64, u64)> {
    let mut events = vec![(0, random.log_uniform(500.0, 8_000.0))];
    let mut at_ms = 0u64;
    loop {
        let session_end_ms = at_ms + 60_000 + (random.next_f64() * 300_000.0) as u64;
        while at_ms < session_end_ms {
            at_ms += 1_000 + random.exponential(4_000.0) as u64;
            if at_ms >= end_ms {
                return events;
            }
            events.push((at_ms, random.log_uniform(500.0, 8_000.0)));
        }
        at_ms += 30_000 + random.exponential(240_000.0).min(900_000.0) as u64;
    }
}

/// A steady stream of calls (one a second on average) whose sizes have a tail index of 1.1:
/// the mean barely exists, and a few requests carry much of the hour's total.
pub fn heavy_tailed(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed ^ 0x4EA);
    let mut events = Vec::new();
    let mut at_ms = 0u64;
    while at_ms < HOUR_MS {
        events.push((at_ms, random.pareto(1.1, 300.0, 2_000_000.0)));
        at_ms += 1 + random.exponential(1_000.0) as u64;
    }
    events
}

/// Conversations arriving at a rate that drifts (a log-rate random walk, one step a minute) and
/// now and then jumps (a burst of users); each conversation has a few to a few dozen turns, and
/// each turn sends the whole context so far plus a new prompt, and receives a heavy-tailed reply.
pub fn conversations(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed ^ 0xC0);
    let mut events = Vec::new();
    let mut log_rate_per_min: f64 = 1.0;
    for minute in 0..HOUR_MS / 60_000 {
        log_rate_per_min += 0.25 * (random.next_f64() - 0.5);
        if random.next_f64() < 0.05 {
            log_rate_per_min += 1.0;
        }
        log_rate_per_min = log_rate_per_min.clamp(-1.0, 2.5);
        let mut at_ms =
            minute * 60_000 + random.exponential(60_000.0 / log_rate_per_min.exp()) as u64;
        while at_ms < (minute + 1) * 60_000 {
            let mut context = 0u64;
            let mut turn_ms = at_ms;
            let n_turns = 1 + random.exponential(8.0) as u64;
            for _ in 0..n_turns {
                context += random.log_uniform(50.0, 2_000.0);
                let reply = random.pareto(1.5, 100.0, 8_000.0);
                events.push((turn_ms, context + reply));
                context += reply;
                turn_ms += 5_000 + random.exponential(30_000.0) as u64;
            }
            at_ms += random.exponential(60_000.0 / log_rate_per_min.exp()) as u64 + 1;
        }
    }
    events.retain(|event| event.0 < HOUR_MS);
    events.sort_unstable();
    events
}

/// An orchestrator that keeps spawning workers: the call rate doubles every 10 to 20 minutes.
/// Here the recent rate is the better guide, and a forecaster that never left the average rate
/// would lose.
pub fn accelerating(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed ^ 0xACC);
    let doubling_ms = 600_000.0 + random.next_f64() * 600_000.0;
    let mut events = Vec::new();
    let mut at_ms = 0.0;
    while at_ms < HOUR_MS as f64 {
        events.push((at_ms as u64, random.log_uniform(500.0, 4_000.0)));
        let rate_per_ms = 0.5e-3 * (at_ms / doubling_ms).exp2();
        at_ms += 1.0 + random.exponential(1.0 / rate_per_ms);
    }
    events
}
