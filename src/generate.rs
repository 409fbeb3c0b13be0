//! Deterministic sample-data generators (`rowtime generate ...`).
//!
//! `generate_toll` writes the toll-road demo's input: one JSON line per vehicle passing a toll
//! booth, in the shape of `sql/toll_billing.json` / `sql/toll_booth_alerts.json`'s input schema:
//!
//! ```text
//! {"booth_id":"B03","account_id":"A004211","vehicle_class":"car","amount":2.50,"event_time":"2026-03-02 08:15:04.120"}
//! ```
//!
//! The output depends only on the options: the PRNG is a SplitMix64 written here and the only
//! floating-point operations are `+ - * /` (IEEE 754, correctly rounded on every platform; the
//! logarithm is computed by a series below rather than by the platform's libm), so a given
//! seed produces the same bytes on every machine and with every crate version.
//!
//! Traffic model:
//! - Arrivals over all booths form a Poisson process whose rate depends on the UTC hour of day
//!   ([`HOURLY_RATE`], vehicles per minute: about 1.5–3 at night, 25–28 in the 07–09 and 16–19
//!   rush hours; about 17,000 vehicles per day). Each gap is exponential with the rate of the
//!   hour it starts in, rounded to whole milliseconds, so event times never decrease.
//! - A vehicle picks its booth B01..B08 by fixed weights ([`BOOTH_WEIGHTS`]), its account from
//!   A000001..A005000 with a heavy skew (a few hundred accounts make most trips), and its class
//!   by weights that shift towards trucks at night.
//! - Amount by class: car 2.50, motorcycle 1.25, bus 5.00, truck 7.75; ×0.8, rounded to cents,
//!   from 22:00 to 06:00 (night discount).
//! - With `bad_share` > 0, each line is malformed with that probability, in four kinds chosen
//!   evenly: truncated JSON, `"amount":"abc"`, `"event_time":null`, `"event_time":"not a time"`.
//!   The random draws are the same whatever `bad_share` is, so two runs with the same seed
//!   describe the same traffic and differ only in which lines are spoiled.

use std::io::{self, Write};

use crate::time::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, days_from_civil, timestamp_text};

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Json,
    /// Comma-separated values in the schema's column order, no header line.
    Csv,
}

/// Options of [`generate_toll`].
#[derive(Debug, Clone, PartialEq)]
pub struct TollOptions {
    /// Number of lines to write (good and malformed).
    pub count: u64,
    /// PRNG seed.
    pub seed: u64,
    /// Probability that a line is malformed on purpose (0.0..=1.0).
    pub bad_share: f64,
    /// Clock start, milliseconds since the Unix epoch (UTC). The first vehicle comes after it.
    pub start_ms: i64,
    pub format: Format,
}

/// 2026-03-02 00:00:00 UTC in milliseconds since the epoch.
pub const DEFAULT_TOLL_START_MS: i64 = days_from_civil(2026, 3, 2) * MS_PER_DAY;

impl Default for TollOptions {
    fn default() -> Self {
        TollOptions {
            count: 10_000,
            seed: 1,
            bad_share: 0.0,
            start_ms: DEFAULT_TOLL_START_MS,
            format: Format::Json,
        }
    }
}

/// Vehicles per minute over all booths, by UTC hour of day.
pub const HOURLY_RATE: [f64; 24] = [
    3.0, 2.0, 1.5, 1.5, 2.0, 4.0, // 00-05: night
    10.0, 25.0, 25.0, 15.0, 12.0, 12.0, // 06-11: morning rush 07-09
    14.0, 12.0, 12.0, 15.0, 25.0, 28.0, // 12-17: evening rush from 16
    25.0, 15.0, 10.0, 8.0, 6.0, 4.0, // 18-23
];

/// Booth ids and their share of the traffic (weights sum to 100).
pub const BOOTHS: [&str; 8] = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08"];
/// Weight of each booth in [`BOOTHS`], in percent.
pub const BOOTH_WEIGHTS: [u32; 8] = [22, 18, 15, 12, 10, 9, 8, 6];

/// Number of accounts: A000001..A005000.
pub const ACCOUNTS: u64 = 5_000;

/// Vehicle classes and their full toll in cents.
const CLASSES: [(&str, i64); 4] = [
    ("car", 250),
    ("motorcycle", 125),
    ("bus", 500),
    ("truck", 775),
];
const CLASS_WEIGHTS_DAY: [u32; 4] = [78, 6, 4, 12];
const CLASS_WEIGHTS_NIGHT: [u32; 4] = [60, 3, 2, 35];

