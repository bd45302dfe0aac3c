//! Invariant 4: no stop without a warning `lead_time` earlier where the forecast had confidence.
//!
//! A stop (a `LevelChanged` into black) is warned in time when the account's own level had left
//! green at least `lead_time` before and stayed off green, or when an alert raised at least
//! `lead_time` before was still in force. Otherwise the forecast must not have seen it coming: no
//! forecast the simulation recorded between two lead times and one lead time before the stop (the
//! ones early enough to warn, and recent enough to be about this approach to the limit: none from
//! before the account's last stop or last change of limits) had confidence at or above the
//! alert's while predicting exhaustion within the lead time.
//!
//! The alerts also follow the forecast at once: after an alert pass, every series whose forecast
//! (the same forecaster at the same time to the same horizon) is confident of a stop within the
//! lead time is under an alert (`Sim::record_forecasts`).
//!
//! Exhaustion is counted where the agent is stopped: at its stop threshold. (A forecast of
//! reaching the whole limit within the lead time, made a lead time before the stop, would have
//! to be wrong, since the stop threshold comes first: a check of that never failed, not even with
//! the alerts turned off. This one failed on the core that alerted on the limit.)

use std::collections::VecDeque;

use purser_core::event::Event;
use purser_core::watch::Forecast;
use purser_core::{AccountId, Level};

use super::model::dim_index;

#[derive(Clone, Copy, Debug, Default)]
pub struct StopCounts {
    pub stops: u64,
    pub warned_in_time: u64,
    /// Not warned in time; forecasts were made in the window, none confident of it.
    pub unforeseeable: u64,
    /// Not warned in time; no forecast was made in the window (the account was quiet then).
    pub unforecast: u64,
    pub forecasts: u64,
    /// Forecasts with the alert's confidence; forecasts of exhaustion within the lead time.
    pub confident: u64,
    pub within_lead: u64,
    pub alarming_forecasts: u64,
}

/// One recorded forecast: when, and whether it was confident of exhaustion within the lead time.
#[derive(Clone, Copy)]
struct Seen {
    at_ms: u64,
    alarming: bool,
    confidence: f64,
    projected_total: u64,
    exhausts_at_ms: Option<u64>,
}

pub struct StopWatch {
    lead_ms: u64,
    confidence: f64,
    nongreen_since: Vec<Option<u64>>,
    alert_since: Vec<Option<u64>>,
    /// Forecasts of the last two lead times, per account and dimension.
    recent: Vec<[VecDeque<Seen>; 2]>,
    pub counts: StopCounts,
}

impl StopWatch {
    pub fn new(lead_ms: u64, confidence: f64) -> StopWatch {
        StopWatch {
            lead_ms,
            confidence,
            nongreen_since: Vec::new(),
            alert_since: Vec::new(),
            recent: Vec::new(),
            counts: StopCounts::default(),
        }
    }

    fn grow(&mut self, id: usize) {
        if self.recent.len() <= id {
            self.nongreen_since.resize(id + 1, None);
            self.alert_since.resize(id + 1, None);
            self.recent.resize_with(id + 1, Default::default);
        }
    }

    /// Records a forecast that runs to `now_ms` plus the lead time; `stop_at` is the consumption
    /// at which the account is stopped. Answers whether it was confident of a stop within the
    /// lead time.
    pub fn record(
        &mut self,
        account: AccountId,
        d: usize,
        now_ms: u64,
        forecast: &Forecast,
        stop_at: u64,
    ) -> bool {
        let id = account.0 as usize;
        self.grow(id);
        let confident = forecast.confidence >= self.confidence;
        // The forecast runs to the lead time: its total there passes the stop line, or the
        // limit is reached before.
        let within_lead = forecast.projected_total > stop_at
            || forecast
                .exhausts_at_ms
                .is_some_and(|at_ms| at_ms <= now_ms + self.lead_ms);
        let alarming = confident && within_lead;
        self.counts.forecasts += 1;
        self.counts.confident += u64::from(confident);
        self.counts.within_lead += u64::from(within_lead);
        self.counts.alarming_forecasts += u64::from(alarming);
        let recent = &mut self.recent[id][d];
        while recent
            .front()
            .is_some_and(|seen| seen.at_ms + 2 * self.lead_ms < now_ms)
        {
            recent.pop_front();
        }
        recent.push_back(Seen {
            at_ms: now_ms,
            alarming,
            confidence: forecast.confidence,
            projected_total: forecast.projected_total,
            exhausts_at_ms: forecast.exhausts_at_ms,
        });
        alarming
    }

    pub fn on_event(&mut self, event: &Event) -> Result<(), String> {
        match event {
            // Forecasts made against another limit say nothing of the next stop.
            Event::AccountUpdated { account, .. } | Event::Reallocated { account, .. } => {
                let id = account.0 as usize;
                self.grow(id);
                self.recent[id].iter_mut().for_each(VecDeque::clear);
            }
            Event::LevelChanged {
                account,
                from,
                to,
                dimension,
                at_ms,
            } => {
                let id = account.0 as usize;
                self.grow(id);
                if *to == Level::Black && *from < Level::Black {
                    let d = dim_index(dimension.ok_or("a stop names no dimension")?)?;
                    self.classify(id, d, *at_ms)?;
                    // The forecasts before a stop were about that stop.
                    self.recent[id][d].clear();
                }
                if *from == Level::Green {
                    self.nongreen_since[id] = Some(*at_ms);
                }
                if *to == Level::Green {
                    self.nongreen_since[id] = None;
                }
            }
            Event::AlertRaised { account, at_ms, .. } => {
                let id = account.0 as usize;
                self.grow(id);
                self.alert_since[id].get_or_insert(*at_ms);
            }
            Event::AlertCleared { account, .. } => {
                let id = account.0 as usize;
                self.grow(id);
                self.alert_since[id] = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn classify(&mut self, id: usize, d: usize, at_ms: u64) -> Result<(), String> {
        self.counts.stops += 1;
        let lead_ms = self.lead_ms;
        let early = |since: Option<u64>| since.is_some_and(|since| at_ms - since >= lead_ms);
        if early(self.nongreen_since[id]) || early(self.alert_since[id]) {
            self.counts.warned_in_time += 1;
            return Ok(());
        }
        let window: Vec<&Seen> = self.recent[id][d]
            .iter()
            .filter(|seen| seen.at_ms + lead_ms <= at_ms && seen.at_ms + 2 * lead_ms >= at_ms)
            .collect();
        if let Some(seen) = window.iter().find(|seen| seen.alarming) {
            return Err(format!(
                "account #{id} stopped in dim {d} at {at_ms} ms without a warning {lead_ms} ms \
                 before (off green since {:?}, alert since {:?}), yet the forecast at {} ms had \
                 confidence {:.3} and saw {} consumed a lead time later, the limit reached at {:?}",
                self.nongreen_since[id],
                self.alert_since[id],
                seen.at_ms,
                seen.confidence,
                seen.projected_total,
                seen.exhausts_at_ms
            ));
        }
        if window.is_empty() {
            self.counts.unforecast += 1;
        } else {
            self.counts.unforeseeable += 1;
        }
        Ok(())
    }
}
