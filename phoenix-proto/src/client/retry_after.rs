//! `Retry-After` (RFC 9110 section 10.2.3) and the HTTP-date it may carry
//! (section 5.6.7), read without a date library.
//!
//! `Retry-After = HTTP-date / delay-seconds`. An HTTP-date comes in three
//! forms, all in GMT; senders use the first, recipients accept all three:
//!
//! ```text
//! Sun, 06 Nov 1994 08:49:37 GMT    IMF-fixdate
//! Sunday, 06-Nov-94 08:49:37 GMT   obsolete RFC 850 format
//! Sun Nov  6 08:49:37 1994         ANSI C's asctime() format
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest wait we read (2^31 seconds, about 68 years). Longer ones,
/// and numbers too big to represent, are read as this, as RFC 9111
/// section 1.2.2 says for delta-seconds.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(1 << 31);

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The wait a `Retry-After` value asks for. An HTTP-date is measured from
/// the server's `Date` header when it parses, else from `now`; a date in
/// the past is no wait. `None` when the value is neither form.
pub(crate) fn parse_retry_after(
    value: &str,
    date: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let value = trim_ows(value);
    if let Some(seconds) = parse_delay_seconds(value) {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let now_nanos = unix_nanos(now);
    let server_date = date.and_then(|date| parse_http_date(trim_ows(date), year_of(now_nanos)));
    let reference = server_date.map_or(now_nanos, |date| i128::from(date) * NANOS_PER_SEC);
    // The server's own year places a two-digit year best.
    let retry_at = i128::from(parse_http_date(value, year_of(reference))?) * NANOS_PER_SEC;
    let wait = retry_at.saturating_sub(reference).max(0);
    let secs = u64::try_from(wait / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let nanos = u32::try_from(wait % NANOS_PER_SEC).unwrap_or(0);
    Some(Duration::new(secs, nanos).min(MAX_RETRY_AFTER))
}

/// Strips the optional whitespace (spaces and tabs) around a field value.
fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// `delay-seconds = 1*DIGIT`, saturating instead of overflowing.
fn parse_delay_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// The year of an instant in nanoseconds since 1970.
fn year_of(unix_nanos: i128) -> i64 {
    civil_from_days(unix_nanos.div_euclid(NANOS_PER_SEC * 86_400)).0
}

/// `now` in nanoseconds since 1970 (negative before).
fn unix_nanos(now: SystemTime) -> i128 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An HTTP-date in any of its three forms, as seconds since 1970 (UTC).
/// The day name must be a real one but need not match the date. A
/// two-digit RFC 850 year is the latest year with those digits that is at
/// most 50 years after `this_year` (RFC 9110 section 5.6.7).
fn parse_http_date(text: &str, this_year: i64) -> Option<i64> {
    if let Some((day_name, rest)) = text.split_once(", ") {
        if DAY_NAMES.contains(&day_name) {
            return imf_fixdate(rest);
        }
        if LONG_DAY_NAMES.contains(&day_name) {
            return rfc850_date(rest, this_year);
        }
        return None;
    }
    asctime_date(text)
}

/// `06 Nov 1994 08:49:37 GMT` (after `Sun, `).
fn imf_fixdate(text: &str) -> Option<i64> {
    if text.len() != 24 || !literal(text, 2, " ") || !literal(text, 6, " ") {
        return None;
    }
    let day = digits(text, 0, 2)?;
    let month = month(text.get(3..6)?)?;
    let year = digits(text, 7, 4)?;
    if !literal(text, 11, " ") || !literal(text, 20, " GMT") {
        return None;
    }
    let seconds = time_of_day(text.get(12..20)?)?;
    timestamp(year, month, day, seconds)
}

/// `06-Nov-94 08:49:37 GMT` (after `Sunday, `).
fn rfc850_date(text: &str, this_year: i64) -> Option<i64> {
    if text.len() != 22 || !literal(text, 2, "-") || !literal(text, 6, "-") {
        return None;
    }
    let day = digits(text, 0, 2)?;
    let month = month(text.get(3..6)?)?;
    let two_digits = digits(text, 7, 2)?;
    if !literal(text, 9, " ") || !literal(text, 18, " GMT") {
        return None;
    }
    let seconds = time_of_day(text.get(10..18)?)?;
    let latest = this_year + 50;
    let year = latest - (latest - two_digits).rem_euclid(100);
    timestamp(year, month, day, seconds)
}

/// `Sun Nov  6 08:49:37 1994`: the day is two digits or a space and one.
fn asctime_date(text: &str) -> Option<i64> {
    if text.len() != 24 || !DAY_NAMES.contains(&text.get(0..3)?) {
        return None;
    }
    if !literal(text, 3, " ") || !literal(text, 7, " ") {
        return None;
    }
    let month = month(text.get(4..7)?)?;
    let day = match text.get(8..10)?.strip_prefix(' ') {
        Some(one) => digits(one, 0, 1)?,
        None => digits(text, 8, 2)?,
    };
    if !literal(text, 10, " ") || !literal(text, 19, " ") {
        return None;
    }
    let seconds = time_of_day(text.get(11..19)?)?;
    let year = digits(text, 20, 4)?;
    timestamp(year, month, day, seconds)
}

/// Whether `text` has `expected` at byte `at`.
fn literal(text: &str, at: usize, expected: &str) -> bool {
    text.get(at..at + expected.len()) == Some(expected)
}

/// Exactly `len` ASCII digits at byte `at`.
fn digits(text: &str, at: usize, len: usize) -> Option<i64> {
    let field = text.get(at..at + len)?;
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// `Jan` ..= `Dec` as 1 ..= 12 (case-sensitive, as RFC 9110 says).
fn month(name: &str) -> Option<i64> {
    let index = MONTHS.iter().position(|m| *m == name)?;
    i64::try_from(index + 1).ok()
}

/// `HH:MM:SS` (up to 23:59:60, a leap second) as seconds into the day.
fn time_of_day(text: &str) -> Option<i64> {
    if text.len() != 8 || !literal(text, 2, ":") || !literal(text, 5, ":") {
        return None;
    }
    let (hour, minute, second) = (
        digits(text, 0, 2)?,
        digits(text, 3, 2)?,
        digits(text, 6, 2)?,
    );
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since 1970 of a validated date and time of day.
fn timestamp(year: i64, month: i64, day: i64, seconds: i64) -> Option<i64> {
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i64, i64, i64) {
    let days = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110's example instant, Sun, 06 Nov 1994 08:49:37 GMT.
    const EXAMPLE: i64 = 784_111_777;

    fn at(unix_seconds: i64) -> SystemTime {
        let offset = Duration::from_secs(unix_seconds.unsigned_abs());
        if unix_seconds >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        }
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    /// A clock far from any date below, so a test that depends on it shows.
    fn skewed() -> SystemTime {
        at(4_000_000_000)
    }

    #[test]
    fn delay_seconds() {
        let now = skewed();
        assert_eq!(parse_retry_after("120", None, now), secs(120));
        assert_eq!(parse_retry_after(" \t120 ", None, now), secs(120));
        assert_eq!(parse_retry_after("0", None, now), secs(0));
        assert_eq!(parse_retry_after("007", None, now), secs(7));
        // The server's Date plays no part in a number of seconds.
        let date = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_retry_after("5", date, now), secs(5));
    }

    #[test]
    fn numbers_too_big_saturate_at_the_cap() {
        let now = skewed();
        let cap = Some(MAX_RETRY_AFTER);
        assert_eq!(
            parse_retry_after("2147483647", None, now),
            secs(2_147_483_647)
        );
        assert_eq!(parse_retry_after("2147483648", None, now), cap);
        assert_eq!(parse_retry_after("18446744073709551615", None, now), cap);
        assert_eq!(parse_retry_after("18446744073709551616", None, now), cap);
        assert_eq!(parse_retry_after(&"9".repeat(400), None, now), cap);
    }

    #[test]
    fn garbage_is_ignored() {
        let now = skewed();
        for bad in [
            "",
            " ",
            "-1",
            "+1",
            "1.5",
            "1e3",
            "12a",
            "1 2",
            "0x10",
            "١٢",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed, 21 Oct 2015 07:28:00 GMT extra",
            "Wed, 21 Oct 2015 07:28 GMT",
            "Wed,21 Oct 2015 07:28:00 GMT",
            "wed, 21 Oct 2015 07:28:00 GMT",
            "Wed, 21 oct 2015 07:28:00 GMT",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 00 Oct 2015 07:28:00 GMT",
            "Wed, 31 Nov 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
            "Wed, 21 Oct 2015 07:60:00 GMT",
            "Wed, 21 Oct 2015 07:28:61 GMT",
            "Wed, 21 Oct 15 07:28:00 GMT",
            "Wed, 2x Oct 2015 07:28:00 GMT",
            "Wed, +1 Oct 2015 07:28:00 GMT",
            "Wéd, 21 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 GMTé",
            "Xyz, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-2015 07:28:00 GMT",
            "Wednesday, 21 Oct 2015 07:28:00 GMT",
            "Wed Oct 21 07:28:00 15",
            "Wed Oct 211 07:28:00 2015",
            "Wed Oct  0 07:28:00 2015",
        ] {
            assert_eq!(parse_retry_after(bad, None, now), None, "{bad:?}");
        }
    }

    #[test]
    fn the_three_date_forms_name_the_same_instant() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(form, 2026), Some(EXAMPLE), "{form}");
        }
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", 2026),
            Some(0)
        );
        assert_eq!(
            parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT", 2026),
            Some(-1)
        );
        // A wrong day name is accepted: the date is what counts.
        assert_eq!(
            parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT", 2026),
            Some(EXAMPLE)
        );
        // A leap second runs into the next minute.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT", 2026),
            Some(EXAMPLE + 23)
        );
    }

    #[test]
    fn leap_years() {
        let day = |text: &str| parse_http_date(text, 2026).map(|s| s / 86_400);
        assert!(day("Thu, 29 Feb 2024 00:00:00 GMT").is_some());
        assert!(day("Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert_eq!(day("Wed, 29 Feb 2023 00:00:00 GMT"), None);
        assert_eq!(day("Thu, 29 Feb 1900 00:00:00 GMT"), None);
        assert_eq!(day("Mon, 29 Feb 2100 00:00:00 GMT"), None);
        assert_eq!(day("Sat, 30 Feb 2024 00:00:00 GMT"), None);
        let span = |from: &str, to: &str| day(to).zip(day(from)).map(|(t, f)| t - f);
        let (feb28, mar1) = ("28 Feb", "01 Mar");
        for (year, days) in [(2024, 2), (2023, 1), (2000, 2), (1900, 1)] {
            let from = format!("Mon, {feb28} {year} 00:00:00 GMT");
            let to = format!("Mon, {mar1} {year} 00:00:00 GMT");
            assert_eq!(span(&from, &to), Some(days), "{year}");
        }
        // Whole years, across leap days.
        assert_eq!(
            span(
                "Thu, 01 Jan 1970 00:00:00 GMT",
                "Sat, 01 Jan 2000 00:00:00 GMT"
            ),
            Some(10_957)
        );
    }

    #[test]
    fn two_digit_years_are_at_most_fifty_years_ahead() {
        let year = |text: &str, this_year| {
            parse_http_date(text, this_year).map(|s| civil_from_days(i128::from(s) / 86_400).0)
        };
        assert_eq!(year("Monday, 01-Jan-76 00:00:00 GMT", 2026), Some(2076));
        assert_eq!(year("Monday, 01-Jan-77 00:00:00 GMT", 2026), Some(1977));
        assert_eq!(year("Monday, 01-Jan-99 00:00:00 GMT", 2026), Some(1999));
        assert_eq!(year("Monday, 01-Jan-00 00:00:00 GMT", 2026), Some(2000));
        assert_eq!(year("Monday, 01-Jan-10 00:00:00 GMT", 2090), Some(2110));
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468i64, -1, 0, 1, 10_957, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(i128::from(days));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn a_date_is_measured_from_the_servers_date_when_it_parses() {
        let retry = "Wed, 21 Oct 2015 07:28:00 GMT";
        let date = Some("Wed, 21 Oct 2015 07:27:00 GMT");
        // The client clock is decades off; the answer does not move.
        for now in [at(0), skewed(), at(-3_000_000_000)] {
            assert_eq!(parse_retry_after(retry, date, now), secs(60));
        }
        // Any form, on either header.
        assert_eq!(
            parse_retry_after(
                "Wednesday, 21-Oct-15 07:28:00 GMT",
                Some("Wed Oct 21 07:26:00 2015"),
                skewed()
            ),
            secs(120)
        );
    }

    #[test]
    fn without_a_usable_date_it_is_measured_from_now() {
        let retry = "Wed, 21 Oct 2015 07:28:00 GMT";
        let retry_at = 1_445_412_480;
        let now = at(retry_at - 91) + Duration::from_millis(500);
        let expected = Some(Duration::from_millis(90_500));
        assert_eq!(parse_retry_after(retry, None, now), expected);
        for garbage in ["", "yesterday", "Wed, 21 Oct 2015 07:28:00 UTC"] {
            assert_eq!(parse_retry_after(retry, Some(garbage), now), expected);
        }
    }

    #[test]
    fn a_date_in_the_past_is_no_wait() {
        let retry = "Wed, 21 Oct 2015 07:28:00 GMT";
        let later = Some("Thu, 22 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(retry, later, at(0)), secs(0));
        assert_eq!(parse_retry_after(retry, None, skewed()), secs(0));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 0000 00:00:00 GMT", None, skewed()),
            secs(0)
        );
        // Equal instants: no wait either.
        assert_eq!(parse_retry_after(retry, Some(retry), skewed()), secs(0));
    }

    #[test]
    fn a_date_far_ahead_is_capped() {
        let far = "Fri, 31 Dec 9999 23:59:59 GMT";
        assert_eq!(parse_retry_after(far, None, at(0)), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(far, None, at(-3_000_000_000)),
            Some(MAX_RETRY_AFTER)
        );
    }
}
