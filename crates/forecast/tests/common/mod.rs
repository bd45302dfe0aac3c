#![allow(dead_code)] // Each test binary uses part of this module.

//! Shared by the tests: reading the Mooncake trace and the NAB series (`nab.rs`), a small seeded
//! generator (`random.rs`) and the series made with it (here and in `agents.rs`).

use std::path::PathBuf;

/// The trace's path, relative to this crate (the data is never copied into the repository).
pub fn mooncake_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/mooncake-fast25/conversation_trace.jsonl")
}

/// `(timestamp_ms, input_length + output_length)` per request, or `None` (with a message
/// saying so) if the trace is not there.
pub fn read_mooncake() -> Option<Vec<(u64, u64)>> {
    let path = mooncake_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("SKIP: Mooncake trace not found at {}", path.display());
        return None;
    };
    let events = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let request: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let field = |name: &str| request[name].as_u64().unwrap_or_else(|| panic!("{name}"));
            (
                field("timestamp"),
                field("input_length") + field("output_length"),
            )
        })
        .collect();
    Some(events)
}

/// A bursty series over one hour: a small steady trickle of calls, and rare bursts whose sizes
/// follow a Pareto law (shape 1.2, heavy-tailed) and which arrive as a Poisson process.
pub fn bursty_events(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed);
    let mut events = Vec::new();
    let mut at_ms = 0u64;
    while at_ms < 3_600_000 {
        let mut amount = 200 + (random.next_f64() * 800.0) as u64;
        if random.next_f64() < 0.01 {
            let pareto = (1.0 - random.next_f64()).powf(-1.0 / 1.2);
            amount += (pareto * 50_000.0).min(5e7) as u64;
        }
        events.push((at_ms, amount));
        // Exponential gaps of mean 1 s.
        at_ms += (-(1.0 - random.next_f64()).ln() * 1_000.0) as u64 + 1;
    }
    events
}

pub mod agents;
pub mod nab;
mod random;
pub mod score;

pub use random::SplitMix64;
