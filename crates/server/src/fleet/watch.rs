//! The fleet's clockwork: every `[monitor] every_ms`, agents past their heartbeat TTL turn
//! unhealthy, the pools and the profiles are sampled into the resource monitor, and every 15 s
//! (the HPA controller's sync period) each profile's HPA runs. What they find goes to the audit
//! log and the event stream.

use std::sync::Arc;
use std::time::Duration;

use purser_engine::{Clock, Engine};
use purser_k8s::monitor::Series;

use super::Fleet;

/// The HPA controller's default sync period.
pub const HPA_SYNC_MS: u64 = 15_000;

/// Runs until the engine stops (or the task is aborted).
pub async fn watch(fleet: Arc<Fleet>, engine: Engine, clock: Arc<dyn Clock>) {
    let every = Duration::from_millis(fleet.config().monitor_every_ms);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_hpa_ms = 0;
    loop {
        ticker.tick().await;
        let now_ms = clock.now_ms();
        let mut notices = fleet.sweep(now_ms);
        // A series not sampled for a while (a pool removed, a profile whose agents stopped
        // reporting) is forgotten, and its pressure level with it.
        fleet.forget_idle(now_ms, (fleet.config().monitor_every_ms * 12).max(60_000));
        let Ok(gauges) = engine.sched_gauges(0).await else {
            return;
        };
        for pool in &gauges.pools {
            if pool.capacity == 0 {
                continue;
            }
            let series = Series::new(format!("pool/{}", pool.pool), pool.dimension.clone());
            notices.extend(fleet.observe(
                &series,
                now_ms,
                pool.used as f64,
                Some(pool.capacity as f64),
            ));
        }
        for (series, used, capacity) in fleet.profile_usage() {
            notices.extend(fleet.observe(&series, now_ms, used, Some(capacity)));
        }
        if now_ms >= next_hpa_ms {
            next_hpa_ms = now_ms + HPA_SYNC_MS;
            let names: Vec<String> = fleet.profiles().iter().map(|p| p.name.clone()).collect();
            for name in names {
                let _ = fleet.reconcile(&name, gauges.eligible, now_ms, true);
            }
        }
        for notice in notices {
            if engine.notice(notice).await.is_err() {
                return;
            }
        }
    }
}

impl Fleet {
    /// Per profile with healthy agents reporting usage: (series, used, the agents' limits), for
    /// cpu in millicores and memory in bytes.
    pub fn profile_usage(&self) -> Vec<(Series, f64, f64)> {
        let state = self.lock();
        let mut out = Vec::new();
        for profile in self.profiles() {
            let healthy: Vec<_> = state
                .agents
                .values()
                .filter(|agent| agent.profile == profile.name && agent.healthy)
                .collect();
            // Sums in f64: what agents report is bounded (2^50 each), their number too.
            let reporting_cpu: Vec<f64> = healthy
                .iter()
                .filter_map(|a| a.cpu_millicores.map(|v| v as f64))
                .collect();
            if !reporting_cpu.is_empty() {
                out.push((
                    Series::new(format!("profile/{}", profile.name), "cpu"),
                    reporting_cpu.iter().sum::<f64>(),
                    profile.limits.cpu_millicores as f64 * reporting_cpu.len() as f64,
                ));
            }
            let reporting_memory: Vec<f64> = healthy
                .iter()
                .filter_map(|a| a.memory_bytes.map(|v| v as f64))
                .collect();
            if !reporting_memory.is_empty() {
                out.push((
                    Series::new(format!("profile/{}", profile.name), "memory_bytes"),
                    reporting_memory.iter().sum::<f64>(),
                    profile.limits.memory_bytes as f64 * reporting_memory.len() as f64,
                ));
            }
        }
        out
    }
}
