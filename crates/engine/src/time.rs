//! Times for people and for the wire: milliseconds since the epoch as RFC 3339 in UTC.

use std::time::{Duration, UNIX_EPOCH};

/// The last millisecond RFC 3339 can write: the end of the year 9999.
const LAST_MS: u64 = 253_402_300_799_999;

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds. A later time than the
/// year 9999 (only a damaged journal holds one) is shown as its last millisecond.
pub fn rfc3339(at_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms.min(LAST_MS)))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(rfc3339(1_795_084_215_123), "2026-11-19T10:30:15.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        // Found by fuzzing the journal: a time past the year 9999 panicked in formatting.
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
