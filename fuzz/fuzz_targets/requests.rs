//! Request decoding: every wire type the API reads, from the same bytes a client sends. The
//! first byte picks the type; the rest is the body. Decoding may refuse anything, but must never
//! panic or allocate without bound, and what it accepts must convert to a command or be refused
//! with an error that names its field.

#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_fuzz as _;
use purser_server::wire;
use purser_server::wire::accounts::{AccountIn, AllocateIn};
use purser_server::wire::dags::{self, DagIn, ReasonIn};
use purser_server::wire::tasks::{self, CheckpointIn, FailIn, LeaseIn, TaskOpIn};
use purser_server::wire::usage::{ReserveIn, SettleIn, UsageBatchIn, UsageIn};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 13 {
        0 => {
            if let Ok(input) = wire::parse::<UsageIn>(body) {
                let _ = input.into_report();
            }
        }
        1 => {
            if let Ok(batch) = wire::parse::<UsageBatchIn>(body) {
                for raw in batch.reports {
                    if let Ok(input) = wire::parse::<UsageIn>(raw.get().as_bytes()) {
                        let _ = input.into_report();
                    }
                }
            }
        }
        2 => {
            if let Ok(input) = wire::parse::<AccountIn>(body) {
                let _ = input.into_spec();
            }
        }
        3 => {
            if let Ok(input) = wire::parse::<AllocateIn>(body) {
                let _ = input.into_request();
            }
        }
        4 => {
            if let Ok(input) = wire::parse::<ReserveIn>(body) {
                let _ = input.into_request();
            }
        }
        5 => {
            if let Ok(input) = wire::parse::<SettleIn>(body) {
                let _ = input.into_request(1);
            }
        }
        6 => {
            if let Ok(input) = wire::parse::<DagIn>(body) {
                let _ = input.into_request();
            }
        }
        7 => drop(wire::parse::<LeaseIn>(body)),
        8 => drop(wire::parse::<TaskOpIn>(body)),
        9 => drop(wire::parse::<CheckpointIn>(body)),
        10 => drop(wire::parse::<FailIn>(body)),
        11 => drop(wire::parse::<ReasonIn>(body)),
        _ => {
            // The ids and query strings of URLs.
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = wire::reservation_id(text);
                let _ = dags::dag_id(text);
                let _ = tasks::task_id(text);
                let _ = wire::account_path(text, "path");
                let _ =
                    purser_server::routes::query_params(Some(text), &["prefix", "depth", "limit"]);
            }
        }
    }
});
