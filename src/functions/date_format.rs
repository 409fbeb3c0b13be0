//! KDA's date and time patterns: the letters of Java's `SimpleDateFormat`, in UTC with
//! millisecond precision. They drive the conversion functions:
//!
//! - `TIMESTAMP_TO_CHAR(format, ts)`, `DATE_TO_CHAR(format, d)`, `TIME_TO_CHAR(format, t)` write a
//!   value as text. A NULL timestamp gives the string `null`, as KDA documents; a NULL date or
//!   time gives NULL.
//! - `CHAR_TO_TIMESTAMP(format, s)`, `CHAR_TO_DATE(format, s)`, `CHAR_TO_TIME(format, s)` read
//!   text. The format comes first. Fields the format leaves out default to 1970, January, day 1
//!   and midnight; text after the format's end is ignored; a value out of range (month 13,
//!   February 30, hour 25) or text that does not match the format is an error, which sends the
//!   row to `error_stream`.
//!
//! Letters: `y` year (`yy`: two digits, read into the century around now, as Java does), `M`
//! month (`MMM` a short name, `MMMM` the full name; reading takes either), `d` day, `H` hour
//! 0–23, `k` 1–24, `h` 1–12 (KDA's `hh` is the 12-hour clock), `K` 0–11, `a` AM/PM, `m` minute,
//! `s` second, `S` millisecond, `E` day name, `u` day number (1 = Monday), `D` day of the year,
//! `z`, `Z` and `X` the zone (always UTC when written). Text in single quotes is literal, `''`
//! is a quote; other characters are literal. A number field next to another number field (as in
//! `yyyyMMdd`) reads exactly as many digits as it has letters; otherwise it reads all the digits
//! there are, after skipping spaces.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, StringArray, StringBuilder, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Time32MillisecondType, TimeUnit};
use datafusion::common::{DataFusionError, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::time::{MS_PER_DAY, civil_from_days, days_from_civil, days_in_month};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Monday first, as `u` counts.
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Literal(String),
    /// A pattern letter repeated `count` times.
    Field(char, usize),
}

fn is_number_field(item: Option<&Item>) -> bool {
    match item {
        Some(Item::Field(c, n)) => "ydHkhKmsSDu".contains(*c) || (*c == 'M' && *n <= 2),
        _ => false,
    }
}

