//! Working hours: when the people of a human pool work, in their time zone (daylight saving
//! included), on which days, without holidays. A human task starts only within them, and its
//! work counts only within them: an estimate that spans the evening resumes the next working
//! morning.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Days searched ahead for the next working moment. With at least one working weekday and at
/// most [`HOLIDAYS_MAX`] holidays, ten years always hold a working day.
const DAYS_AHEAD_MAX: i64 = 3_660;
/// Holidays a calendar lists at most.
pub const HOLIDAYS_MAX: usize = 366;

/// The working hours of a human pool.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingHours {
    /// `[start, end)` within each working day, in local time.
    pub start: Time,
    pub end: Time,
    /// Bit `d` set: weekday `d` (Monday 0) is worked.
    pub days: u8,
    pub timezone: String,
    zone: TimeZone,
    /// Local dates not worked, sorted.
    pub holidays: Vec<Date>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WorkingHours {
    /// From the words of a pool's definition: `hours = "09:00-17:00"`, `days = "mon-fri"` (or
    /// `"mon,wed,fri"`), a time zone name, holidays as `YYYY-MM-DD`. The error names the field.
    pub fn parse(
        hours: &str,
        days: &str,
        timezone: &str,
        holidays: &[String],
    ) -> Result<WorkingHours, (&'static str, String)> {
        let (start, end) = hours
            .split_once('-')
            .ok_or(("hours", format!("{hours:?} is not HH:MM-HH:MM")))?;
        let time = |text: &str| -> Result<Time, (&'static str, String)> {
            text.trim()
                .parse::<Time>()
                .map_err(|err| ("hours", format!("{text:?} is not a time of day: {err}")))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start >= end {
            return Err((
                "hours",
                format!("{hours:?}: the day must end after it starts (no night shifts)"),
            ));
        }
        let zone = TimeZone::get(timezone)
            .map_err(|err| ("timezone", format!("unknown time zone {timezone:?}: {err}")))?;
        if holidays.len() > HOLIDAYS_MAX {
            return Err((
                "holidays",
                format!("{} holidays, at most {HOLIDAYS_MAX}", holidays.len()),
            ));
        }
        let mut holiday_dates = Vec::with_capacity(holidays.len());
        for holiday in holidays {
            holiday_dates.push(
                holiday
                    .parse::<Date>()
                    .map_err(|err| ("holidays", format!("{holiday:?} is not YYYY-MM-DD: {err}")))?,
            );
        }
        holiday_dates.sort_unstable();
        holiday_dates.dedup();
        Ok(WorkingHours {
            start,
            end,
            days: parse_days(days)?,
            timezone: timezone.to_string(),
            zone,
            holidays: holiday_dates,
        })
    }

    fn is_working_day(&self, date: Date) -> bool {
        let weekday = date.weekday().to_monday_zero_offset();
        self.days & (1 << weekday) != 0 && self.holidays.binary_search(&date).is_err()
    }

    /// The working span `[start, end)` of a local date in milliseconds, if it is worked. On a
    /// day that daylight saving shortens or lengthens, the span is what the wall clock says.
    fn span_of(&self, date: Date) -> Option<(u64, u64)> {
        if !self.is_working_day(date) {
            return None;
        }
        let at = |time: Time| {
            date.to_datetime(time)
                .to_zoned(self.zone.clone())
                .ok()
                .map(|zoned| zoned.timestamp().as_millisecond().max(0) as u64)
        };
        let (start, end) = (at(self.start)?, at(self.end)?);
        (start < end).then_some((start, end))
    }

    fn local_date(&self, at_ms: u64) -> Option<Date> {
        let at = Timestamp::from_millisecond(at_ms as i64).ok()?;
        Some(Zoned::new(at, self.zone.clone()).date())
    }

    /// Whether `at_ms` falls within working hours.
    pub fn is_working(&self, at_ms: u64) -> bool {
        self.local_date(at_ms)
            .and_then(|date| self.span_of(date))
            .is_some_and(|(start, end)| start <= at_ms && at_ms < end)
    }

    /// The working spans from the one containing (or following) `at_ms` on, in order.
    fn spans_from(&self, at_ms: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = self.local_date(at_ms);
        (0..DAYS_AHEAD_MAX)
            .filter_map(move |offset| first?.checked_add(jiff::Span::new().days(offset)).ok())
            .filter_map(|date| self.span_of(date))
            .filter(move |&(_, end)| end > at_ms)
    }

    /// The first working moment at or after `at_ms` (None: no working day within a year).
    pub fn next_working(&self, at_ms: u64) -> Option<u64> {
        self.spans_from(at_ms)
            .next()
            .map(|(start, _)| start.max(at_ms))
    }

    /// When `work_ms` of working time begun at `at_ms` is done: the work pauses outside working
    /// hours and resumes the next working morning.
    pub fn add_working(&self, at_ms: u64, work_ms: u64) -> Option<u64> {
        let mut left = work_ms;
        for (start, end) in self.spans_from(at_ms) {
            let from = start.max(at_ms);
            let room = end - from;
            if left <= room {
                return Some(from + left);
            }
            left -= room;
        }
        None
    }

    /// The end of the working span containing `at_ms`, when it is one.
    pub fn span_end(&self, at_ms: u64) -> Option<u64> {
        self.spans_from(at_ms)
            .next()
            .filter(|&(start, _)| start <= at_ms)
            .map(|(_, end)| end)
    }
}

/// `mon-fri`, `mon,wed,fri`, `sat-sun`, `mon-fri,sun` to a weekday mask.
fn parse_days(text: &str) -> Result<u8, (&'static str, String)> {
    let day = |name: &str| -> Result<u8, (&'static str, String)> {
        DAY_NAMES
            .iter()
            .position(|day| day.eq_ignore_ascii_case(name.trim()))
            .map(|idx| idx as u8)
            .ok_or((
                "days",
                format!("{name:?} is not one of {}", DAY_NAMES.join(" ")),
            ))
    };
    let mut mask = 0u8;
    for part in text.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (day(first)?, day(last)?);
                if first > last {
                    return Err((
                        "days",
                        format!("{part:?} runs backwards (weeks start on mon)"),
                    ));
                }
                for idx in first..=last {
                    mask |= 1 << idx;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    if mask == 0 {
        return Err(("days", "no working day".into()));
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    fn berlin() -> WorkingHours {
        WorkingHours::parse(
            "09:00-17:00",
            "mon-fri",
            "Europe/Berlin",
            &["2026-12-25".into()],
        )
        .unwrap()
    }

    #[test]
    fn parses_or_names_the_field() {
        let hours = berlin();
        assert_eq!(hours.days, 0b0011111);
        for (args, field) in [
            (("9-17", "mon-fri", "UTC"), "hours"),
            (("17:00-09:00", "mon-fri", "UTC"), "hours"),
            (("09:00-17:00", "monday", "UTC"), "days"),
            (("09:00-17:00", "fri-mon", "UTC"), "days"),
            (("09:00-17:00", "mon-fri", "Mars/Olympus"), "timezone"),
        ] {
            let (hours, days, zone) = args;
            assert_eq!(
                WorkingHours::parse(hours, days, zone, &[]).unwrap_err().0,
                field
            );
        }
        assert_eq!(
            WorkingHours::parse("09:00-17:00", "mon", "UTC", &["25/12".into()])
                .unwrap_err()
                .0,
            "holidays"
        );
    }

    #[test]
    fn work_pauses_for_nights_weekends_and_holidays() {
        let hours = berlin();
        // Friday 2026-12-04 16:00 in Berlin (UTC+1): four hours of work end on Monday at 12:00.
        let friday_4pm = ms("2026-12-04T15:00:00Z");
        assert!(hours.is_working(friday_4pm));
        assert_eq!(
            hours.add_working(friday_4pm, 4 * 3_600_000),
            Some(ms("2026-12-07T11:00:00Z"))
        );
        // Saturday: the next working moment is Monday 09:00.
        assert!(!hours.is_working(ms("2026-12-05T10:00:00Z")));
        assert_eq!(
            hours.next_working(ms("2026-12-05T10:00:00Z")),
            Some(ms("2026-12-07T08:00:00Z"))
        );
        // Christmas (a Friday) is a holiday: Thursday evening leads to Monday the 28th.
        assert_eq!(
            hours.next_working(ms("2026-12-24T17:30:00Z")),
            Some(ms("2026-12-28T08:00:00Z")),
            "the 25th is a holiday and the 26th-27th a weekend"
        );
    }

    #[test]
    fn daylight_saving_moves_the_hours_with_the_wall_clock() {
        let hours = berlin();
        // The Friday before the spring change 9:00 is 08:00 UTC; the Monday after, 07:00 UTC.
        assert_eq!(
            hours.next_working(ms("2026-03-27T17:00:00Z")),
            Some(ms("2026-03-30T07:00:00Z"))
        );
        assert!(hours.is_working(ms("2026-03-30T07:00:00Z")));
        assert!(!hours.is_working(ms("2026-03-27T07:30:00Z")));
        assert!(hours.is_working(ms("2026-03-27T08:00:00Z")));
    }

    proptest! {
        /// Whatever the zone and the moment: the next working moment is within working hours,
        /// nothing before it is, and work ends within working hours after exactly its length
        /// of working time.
        #[test]
        fn working_moments_are_within_hours(
            at in 1_767_225_600_000u64..1_830_297_600_000,
            zone in prop::sample::select(vec![
                "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC",
            ]),
            work_min in 1u64..3_000,
        ) {
            let hours = WorkingHours::parse("09:00-17:30", "mon-fri", zone, &[]).unwrap();
            let next = hours.next_working(at).unwrap();
            prop_assert!(hours.is_working(next));
            prop_assert!(next >= at);
            // Minute by minute back to `at`, nothing is working.
            let mut probe = next;
            while probe > at + 60_000 {
                probe -= 60_000;
                prop_assert!(!hours.is_working(probe) || probe >= next, "{probe} works before {next}");
            }
            let done = hours.add_working(next, work_min * 60_000).unwrap();
            // The last moment of work is a working moment.
            prop_assert!(hours.is_working(done - 1));
        }
    }
}
