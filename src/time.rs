//! Time, the one copy: milliseconds since the epoch (UTC), the proleptic Gregorian calendar,
//! timestamp text in and out, interval lengths, and the width of a window.
//!
//! Every ROWTIME and TIMESTAMP in rowtime is an `i64` of milliseconds since 1970-01-01 UTC
//! (Arrow's `Timestamp(Millisecond, None)`). There are no time zones: a day is 24 hours.

use std::fmt;

use chrono::{DateTime, Months};
use datafusion::common::ScalarValue;

pub const MS_PER_SECOND: i64 = 1000;
pub const MS_PER_MINUTE: i64 = 60_000;
pub const MS_PER_HOUR: i64 = 3_600_000;
pub const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since the epoch to (year, month, day) (H. Hinnant's algorithm).
#[inline]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `HH:MM[:SS[.f…]]` at the start of `b`: milliseconds since midnight and bytes used.
#[inline]
pub fn parse_time(b: &[u8]) -> Option<(i64, usize)> {
    let h = digits(b, 0, 2)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let m = digits(b, 3, 2)?;
    let mut i = 5;
    let mut s = 0;
    let mut ms = 0;
    if b.get(i) == Some(&b':') {
        s = digits(b, 6, 2)?;
        i = 8;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                if i - start < 3 {
                    ms = ms * 10 + (c - b'0') as u32;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..3 {
                ms *= 10;
            }
        }
    }
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some((((h * 60 + m) * 60 + s) as i64 * 1000 + ms as i64, i))
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.f…]` or `YYYY-MM-DDTHH:MM:SS[.f…]` with an optional `Z` or
/// `±HH:MM` offset: milliseconds since the epoch, UTC (fractions beyond milliseconds truncated).
#[inline]
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let y = digits(b, 0, 4)? as i64;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let day_ms = days_from_civil(y, m, d) * MS_PER_DAY;
    if b.len() == 10 {
        return Some(day_ms);
    }
    if !matches!(b[10], b' ' | b'T' | b't') {
        return None;
    }
    let (t, used) = parse_time(&b[11..])?;
    let rest = &b[11 + used..];
    let offset_ms = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let (oh, om) = match rest.len() {
                6 if rest[3] == b':' => (digits(rest, 1, 2)?, digits(rest, 4, 2)?),
                5 => (digits(rest, 1, 2)?, digits(rest, 3, 2)?),
                3 => (digits(rest, 1, 2)?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) as i64 * 60_000;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    Some(day_ms + t - offset_ms)
}

/// Appends milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.fff` (UTC), quoted if asked;
/// false (nothing written) for years outside 0000–9999, which [`timestamp_text`] spells.
pub fn push_timestamp_ms(ms: i64, out: &mut String, quoted: bool) -> bool {
    let (days, in_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return false;
    }
    let mut text = *b"\"0000-00-00 00:00:00.000\"";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for k in (at..at + width).rev() {
            text[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(1, 4, y);
    put(6, 2, i64::from(m));
    put(9, 2, i64::from(d));
    put(12, 2, in_day / MS_PER_HOUR);
    put(15, 2, in_day / MS_PER_MINUTE % 60);
    put(18, 2, in_day / MS_PER_SECOND % 60);
    put(21, 3, in_day % 1000);
    let text = std::str::from_utf8(&text).expect("ASCII");
    out.push_str(if quoted {
        text
    } else {
        &text[1..text.len() - 1]
    });
    true
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.fff` (UTC), for any year chrono knows.
pub fn timestamp_text(ms: i64) -> String {
    let mut out = String::with_capacity(23);
    if !push_timestamp_ms(ms, &mut out, false) {
        out = DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| ms.to_string());
    }
    out
}

/// Milliseconds in one SECOND, MINUTE, HOUR, DAY or WEEK (upper- or lower-case); None for
/// calendar units (MONTH, YEAR) and anything else.
pub fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().as_str() {
        "MILLISECOND" => 1,
        "SECOND" => MS_PER_SECOND,
        "MINUTE" => MS_PER_MINUTE,
        "HOUR" => MS_PER_HOUR,
        "DAY" => MS_PER_DAY,
        "WEEK" => 7 * MS_PER_DAY,
        _ => return None,
    })
}

/// The milliseconds of a day-time interval literal as DataFusion holds it; None for intervals
/// with months and for other values.
pub fn interval_ms(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(v.days as i64 * MS_PER_DAY + v.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(v.days as i64 * MS_PER_DAY + v.milliseconds as i64)
        }
        _ => None,
    }
}

/// The length of a window: exact milliseconds, or calendar months (FLOOR … TO MONTH / YEAR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowWidth {
    Millis(i64),
    Months(u32),
}

impl WindowWidth {
    /// The start of the window that holds `t`, windows aligned to the epoch: a multiple of the
    /// milliseconds, or the first day of a month that is a multiple of the months after
    /// January 1970 (`STEP(… BY INTERVAL '3' MONTH)` and `FLOOR(… TO QUARTER)` agree).
    pub fn floor(&self, t: i64) -> i64 {
        match self {
            WindowWidth::Millis(ms) => t - t.rem_euclid(*ms),
            WindowWidth::Months(m) => {
                let (y, month, _) = civil_from_days(t.div_euclid(MS_PER_DAY));
                let since = (y - 1970) * 12 + i64::from(month) - 1;
                let k = since - since.rem_euclid(i64::from(*m));
                let (y, month) = (1970 + k.div_euclid(12), k.rem_euclid(12) as u32 + 1);
                days_from_civil(y, month, 1).saturating_mul(MS_PER_DAY)
            }
        }
    }

    /// The end of the window that starts at `start` (ms since epoch).
    pub fn end(&self, start: i64) -> i64 {
        match self {
            WindowWidth::Millis(ms) => start.saturating_add(*ms),
            WindowWidth::Months(m) => DateTime::from_timestamp_millis(start)
                .and_then(|t| t.checked_add_months(Months::new(*m)))
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MAX),
        }
    }
}

impl fmt::Display for WindowWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowWidth::Millis(ms) if ms % MS_PER_DAY == 0 => {
                write!(f, "{} day(s)", ms / MS_PER_DAY)
            }
            WindowWidth::Millis(ms) if ms % MS_PER_HOUR == 0 => {
                write!(f, "{} hour(s)", ms / MS_PER_HOUR)
            }
            WindowWidth::Millis(ms) if ms % MS_PER_MINUTE == 0 => {
                write!(f, "{} minute(s)", ms / MS_PER_MINUTE)
            }
            WindowWidth::Millis(ms) if ms % MS_PER_SECOND == 0 => {
                write!(f, "{} second(s)", ms / MS_PER_SECOND)
            }
            WindowWidth::Millis(ms) => write!(f, "{ms} ms"),
            WindowWidth::Months(m) => write!(f, "{m} month(s)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn timestamps_in_several_forms() {
        let base = 8079 * MS_PER_DAY + (18 * 3600 + 35 * 60 + 44) * 1000;
        assert_eq!(ts("1992-02-14 18:35:44"), base);
        assert_eq!(ts("1992-02-14T18:35:44.123456"), base + 123);
        assert_eq!(ts("1992-02-14T18:35:44.5Z"), base + 500);
        assert_eq!(ts("1992-02-14T19:35:44+01:00"), base);
        assert_eq!(ts("1992-02-14"), 8079 * MS_PER_DAY);
        assert_eq!(ts("1969-12-31 23:59:59.999"), -1);
        assert_eq!(ts("2000-02-29 00:00:00"), 951_782_400_000);
        for bad in [
            "1992-02-14 24:00:00",
            "1992-13-01",
            "1992-2-14",
            "1992-02-14 18:35:44.",
            "x",
            "1992-02-14 18:35:44Q",
            "2026-02-29 00:00:00",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_and_calendar_round_trip() {
        for text in [
            "1970-01-01 00:00:00.000",
            "2024-02-29 23:59:59.999",
            "2026-03-02 08:15:04.120",
            "0001-01-01 00:00:00.000",
        ] {
            assert_eq!(timestamp_text(ts(text)), text);
        }
        // Every day of four centuries maps to its date and back.
        for days in -146_097..146_097 {
            let (y, m, d) = civil_from_days(days);
            assert!(d >= 1 && d <= days_in_month(y, m), "{y}-{m}-{d}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
        // Past year 9999 only the slow path spells it.
        assert!(!push_timestamp_ms(
            253_402_300_800_000,
            &mut String::new(),
            true
        ));
        assert_eq!(
            timestamp_text(253_402_300_800_000),
            "+10000-01-01 00:00:00.000"
        );
    }

    #[test]
    fn window_widths_end_and_print() {
        assert_eq!(WindowWidth::Millis(600_000).end(0), 600_000);
        assert_eq!(
            WindowWidth::Months(1).end(ts("2020-01-01 00:00:00")),
            ts("2020-02-01 00:00:00")
        );
        assert_eq!(
            WindowWidth::Months(1).end(ts("2020-01-31 00:00:00")),
            ts("2020-02-29 00:00:00")
        );
        assert_eq!(WindowWidth::Millis(10).end(i64::MAX - 1), i64::MAX);
        assert_eq!(WindowWidth::Millis(10_000).floor(-1), -10_000);
        assert_eq!(
            WindowWidth::Months(1).floor(ts("2020-02-29 23:59:59.999")),
            ts("2020-02-01 00:00:00")
        );
        // Quarters and years start in months that are multiples of 3 and 12 after January 1970.
        assert_eq!(
            WindowWidth::Months(3).floor(ts("2024-06-30 12:00:00")),
            ts("2024-04-01 00:00:00")
        );
        assert_eq!(
            WindowWidth::Months(12).floor(ts("1969-07-04 00:00:00")),
            ts("1969-01-01 00:00:00")
        );
        assert_eq!(
            WindowWidth::Millis(2 * MS_PER_HOUR).to_string(),
            "2 hour(s)"
        );
        assert_eq!(WindowWidth::Millis(1500).to_string(), "1500 ms");
        assert_eq!(unit_ms("minute"), Some(60_000));
        assert_eq!(unit_ms("MONTH"), None);
    }
}
