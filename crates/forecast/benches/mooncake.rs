//! Figures (a) to (d) of the forecasts on the Mooncake conversation trace (and on the seeded
//! bursty series of the tests), and the cost of `Forecaster::forecast` and `observe`.
//!
//! Run with `cargo bench -p purser-forecast`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use purser_forecast::{EvaluationSetup, Forecaster, evaluate};

const HOUR_MS: u64 = 3_600_000;

fn main() {
    let Some(events) = common::read_mooncake() else {
        return;
    };
    let setup = EvaluationSetup::default();
    let started = Instant::now();
    let figures = evaluate(&events, &setup).expect("the trace has events");
    println!(
        "Mooncake conversation trace ({} requests), evaluated in {:.1} ms\n{figures}\n",
        events.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    for seed in 1..=8 {
        let figures = evaluate(&common::bursty_events(seed), &setup).expect("events");
        println!("Synthetic bursty series, seed {seed}\n{figures}\n");
    }
    measure_observe(&events);
    measure_forecast(&events);
}

fn measure_observe(events: &[(u64, u64)]) {
    let n_rounds = 200;
    let started = Instant::now();
    for _ in 0..n_rounds {
        let mut forecaster = Forecaster::new(0);
        for &(at_ms, amount) in events {
            forecaster.observe(at_ms, amount);
        }
        black_box(&forecaster);
    }
    let per_call = started.elapsed().as_secs_f64() / (n_rounds * events.len()) as f64;
    println!(
        "observe():  {:.0} ns per call ({:.1} M calls/s)",
        per_call * 1e9,
        1e-6 / per_call
    );
}

/// The cost of a forecast at 10%, 50% and 90% of the hour, on a forecaster that was fed the
/// trace up to then and asked for a forecast every minute before, as in service (so that its
/// backtest holds predictions and errors).
fn measure_forecast(events: &[(u64, u64)]) {
    let limit = Some(119_690_150);
    let mut forecaster = Forecaster::new(0);
    let mut next_event_idx = 0;
    let mut now_ms = 60_000;
    for checkpoint_ms in [360_000, 1_800_000, 3_240_000] {
        while now_ms <= checkpoint_ms {
            while next_event_idx < events.len() && events[next_event_idx].0 <= now_ms {
                forecaster.observe(events[next_event_idx].0, events[next_event_idx].1);
                next_event_idx += 1;
            }
            forecaster.forecast(now_ms, HOUR_MS, limit);
            now_ms += 60_000;
        }
        let mut measured = forecaster.clone();
        let n_calls = 20_000u64;
        let started = Instant::now();
        for call_idx in 0..n_calls {
            let call_ms = checkpoint_ms + call_idx % 1_000;
            black_box(measured.forecast(black_box(call_ms), HOUR_MS, limit));
        }
        let per_call = started.elapsed().as_secs_f64() / n_calls as f64;
        println!(
            "forecast() at {:>4} s into the hour: {:.2} us per call ({:.0} calls/s)",
            checkpoint_ms / 1_000,
            per_call * 1e6,
            1.0 / per_call
        );
    }
}
