//! A standby's lag behind its leader under load: both `/readyz` are read every 50 ms; the lag
//! is the leader's events the standby does not reflect yet, and the time since the leader
//! reached the standby's seq (from the leader's own history of samples).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::server::{Api, readiness};

pub struct Sampler {
    running: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u64, u64)>>,
}

impl Sampler {
    pub fn start(leader: SocketAddr, standby: SocketAddr) -> Sampler {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let (leader, standby) = (Api::new(leader), Api::new(standby));
            let started = Instant::now();
            // (ms since start, leader seq), to date the seq a standby shows.
            let mut history: Vec<(u64, u64)> = Vec::new();
            let mut lags = Vec::new();
            while flag.load(Ordering::Relaxed) {
                let now_ms = started.elapsed().as_millis() as u64;
                if let (Ok((_, leader_seq)), Ok((_, standby_seq))) =
                    (readiness(&leader), readiness(&standby))
                {
                    history.push((now_ms, leader_seq));
                    let events = leader_seq.saturating_sub(standby_seq);
                    // The first sample at which the leader had reached what the standby shows.
                    let reached = history
                        .iter()
                        .find(|(_, seq)| *seq >= standby_seq)
                        .map_or(now_ms, |(at, _)| *at);
                    let behind_ms = if events == 0 { 0 } else { now_ms - reached };
                    lags.push((events, behind_ms));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            lags
        });
        Sampler { running, thread }
    }

    /// Stops sampling; describes the lag as p50 and max, in events and in ms.
    pub fn finish(self) -> String {
        self.running.store(false, Ordering::Relaxed);
        let lags = self.thread.join().unwrap_or_default();
        if lags.is_empty() {
            return "no samples".into();
        }
        let mut events: Vec<u64> = lags.iter().map(|(events, _)| *events).collect();
        let mut ms: Vec<u64> = lags.iter().map(|(_, ms)| *ms).collect();
        events.sort_unstable();
        ms.sort_unstable();
        format!(
            "p50 {} events / {} ms, max {} events / {} ms over {} samples",
            events[events.len() / 2],
            ms[ms.len() / 2],
            events[events.len() - 1],
            ms[ms.len() - 1],
            lags.len()
        )
    }
}