impl Pattern {
    /// Parses a pattern; an error names the letter or the quote that is wrong.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let mut items: Vec<Item> = Vec::new();
        let literal = |items: &mut Vec<Item>, c: char| match items.last_mut() {
            Some(Item::Literal(s)) => s.push(c),
            _ => items.push(Item::Literal(c.to_string())),
        };
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal(&mut items, '\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => {
                            return Err(format!("the pattern {pattern:?} has an unclosed quote"));
                        }
                        (Some('\''), Some('\'')) => {
                            literal(&mut items, '\'');
                            i += 2;
                        }
                        (Some('\''), _) => {
                            i += 1;
                            break;
                        }
                        (Some(q), _) => {
                            literal(&mut items, *q);
                            i += 1;
                        }
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !"yMdHkhKmsSaEuDzZX".contains(c) {
                    return Err(format!(
                        "the pattern letter '{c}' in {pattern:?} is not supported; \
                         use y, M, d, H, k, h, K, m, s, S, a, E, u, D, z, Z or X, and quote literal text ('T')"
                    ));
                }
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                items.push(Item::Field(c, count));
                i += count;
            } else {
                literal(&mut items, c);
                i += 1;
            }
        }
        Ok(Pattern { items })
    }

    /// Appends `ms` (milliseconds since the epoch, UTC) written with this pattern.
    pub fn format(&self, ms: i64, out: &mut String) {
        let days = ms.div_euclid(MS_PER_DAY);
        let in_day = ms.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let hour = in_day / 3_600_000;
        let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
        let number = |out: &mut String, v: i64, width: usize| {
            let text = v.to_string();
            for _ in text.len()..width {
                out.push('0');
            }
            out.push_str(&text);
        };
        for item in &self.items {
            match *item {
                Item::Literal(ref s) => out.push_str(s),
                Item::Field('y', 2) => number(out, y.rem_euclid(100), 2),
                Item::Field('y', n) => number(out, y, n),
                Item::Field('M', n) if n >= 4 => out.push_str(MONTHS[m as usize - 1]),
                Item::Field('M', 3) => out.push_str(&MONTHS[m as usize - 1][..3]),
                Item::Field('M', n) => number(out, m as i64, n),
                Item::Field('d', n) => number(out, d as i64, n),
                Item::Field('H', n) => number(out, hour, n),
                Item::Field('k', n) => number(out, if hour == 0 { 24 } else { hour }, n),
                Item::Field('K', n) => number(out, hour % 12, n),
                Item::Field('h', n) => number(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
                Item::Field('a', _) => out.push_str(if hour < 12 { "AM" } else { "PM" }),
                Item::Field('m', n) => number(out, in_day / 60_000 % 60, n),
                Item::Field('s', n) => number(out, in_day / 1000 % 60, n),
                Item::Field('S', n) => number(out, in_day % 1000, n),
                Item::Field('E', n) if n >= 4 => out.push_str(DAYS[weekday]),
                Item::Field('E', _) => out.push_str(&DAYS[weekday][..3]),
                Item::Field('u', n) => number(out, weekday as i64 + 1, n),
                Item::Field('D', n) => number(out, days - days_from_civil(y, 1, 1) + 1, n),
                Item::Field('z', n) if n >= 4 => out.push_str("Coordinated Universal Time"),
                Item::Field('z', _) => out.push_str("UTC"),
                Item::Field('Z', _) => out.push_str("+0000"),
                Item::Field('X', _) => out.push('Z'),
                Item::Field(c, _) => unreachable!("pattern letter {c} was checked by parse"),
            }
        }
    }

    /// Reads `text` with this pattern: milliseconds since the epoch (UTC). Text after the
    /// pattern's end is ignored.
    pub fn read(&self, text: &str) -> Result<i64, String> {
        let mut f = Fields::default();
        let mut rest = text;
        for (k, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(s) => {
                    rest = rest
                        .strip_prefix(s.as_str())
                        .ok_or_else(|| format!("expected {s:?} at {:?}", clip(rest)))?;
                }
                Item::Field(c, n) => {
                    rest = rest.trim_start_matches([' ', '\t']);
                    let adjacent = is_number_field(self.items.get(k + 1));
                    rest = f.read_field(*c, *n, rest, adjacent)?;
                }
            }
        }
        f.millis()
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The fields read so far.
#[derive(Default)]
struct Fields {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour24: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    milli: Option<u32>,
    offset_ms: i64,
}

impl Fields {
    /// Reads one field at the start of `s`; returns what follows it.
    fn read_field<'s>(
        &mut self,
        c: char,
        n: usize,
        s: &'s str,
        adjacent: bool,
    ) -> Result<&'s str, String> {
        let name = |c: char| match c {
            'y' => "year",
            'M' => "month",
            'd' => "day",
            'H' | 'k' | 'h' | 'K' => "hour",
            'm' => "minute",
            's' => "second",
            'S' => "millisecond",
            'D' => "day of the year",
            _ => "day number",
        };
        let in_range = |v: i64, lo: i64, hi: i64| -> Result<u32, String> {
            if (lo..=hi).contains(&v) {
                Ok(v as u32)
            } else {
                Err(format!("{v} is not a valid {} ({lo} to {hi})", name(c)))
            }
        };
        match c {
            'M' if n >= 3 => {
                let (i, rest) = match_name(s, &MONTHS)
                    .ok_or_else(|| format!("expected a month name at {:?}", clip(s)))?;
                self.month = Some(i as u32 + 1);
                Ok(rest)
            }
            'E' => {
                let (_, rest) = match_name(s, &DAYS)
                    .ok_or_else(|| format!("expected a day name at {:?}", clip(s)))?;
                Ok(rest)
            }
            'a' => {
                let upper = s.get(..2).map(str::to_ascii_uppercase);
                match upper.as_deref() {
                    Some("AM") => self.pm = Some(false),
                    Some("PM") => self.pm = Some(true),
                    _ => return Err(format!("expected AM or PM at {:?}", clip(s))),
                }
                Ok(&s[2..])
            }
            'z' | 'Z' | 'X' => {
                let (offset, rest) =
                    read_zone(s).ok_or_else(|| format!("expected a time zone at {:?}", clip(s)))?;
                self.offset_ms = offset;
                Ok(rest)
            }
            _ => {
                let digits = s.bytes().take_while(u8::is_ascii_digit).count();
                let used = if adjacent { n } else { digits };
                if digits == 0 || digits < used {
                    return Err(format!("expected the {} at {:?}", name(c), clip(s)));
                }
                let v: i64 = s[..used]
                    .parse()
                    .map_err(|_| format!("the {} at {:?} is too long", name(c), clip(s)))?;
                match c {
                    'y' if n == 2 && used == 2 => self.year = Some(two_digit_year(v)),
                    'y' => self.year = Some(v),
                    'M' => self.month = Some(in_range(v, 1, 12)?),
                    'd' => self.day = Some(in_range(v, 1, 31)?),
                    'D' => self.day_of_year = Some(in_range(v, 1, 366)?),
                    'H' => self.hour24 = Some(in_range(v, 0, 23)?),
                    'k' => self.hour24 = Some(in_range(v, 1, 24)? % 24),
                    'h' => self.hour12 = Some(in_range(v, 1, 12)? % 12),
                    'K' => self.hour12 = Some(in_range(v, 0, 11)?),
                    'm' => self.minute = Some(in_range(v, 0, 59)?),
                    's' => self.second = Some(in_range(v, 0, 59)?),
                    'S' => self.milli = Some(in_range(v, 0, 999)?),
                    _ => {
                        in_range(v, 1, 7)?; // `u`: checked, not needed for the date
                    }
                }
                Ok(&s[used..])
            }
        }
    }

    fn millis(&self) -> Result<i64, String> {
        let year = self.year.unwrap_or(1970);
        // A TIMESTAMP (milliseconds in an i64) reaches about 292 million years either side of
        // 1970: a year past that is out of range, not an arithmetic overflow.
        let out_of_range = || format!("the year {year} is out of the range of a TIMESTAMP");
        if year.unsigned_abs() > 292_000_000 {
            return Err(out_of_range());
        }
        let days = match (self.day_of_year, self.month, self.day) {
            (Some(doy), None, None) => {
                let leap = days_in_month(year, 2) == 29;
                if doy == 366 && !leap {
                    return Err(format!("{year} has no day 366"));
                }
                days_from_civil(year, 1, 1) + doy as i64 - 1
            }
            (_, month, day) => {
                let (month, day) = (month.unwrap_or(1), day.unwrap_or(1));
                if day > days_in_month(year, month) {
                    return Err(format!(
                        "{} has no day {day} in {year}",
                        MONTHS[month as usize - 1]
                    ));
                }
                days_from_civil(year, month, day)
            }
        };
        let hour = match (self.hour24, self.hour12, self.pm) {
            (Some(h), _, _) => h,
            (None, h, pm) => h.unwrap_or(0) + if pm == Some(true) { 12 } else { 0 },
        };
        let in_day = ((hour as i64 * 60 + self.minute.unwrap_or(0) as i64) * 60
            + self.second.unwrap_or(0) as i64)
            * 1000
            + self.milli.unwrap_or(0) as i64;
        days.checked_mul(MS_PER_DAY)
            .and_then(|ms| ms.checked_add(in_day - self.offset_ms))
            .ok_or_else(out_of_range)
    }
}

