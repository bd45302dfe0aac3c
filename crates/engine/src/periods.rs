//! Budget periods on the calendar: where the period that contains a time begins and ends, in
//! the account's time zone (daylight saving included). The core never sees a time zone: the
//! engine computes the bounds here and hands them to the ledger with `Command::RenewPeriod`.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use purser_core::account::{PeriodSpec, PeriodUnit};

/// Checks a time zone name (`UTC`, `Europe/Berlin`, ...).
pub fn check_timezone(name: &str) -> Result<(), String> {
    TimeZone::get(name)
        .map(|_| ())
        .map_err(|err| format!("unknown time zone {name:?}: {err}"))
}

/// The bounds `[start, end)` in milliseconds of the period of `spec` that contains `at_ms`.
pub fn period_bounds(spec: &PeriodSpec, at_ms: u64) -> Result<(u64, u64), String> {
    let zone = TimeZone::get(&spec.timezone)
        .map_err(|err| format!("unknown time zone {:?}: {err}", spec.timezone))?;
    let at = Timestamp::from_millisecond(at_ms as i64).map_err(|err| err.to_string())?;
    let zoned = at.to_zoned(zone);
    if spec.every == PeriodUnit::Lifetime {
        // One window from now that never ends.
        return Ok((at_ms, u64::MAX));
    }
    let start = start_of(&zoned, spec.every).map_err(|err| err.to_string())?;
    let end = match spec.every {
        PeriodUnit::Hour => start.checked_add(1.hour()),
        PeriodUnit::Day => start.checked_add(1.day()),
        PeriodUnit::Week => start.checked_add(1.week()),
        PeriodUnit::Month => start.checked_add(1.month()),
        PeriodUnit::Quarter { .. } => start.checked_add(3.months()),
        PeriodUnit::Lifetime => unreachable!("a lifetime has no calendar"),
    }
    .map_err(|err| err.to_string())?;
    let ms = |zoned: &Zoned| zoned.timestamp().as_millisecond().max(0) as u64;
    Ok((ms(&start), ms(&end)))
}

/// Checks a fiscal year's first month.
pub fn check_fiscal_month(month: u8) -> Result<(), String> {
    if (1..=12).contains(&month) {
        Ok(())
    } else {
        Err(format!(
            "a fiscal year starts in month 1 to 12, not {month}"
        ))
    }
}

fn start_of(zoned: &Zoned, unit: PeriodUnit) -> Result<Zoned, jiff::Error> {
    match unit {
        PeriodUnit::Hour => zoned
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build(),
        PeriodUnit::Day => zoned.start_of_day(),
        PeriodUnit::Week => {
            let back = i64::from(zoned.weekday().to_monday_zero_offset());
            zoned.start_of_day()?.checked_sub(back.days())
        }
        PeriodUnit::Month => zoned.with().day(1).build()?.start_of_day(),
        PeriodUnit::Quarter { fiscal_start_month } => {
            // Months since the fiscal year's start, rounded down to a multiple of three.
            let month = i64::from(zoned.month()) - 1;
            let start = i64::from(fiscal_start_month.clamp(1, 12)) - 1;
            let into_quarter = (month - start).rem_euclid(3);
            let first = zoned.with().day(1).build()?.start_of_day()?;
            first.checked_sub(into_quarter.months())
        }
        PeriodUnit::Lifetime => Ok(zoned.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(every: PeriodUnit, timezone: &str) -> PeriodSpec {
        PeriodSpec {
            every,
            timezone: timezone.into(),
            rollover_max_ppm: 0,
        }
    }

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    fn check(every: PeriodUnit, timezone: &str, at: &str, start: &str, end: &str) {
        let bounds = period_bounds(&spec(every, timezone), ms(at)).unwrap();
        assert_eq!(
            bounds,
            (ms(start), ms(end)),
            "{every:?} in {timezone} at {at}"
        );
    }

    #[test]
    fn quarters_follow_the_fiscal_year_and_lifetimes_never_end() {
        let quarter = |month| PeriodUnit::Quarter {
            fiscal_start_month: month,
        };
        check(
            quarter(1),
            "UTC",
            "2026-11-21T10:30:15Z",
            "2026-10-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        // A fiscal year from April: Q3 runs October to December, Q4 January to March.
        check(
            quarter(4),
            "UTC",
            "2027-02-10T00:00:00Z",
            "2027-01-01T00:00:00Z",
            "2027-04-01T00:00:00Z",
        );
        // From February: November is in the quarter November-January, across the year's end.
        check(
            quarter(2),
            "UTC",
            "2026-12-31T23:00:00Z",
            "2026-11-01T00:00:00Z",
            "2027-02-01T00:00:00Z",
        );
        // Aligned in the account's zone: Tokyo's quarter starts 15:00 UTC the day before.
        check(
            quarter(1),
            "Asia/Tokyo",
            "2026-11-21T10:30:15Z",
            "2026-09-30T15:00:00Z",
            "2026-12-31T15:00:00Z",
        );
        let at = ms("2026-11-21T10:30:15Z");
        assert_eq!(
            period_bounds(&spec(PeriodUnit::Lifetime, "UTC"), at).unwrap(),
            (at, u64::MAX)
        );
        assert!(check_fiscal_month(0).is_err() && check_fiscal_month(13).is_err());
        assert!(check_fiscal_month(4).is_ok());
    }

    #[test]
    fn periods_align_to_the_calendar_of_their_time_zone() {
        use PeriodUnit::*;
        check(
            Hour,
            "UTC",
            "2026-11-21T10:30:15Z",
            "2026-11-21T10:00:00Z",
            "2026-11-21T11:00:00Z",
        );
        check(
            Day,
            "UTC",
            "2026-11-21T10:30:15Z",
            "2026-11-21T00:00:00Z",
            "2026-11-22T00:00:00Z",
        );
        // Berlin is UTC+1 in November: its day starts at 23:00 UTC the evening before.
        check(
            Day,
            "Europe/Berlin",
            "2026-11-21T10:30:15Z",
            "2026-11-20T23:00:00Z",
            "2026-11-21T23:00:00Z",
        );
        // 2026-11-21 is a Saturday; weeks start on Monday.
        check(
            Week,
            "UTC",
            "2026-11-21T10:30:15Z",
            "2026-11-16T00:00:00Z",
            "2026-11-23T00:00:00Z",
        );
        check(
            Month,
            "UTC",
            "2026-11-21T10:30:15Z",
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
        );
        // The month of a daylight saving change is an hour short in Berlin (UTC+2 -> UTC+1).
        check(
            Month,
            "Europe/Berlin",
            "2026-10-15T12:00:00Z",
            "2026-09-30T22:00:00Z",
            "2026-10-31T23:00:00Z",
        );
    }

    #[test]
    fn an_unknown_time_zone_is_refused_by_name() {
        let err = check_timezone("Mars/Olympus").unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
        assert!(check_timezone("Europe/Berlin").is_ok());
    }
}