/// Writes `opts.count` JSON lines to `out`; returns how many of them are malformed on purpose.
pub fn generate_toll(opts: &TollOptions, out: &mut impl Write) -> io::Result<u64> {
    let mut rng = SplitMix64::new(opts.seed);
    let mut now = opts.start_ms;
    let mut bad = 0;
    let mut line = String::with_capacity(160);
    for _ in 0..opts.count {
        // The draws happen in the same order on every line, whatever the options.
        let hour = hour_of_day(now);
        let per_ms = HOURLY_RATE[hour] / MS_PER_MINUTE as f64;
        let gap = -ln(1.0 - rng.next_f64()) / per_ms;
        now += (gap + 0.5) as i64;

        let hour = hour_of_day(now);
        let night = !(6..22).contains(&hour);
        let booth = BOOTHS[rng.pick(&BOOTH_WEIGHTS)];
        let account = account_number(rng.next_f64());
        let class_weights = if night {
            &CLASS_WEIGHTS_NIGHT
        } else {
            &CLASS_WEIGHTS_DAY
        };
        let (class, full_cents) = CLASSES[rng.pick(class_weights)];
        let cents = if night {
            (full_cents * 8 + 5) / 10
        } else {
            full_cents
        };
        let spoil = rng.next_f64() < opts.bad_share;
        let kind = rng.below(4);
        let cut = rng.next_f64();

        line.clear();
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let time = timestamp_text(now);
        let account = format!("A{account:06}");
        match opts.format {
            Format::Json => {
                let time = format!("\"{time}\"");
                let (amount, time) = match (spoil, kind) {
                    (true, 1) => ("\"abc\"".to_string(), time),
                    (true, 2) => (amount, "null".to_string()),
                    (true, 3) => (amount, "\"not a time\"".to_string()),
                    _ => (amount, time),
                };
                line.push_str(&format!(
                    "{{\"booth_id\":\"{booth}\",\"account_id\":\"{account}\",\"vehicle_class\":\"{class}\",\"amount\":{amount},\"event_time\":{time}}}"
                ));
            }
            Format::Csv => {
                let (amount, time) = match (spoil, kind) {
                    (true, 1) => ("abc".to_string(), time),
                    (true, 2) => (amount, String::new()),
                    (true, 3) => (amount, "not a time".to_string()),
                    _ => (amount, time),
                };
                line.push_str(&format!("{booth},{account},{class},{amount},{time}"));
            }
        }
        if spoil && kind == 0 {
            // A strict prefix of a JSON object never parses; keep at least 10 bytes. A CSV line
            // cut before its last comma has too few fields.
            let last_comma = line.rfind(',').unwrap_or(line.len());
            let limit = match opts.format {
                Format::Json => line.len() - 11,
                Format::Csv => last_comma - 10,
            };
            let len = 10 + (cut * limit as f64) as usize;
            line.truncate(len);
        }
        if spoil {
            bad += 1;
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(bad)
}

/// Options of [`generate_bids`].
#[derive(Debug, Clone, PartialEq)]
pub struct BidOptions {
    pub count: u64,
    pub seed: u64,
    /// Time of the first bid, milliseconds since the Unix epoch (UTC).
    pub start_ms: i64,
    pub format: Format,
}

impl Default for BidOptions {
    fn default() -> Self {
        BidOptions {
            count: 10_000,
            seed: 1,
            start_ms: DEFAULT_TOLL_START_MS,
            format: Format::Json,
        }
    }
}

/// Channels a bid comes from (Nexmark's).
const CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// A new auction opens every this many bids; bids go to the last [`OPEN_AUCTIONS`] opened.
const BIDS_PER_NEW_AUCTION: u64 = 50;
const OPEN_AUCTIONS: u64 = 1_000;

/// Writes `opts.count` bids of a Nexmark-style auction stream:
/// `{"auction":1003,"bidder":2001,"price":1234,"channel":"Google","url":"https://www.nexmark.com/item/1003","date_time":"2026-03-02 00:00:00.005"}`
/// (CSV: the same fields in that order). `date_time` strictly increases (1–2 ms apart, about
/// 670 bids per second); a bid goes to one of the 1,000 most recently opened auctions, recent
/// ones more often; bidders are skewed like toll accounts; prices are in cents.
pub fn generate_bids(opts: &BidOptions, out: &mut impl Write) -> io::Result<()> {
    let mut rng = SplitMix64::new(opts.seed);
    let mut now = opts.start_ms;
    let mut line = String::with_capacity(160);
    for n in 0..opts.count {
        now += 1 + rng.below(2) as i64;
        let newest = 1_000 + n / BIDS_PER_NEW_AUCTION;
        let u = rng.next_f64();
        let back = ((u * u) * OPEN_AUCTIONS as f64) as u64;
        let auction = newest.saturating_sub(back).max(1_000);
        let bidder = 1_000 + account_number(rng.next_f64());
        let price = 100 + rng.below(100) * rng.below(100) + rng.below(100);
        let channel = CHANNELS[rng.below(4) as usize];
        let time = timestamp_text(now);
        let url = format!("https://www.nexmark.com/item/{auction}");
        line.clear();
        match opts.format {
            Format::Json => line.push_str(&format!(
                "{{\"auction\":{auction},\"bidder\":{bidder},\"price\":{price},\"channel\":\"{channel}\",\"url\":\"{url}\",\"date_time\":\"{time}\"}}\n"
            )),
            Format::Csv => line.push_str(&format!(
                "{auction},{bidder},{price},{channel},{url},{time}\n"
            )),
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Account number 1..=5000 from a uniform draw: cubing the draw makes low ranks frequent
/// (about a fifth of all trips come from the 50 most frequent accounts), and a fixed
/// permutation spreads the frequent ones over the number range.
fn account_number(u: f64) -> u64 {
    let rank = ((u * u * u) * ACCOUNTS as f64) as u64;
    (rank.min(ACCOUNTS - 1) * 2791 + 1234) % ACCOUNTS + 1
}

fn hour_of_day(ms: i64) -> usize {
    (ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as usize
}

/// Natural logarithm of a positive finite `x` from basic arithmetic only, so that it gives the
/// same bits everywhere: `x = m · 2^e` with `m` in [1, 2), `ln m = 2 atanh((m-1)/(m+1))`.
fn ln(x: f64) -> f64 {
    debug_assert!(x > 0.0 && x.is_finite());
    let bits = x.to_bits();
    let (mut exp, mut mant_bits) = (((bits >> 52) & 0x7ff) as i64, bits & ((1 << 52) - 1));
    if exp == 0 {
        // Subnormal: scale up by 2^54 first.
        let scaled = (x * (1u64 << 54) as f64).to_bits();
        exp = ((scaled >> 52) & 0x7ff) as i64 - 54;
        mant_bits = scaled & ((1 << 52) - 1);
    }
    let m = f64::from_bits(mant_bits | (1023 << 52));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let (mut term, mut sum) = (s, 0.0);
    let mut k = 1.0;
    while k < 60.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + (exp - 1023) as f64 * std::f64::consts::LN_2
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and fixed forever.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Index drawn with the given integer weights.
    fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < u64::from(w) {
                return i;
            }
            r -= u64::from(w);
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;
    use serde_json::Value;

    fn generate(count: u64, seed: u64, bad_share: f64) -> (Vec<u8>, u64) {
        let opts = TollOptions {
            count,
            seed,
            bad_share,
            ..TollOptions::default()
        };
        let mut out = Vec::new();
        let bad = generate_toll(&opts, &mut out).unwrap();
        (out, bad)
    }

    fn lines(bytes: &[u8]) -> Vec<&str> {
        std::str::from_utf8(bytes).unwrap().lines().collect()
    }

    /// A line the input schema accepts: its fields, with the amount in cents and the event
    /// time in milliseconds. `None` for a line that must go to `error_stream`.
    fn accepted(line: &str) -> Option<(String, String, String, i64, i64)> {
        let v: Value = serde_json::from_str(line).ok()?;
        let amount = v.get("amount")?.as_f64()?;
        let time = parse_timestamp(v.get("event_time")?.as_str()?)?;
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Some((
            text("booth_id")?,
            text("account_id")?,
            text("vehicle_class")?,
            (amount * 100.0).round() as i64,
            time,
        ))
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, _) = generate(3_000, 5, 0.02);
        let (b, _) = generate(3_000, 5, 0.02);
        let (c, _) = generate(3_000, 6, 0.02);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fixed_output_for_seed_1() {
        // Pins the generator: changing the model changes this line and the shipped sample.
        let (out, _) = generate(1, 1, 0.0);
        assert_eq!(
            lines(&out),
            [
                "{\"booth_id\":\"B05\",\"account_id\":\"A000642\",\"vehicle_class\":\"car\",\"amount\":2.00,\"event_time\":\"2026-03-02 00:00:16.720\"}"
            ]
        );
    }

    #[test]
    fn csv_lines_carry_the_same_records_as_json_lines() {
        let csv_opts = |bad_share| TollOptions {
            count: 3000,
            bad_share,
            format: Format::Csv,
            ..TollOptions::default()
        };
        let mut csv = Vec::new();
        generate_toll(&csv_opts(0.0), &mut csv).unwrap();
        let (json, _) = generate(3000, 1, 0.0);
        for (c, j) in lines(&csv).iter().zip(lines(&json)) {
            let v: Value = serde_json::from_str(j).unwrap();
            let expected = format!(
                "{},{},{},{},{}",
                v["booth_id"].as_str().unwrap(),
                v["account_id"].as_str().unwrap(),
                v["vehicle_class"].as_str().unwrap(),
                // amounts are written with two decimals in both formats
                j.split("\"amount\":")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap(),
                v["event_time"].as_str().unwrap()
            );
            assert_eq!(*c, expected);
        }
        // Malformed CSV lines: too few fields, a bad amount, a NULL or bad time.
        let mut spoiled = Vec::new();
        let bad = generate_toll(&csv_opts(0.2), &mut spoiled).unwrap();
        let broken = lines(&spoiled)
            .iter()
            .filter(|l| {
                let f: Vec<&str> = l.split(',').collect();
                f.len() != 5 || f[3] == "abc" || parse_timestamp(f[4]).is_none()
            })
            .count() as u64;
        assert!(bad > 400 && broken == bad, "{bad} spoiled, {broken} broken");
    }

    #[test]
    fn bids_are_deterministic_with_strictly_increasing_times() {
        let bids = |seed, format| {
            let mut out = Vec::new();
            let opts = BidOptions {
                count: 5000,
                seed,
                format,
                ..BidOptions::default()
            };
            generate_bids(&opts, &mut out).unwrap();
            out
        };
        assert_eq!(bids(1, Format::Json), bids(1, Format::Json));
        assert_ne!(bids(1, Format::Json), bids(2, Format::Json));
        let json = bids(1, Format::Json);
        let csv = bids(1, Format::Csv);
        let mut last = i64::MIN;
        let mut auctions = std::collections::HashSet::new();
        for (j, c) in lines(&json).iter().zip(lines(&csv)) {
            let v: Value = serde_json::from_str(j).unwrap();
            let t = parse_timestamp(v["date_time"].as_str().unwrap()).unwrap();
            assert!(t > last, "{j}");
            last = t;
            let auction = v["auction"].as_i64().unwrap();
            assert!(auction >= 1000);
            auctions.insert(auction);
            assert_eq!(
                c,
                format!(
                    "{auction},{},{},{},{},{}",
                    v["bidder"],
                    v["price"],
                    v["channel"].as_str().unwrap(),
                    v["url"].as_str().unwrap(),
                    v["date_time"].as_str().unwrap()
                )
            );
        }
        // 5000 bids open 100 auctions; bids spread over many of them.
        assert!(auctions.len() > 50, "{}", auctions.len());
    }

    #[test]
    fn counts_lines_and_malformed_ones() {
        let (out, bad) = generate(10_000, 3, 0.0);
        assert_eq!(lines(&out).len(), 10_000);
        assert_eq!(bad, 0);
        assert!(lines(&out).iter().all(|l| accepted(l).is_some()));

        let (out, bad) = generate(10_000, 3, 0.05);
        let all = lines(&out);
        assert_eq!(all.len(), 10_000);
        let rejected: Vec<&str> = all
            .iter()
            .copied()
            .filter(|l| accepted(l).is_none())
            .collect();
        assert_eq!(rejected.len() as u64, bad);
        assert!((350..650).contains(&bad), "bad = {bad}");
        let kinds = [
            rejected
                .iter()
                .filter(|l| serde_json::from_str::<Value>(l).is_err())
                .count(),
            rejected
                .iter()
                .filter(|l| l.contains("\"amount\":\"abc\""))
                .count(),
            rejected
                .iter()
                .filter(|l| l.contains("\"event_time\":null"))
                .count(),
            rejected
                .iter()
                .filter(|l| l.contains("\"not a time\""))
                .count(),
        ];
        assert_eq!(kinds.iter().sum::<usize>() as u64, bad, "{kinds:?}");
        assert!(kinds.iter().all(|&k| k > 50), "{kinds:?}");
    }

    #[test]
    fn spoiling_keeps_the_traffic() {
        let (clean, _) = generate(5_000, 9, 0.0);
        let (dirty, _) = generate(5_000, 9, 0.1);
        for (c, d) in lines(&clean).iter().zip(lines(&dirty)) {
            if accepted(d).is_some() {
                assert_eq!(*c, d);
            }
        }
    }

    #[test]
    fn event_times_never_decrease_and_advance_through_bad_lines() {
        let (out, bad) = generate(20_000, 4, 0.1);
        assert!(bad > 0);
        let times: Vec<i64> = lines(&out)
            .iter()
            .filter_map(|l| accepted(l))
            .map(|r| r.4)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[0] >= DEFAULT_TOLL_START_MS);
        // About 17,000 vehicles a day: 20,000 lines reach into the second day.
        let span = times[times.len() - 1] - DEFAULT_TOLL_START_MS;
        assert!((MS_PER_DAY..2 * MS_PER_DAY).contains(&span), "span {span}");
    }

    #[test]
    fn good_lines_fit_the_input_schema() {
        let (out, _) = generate(20_000, 8, 0.0);
        let mut booths = std::collections::BTreeMap::new();
        for line in lines(&out) {
            let v: Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object().unwrap();
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            let mut expected = [
                "booth_id",
                "account_id",
                "vehicle_class",
                "amount",
                "event_time",
            ];
            expected.sort();
            let mut keys_sorted = keys.clone();
            keys_sorted.sort();
            assert_eq!(keys_sorted, expected, "{line}");
            let (booth, account, class, cents, time) = accepted(line).unwrap();
            assert!(BOOTHS.contains(&booth.as_str()), "{line}");
            *booths.entry(booth).or_insert(0) += 1;
            let n: u64 = account[1..].parse().unwrap();
            assert!(account.len() == 7 && account.starts_with('A') && (1..=5000).contains(&n));
            let full = CLASSES.iter().find(|c| c.0 == class).unwrap().1;
            let hour = hour_of_day(time);
            let night = !(6..22).contains(&hour);
            assert_eq!(
                cents,
                if night { (full * 8 + 5) / 10 } else { full },
                "{line}"
            );
            // DECIMAL(8,2) written with exactly two decimals.
            let amount = line
                .split("\"amount\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            assert_eq!(amount, format!("{}.{:02}", cents / 100, cents % 100));
            // TIMESTAMP written as `YYYY-MM-DD HH:MM:SS.fff`.
            assert_eq!(v["event_time"].as_str().unwrap(), timestamp_text(time));
        }
        // Booths get different shares of the traffic, in weight order.
        let counts: Vec<i32> = booths.values().copied().collect();
        assert_eq!(counts.len(), 8);
        assert!(counts.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
    }

    #[test]
    fn accounts_are_skewed() {
        let (out, _) = generate(20_000, 2, 0.0);
        let mut per = std::collections::HashMap::new();
        for line in lines(&out) {
            *per.entry(accepted(line).unwrap().1).or_insert(0u32) += 1;
        }
        let mut counts: Vec<u32> = per.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top50: u32 = counts.iter().take(50).sum();
        assert!(top50 > 3_000, "top 50 accounts made {top50} of 20000 trips");
    }

    #[test]
    fn the_default_start_is_march_2nd_2026() {
        // Timestamp text itself is tested in `time.rs`.
        assert_eq!(
            timestamp_text(DEFAULT_TOLL_START_MS),
            "2026-03-02 00:00:00.000"
        );
        assert_eq!(parse_timestamp("2026-03-02"), Some(DEFAULT_TOLL_START_MS));
    }

    #[test]
    fn series_logarithm_matches_std() {
        for x in [1e-300, 1e-9, 0.001, 0.25, 0.5, 0.999_999, 1.0, 3.0, 1e12] {
            let (ours, std) = (ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 1e-14 * std.abs().max(1.0),
                "{x}: {ours} vs {std}"
            );
        }
        assert!((ln(f64::MIN_POSITIVE / 8.0) - (f64::MIN_POSITIVE / 8.0).ln()).abs() < 1e-10);
    }
}