/// A month or day name, full or its first three letters, any case: its index and the rest.
fn match_name<'s>(s: &'s str, names: &[&str]) -> Option<(usize, &'s str)> {
    for (i, full) in names.iter().enumerate() {
        for len in [full.len(), 3] {
            if s.len() >= len && s.as_bytes()[..len].eq_ignore_ascii_case(&full.as_bytes()[..len]) {
                return Some((i, &s[len..]));
            }
        }
    }
    None
}

/// `UTC`, `GMT`, `Z`, `±hh`, `±hhmm` or `±hh:mm` (also after `UTC`/`GMT`): the offset in ms.
fn read_zone(s: &str) -> Option<(i64, &str)> {
    let (named, rest) = if let Some(r) = s.strip_prefix("UTC").or_else(|| s.strip_prefix("GMT")) {
        (true, r)
    } else if let Some(r) = s.strip_prefix('Z') {
        return Some((0, r));
    } else {
        (false, s)
    };
    let sign = match rest.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ if named => return Some((0, rest)),
        _ => return None,
    };
    let b = rest.as_bytes();
    let two = |at: usize| -> Option<i64> {
        let d = b.get(at..at + 2)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| ((d[0] - b'0') * 10 + (d[1] - b'0')) as i64)
    };
    let hours = two(1)?;
    let (minutes, used) = match (b.get(3), two(3), two(4)) {
        (Some(b':'), _, Some(m)) => (m, 6),
        (_, Some(m), _) => (m, 5),
        _ => (0, 3),
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 60 + minutes) * 60_000, &rest[used..]))
}

/// Java's rule for a two-digit year: the year within 80 years before and 20 years after now.
fn two_digit_year(v: i64) -> i64 {
    let now = chrono::Datelike::year(&chrono::Utc::now()) as i64;
    let start = now - 80;
    let century = start - start.rem_euclid(100);
    let year = century + v;
    if year < start { year + 100 } else { year }
}

// ---------------------------------------------------------------------------------------------
// The SQL functions

/// Which conversion a [`DateFormatFunction`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Conversion {
    TimestampToChar,
    DateToChar,
    TimeToChar,
    CharToTimestamp,
    CharToDate,
    CharToTime,
}

/// One of the six conversion functions; `format` is the first argument.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateFormatFunction {
    name: &'static str,
    conversion: Conversion,
    signature: Signature,
}

impl DateFormatFunction {
    /// All six, by their (lower-case) names.
    pub fn all() -> Vec<ScalarUDF> {
        [
            ("timestamp_to_char", Conversion::TimestampToChar),
            ("date_to_char", Conversion::DateToChar),
            ("time_to_char", Conversion::TimeToChar),
            ("char_to_timestamp", Conversion::CharToTimestamp),
            ("char_to_date", Conversion::CharToDate),
            ("char_to_time", Conversion::CharToTime),
        ]
        .into_iter()
        .map(|(name, conversion)| {
            ScalarUDF::new_from_impl(DateFormatFunction {
                name,
                conversion,
                signature: Signature::any(2, Volatility::Immutable),
            })
        })
        .collect()
    }

    /// The pattern of row `row` (NULL: None), parsed once while rows repeat it.
    fn pattern<'c>(
        &self,
        formats: &StringArray,
        row: usize,
        cache: &'c mut Option<(String, Pattern)>,
    ) -> datafusion::error::Result<Option<&'c Pattern>> {
        if formats.is_null(row) {
            return Ok(None);
        }
        let text = formats.value(row);
        if cache.as_ref().is_none_or(|(t, _)| t != text) {
            let parsed = Pattern::parse(text).map_err(|e| self.error(e))?;
            *cache = Some((text.to_string(), parsed));
        }
        Ok(cache.as_ref().map(|(_, p)| p))
    }

    fn error(&self, why: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("{}: {why}", self.name.to_uppercase()))
    }
}

impl ScalarUDFImpl for DateFormatFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(match self.conversion {
            Conversion::TimestampToChar | Conversion::DateToChar | Conversion::TimeToChar => {
                DataType::Utf8
            }
            Conversion::CharToTimestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            Conversion::CharToDate => DataType::Date32,
            Conversion::CharToTime => DataType::Time32(TimeUnit::Millisecond),
        })
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let [format, value] = args.args.as_slice() else {
            return exec_err!(
                "{} takes two arguments: the format, then the value",
                self.name.to_uppercase()
            );
        };
        let n = args.number_rows;
        let formats = cast(&format.to_array(n)?, &DataType::Utf8)?;
        let formats = formats.as_string::<i32>();
        let mut cache: Option<(String, Pattern)> = None;
        let value = value.to_array(n)?;
        let result: ArrayRef = match self.conversion {
            Conversion::TimestampToChar | Conversion::DateToChar | Conversion::TimeToChar => {
                let ms: Vec<Option<i64>> = match self.conversion {
                    Conversion::TimestampToChar => {
                        let v = cast(&value, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
                        v.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                            .iter()
                            .collect()
                    }
                    Conversion::DateToChar => {
                        let v = cast(&value, &DataType::Date32)?;
                        v.as_primitive::<Date32Type>()
                            .iter()
                            .map(|d| d.map(|d| d as i64 * MS_PER_DAY))
                            .collect()
                    }
                    _ => {
                        let v = cast(&value, &DataType::Time32(TimeUnit::Millisecond))?;
                        v.as_primitive::<Time32MillisecondType>()
                            .iter()
                            .map(|t| t.map(i64::from))
                            .collect()
                    }
                };
                let mut out = StringBuilder::with_capacity(n, n * 20);
                let mut text = String::new();
                for (row, ms) in ms.into_iter().enumerate() {
                    match (self.pattern(formats, row, &mut cache)?, ms) {
                        (None, _) => out.append_null(),
                        // KDA documents the text "null" for a NULL timestamp.
                        (Some(_), None) if self.conversion == Conversion::TimestampToChar => {
                            out.append_value("null")
                        }
                        (Some(_), None) => out.append_null(),
                        (Some(p), Some(ms)) => {
                            text.clear();
                            p.format(ms, &mut text);
                            out.append_value(&text);
                        }
                    }
                }
                Arc::new(out.finish())
            }
            Conversion::CharToTimestamp | Conversion::CharToDate | Conversion::CharToTime => {
                let texts = cast(&value, &DataType::Utf8)?;
                let texts = texts.as_string::<i32>();
                let mut ms: Vec<Option<i64>> = Vec::with_capacity(n);
                for row in 0..n {
                    let Some(p) = self.pattern(formats, row, &mut cache)? else {
                        ms.push(None);
                        continue;
                    };
                    if texts.is_null(row) {
                        ms.push(None);
                        continue;
                    }
                    let text = texts.value(row);
                    let v = p.read(text).map_err(|why| {
                        self.error(format!(
                            "{text:?} does not match the format {:?}: {why}",
                            formats.value(row)
                        ))
                    })?;
                    ms.push(Some(v));
                }
                match self.conversion {
                    Conversion::CharToTimestamp => Arc::new(TimestampMillisecondArray::from(ms)),
                    Conversion::CharToDate => Arc::new(Date32Array::from(
                        ms.iter()
                            .map(|v| v.map(|v| v.div_euclid(MS_PER_DAY) as i32))
                            .collect::<Vec<_>>(),
                    )),
                    _ => Arc::new(Time32MillisecondArray::from(
                        ms.iter()
                            .map(|v| v.map(|v| v.rem_euclid(MS_PER_DAY) as i32))
                            .collect::<Vec<_>>(),
                    )),
                }
            }
        };
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> i64 {
        crate::time::parse_timestamp(text).unwrap()
    }

    fn write(pattern: &str, at: &str) -> String {
        let mut out = String::new();
        Pattern::parse(pattern).unwrap().format(ts(at), &mut out);
        out
    }

    fn read(pattern: &str, text: &str) -> Result<String, String> {
        let ms = Pattern::parse(pattern).unwrap().read(text)?;
        let mut out = String::new();
        crate::time::push_timestamp_ms(ms, &mut out, false);
        Ok(out)
    }

    #[test]
    fn ex23_hh_is_the_12_hour_clock() {
        // EX-23: 'yyyy-MM-dd hh:mm:ss' writes 12:50:41 as "2018-05-09 12:50:41".
        assert_eq!(
            write("yyyy-MM-dd hh:mm:ss", "2018-05-09 12:50:41.337"),
            "2018-05-09 12:50:41"
        );
        assert_eq!(write("hh:mm a", "2018-05-09 00:05:00"), "12:05 AM");
        assert_eq!(write("HH:mm a", "2018-05-09 13:05:00"), "13:05 PM");
        assert_eq!(write("K k", "2018-05-09 00:05:00"), "0 24");
    }

    #[test]
    fn writes_names_numbers_quotes_and_zones() {
        let at = "2009-09-16 03:15:24.007";
        assert_eq!(write("EEEE, MMMM d, yy", at), "Wednesday, September 16, 09");
        assert_eq!(write("EEE MMM dd y", at), "Wed Sep 16 2009");
        assert_eq!(write("yyyyMMdd'T'HHmmss.SSS", at), "20090916T031524.007");
        assert_eq!(write("D u 'o''clock' ''", at), "259 3 o'clock '");
        assert_eq!(write("HH:mm:ss z Z X", at), "03:15:24 UTC +0000 Z");
        assert_eq!(write("S SS", at), "7 07");
    }

    /// The documented templates of CHAR_TO_TIMESTAMP (sql-reference-template-strings-create-
    /// output-timestamps.html).
    #[test]
    fn documented_templates() {
        let cases = [
            (
                "yyyy-MM-dd hh:mm:ss",
                "2009-09-16 03:15:24",
                "2009-09-16 03:15:24.000",
            ),
            ("yyyy-mm", "2011-02-08 07:23:19", "2011-01-01 00:02:00.000"),
            ("MMM dd, yyyy", "March 7, 2010", "2010-03-07 00:00:00.000"),
            ("MMM dd,", "March 7, 2010", "1970-03-07 00:00:00.000"),
            ("MMM dd,y", "March 7, 2010", "2010-03-07 00:00:00.000"),
            ("MMM dd,y", "March 7, 10", "0010-03-07 00:00:00.000"),
            ("M-d", "2-8", "1970-02-08 00:00:00.000"),
            ("M-d", "2-8-2011", "1970-02-08 00:00:00.000"),
            (
                "MM-dd-yyyy",
                "06-23-2011 10:11:12",
                "2011-06-23 00:00:00.000",
            ),
            (
                "dd-MM-yy hh:mm:ss",
                "23-06-11 10:11:12",
                "2011-06-23 10:11:12.000",
            ),
            (
                "MM-dd-yy ss:hh:mm",
                "06-23-11 12:10:11",
                "2011-06-23 10:11:12.000",
            ),
            (
                "yy-dd-MM ss:hh:mm",
                "06-23-11 12:10:11",
                "2006-11-23 10:11:12.000",
            ),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                read(pattern, text).as_deref(),
                Ok(expected),
                "{pattern} {text}"
            );
        }
        // "using '2011-2-8' would give no result because 2011 is not a valid month"
        let err = read("M-d", "2011-2-8").unwrap_err();
        assert_eq!(err, "2011 is not a valid month (1 to 12)");
    }

    #[test]
    fn reads_adjacent_fields_twelve_hour_clocks_and_zones() {
        let cases = [
            (
                "yyyyMMddHHmmss",
                "20090916031524",
                "2009-09-16 03:15:24.000",
            ),
            (
                "yyyy-MM-dd'T'HH:mm:ss.SSSX",
                "2009-09-16T03:15:24.250Z",
                "2009-09-16 03:15:24.250",
            ),
            (
                "yyyy-MM-dd HH:mm Z",
                "2009-09-16 03:15 +0130",
                "2009-09-16 01:45:00.000",
            ),
            (
                "yyyy-MM-dd HH:mm z",
                "2009-09-16 03:15 UTC",
                "2009-09-16 03:15:00.000",
            ),
            ("hh:mm a", "12:05 AM", "1970-01-01 00:05:00.000"),
            ("hh:mm a", "12:05 pm", "1970-01-01 12:05:00.000"),
            ("hh:mm a", "01:05 PM", "1970-01-01 13:05:00.000"),
            (
                "EEE, d MMM yyyy",
                "Tue, 2 FEBRUARY 2010",
                "2010-02-02 00:00:00.000",
            ),
            ("yyyy D", "2012 366", "2012-12-31 00:00:00.000"),
            ("kk:mm", "24:00", "1970-01-01 00:00:00.000"),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                read(pattern, text).as_deref(),
                Ok(expected),
                "{pattern} {text}"
            );
        }
    }

    #[test]
    fn bad_text_and_bad_patterns_say_what_is_wrong() {
        assert_eq!(
            read("yyyy-MM-dd", "2011-02-30").unwrap_err(),
            "February has no day 30 in 2011"
        );
        assert_eq!(
            read("HH:mm", "25:00").unwrap_err(),
            "25 is not a valid hour (0 to 23)"
        );
        assert_eq!(
            read("yyyy-MM", "2011/02").unwrap_err(),
            "expected \"-\" at \"/02\""
        );
        assert_eq!(
            read("MMM d", "Mxy 7").unwrap_err(),
            "expected a month name at \"Mxy 7\""
        );
        assert_eq!(
            read("yyyy-MM-dd", "2011-").unwrap_err(),
            "expected the month at \"\""
        );
        assert_eq!(
            read("yyyy D", "2011 366").unwrap_err(),
            "2011 has no day 366"
        );
        assert!(Pattern::parse("yyyy-MM-dd q").unwrap_err().contains("'q'"));
        assert!(
            Pattern::parse("yyyy 'T")
                .unwrap_err()
                .contains("unclosed quote")
        );
    }

    #[test]
    fn two_digit_years_fall_within_80_years_before_and_20_after_now() {
        let now = chrono::Datelike::year(&chrono::Utc::now()) as i64;
        for v in 0..100 {
            let y = two_digit_year(v);
            assert_eq!(y.rem_euclid(100), v);
            assert!((now - 80..now + 20).contains(&y), "{v} -> {y}");
        }
    }

    #[test]
    fn a_year_past_the_range_of_a_timestamp_is_an_error_not_an_overflow() {
        let read = |p: &str, t: &str| Pattern::parse(p).unwrap().read(t);
        assert_eq!(
            read("y", "99999999999999").unwrap_err(),
            "the year 99999999999999 is out of the range of a TIMESTAMP"
        );
        assert!(read("y", "-999999999999999999").is_err());
        // The last days a TIMESTAMP holds still read.
        assert!(read("yyyy-MM-dd", "292000000-12-31").is_ok());
        assert!(read("yyyy-MM-ddXXX", "292000000-01-01-23:00").is_ok());
    }
}
