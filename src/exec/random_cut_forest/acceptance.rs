//! Acceptance tests of `RANDOM_CUT_FOREST` and its explanation form through the SQL path (the
//! pump parsed, planned and run by its operators), on seeded synthetic data, pooled over five
//! seeds of the forest. The thresholds are statistical: they carry margin over what AWS's own
//! implementation gives on the same kind of data (its figures are in the comments), so they
//! hold for any correct random cut forest, not for one sequence of draws.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::record_batch::RecordBatch;

use super::RandomCutForestSpec;
use super::rng::Rng;
use crate::exec::test_util::{batch, run};
use crate::plan::OperatorSpec;
use crate::types::SqlType;

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

fn normal(rng: &mut Rng) -> f64 {
    let (u, v) = (rng.open_unit(), rng.unit());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A whole number from `lo` to `hi` inclusive (Python's `randint`).
fn randint(rng: &mut Rng, lo: i32, hi: i32) -> i32 {
    lo + (rng.unit() * (hi - lo + 1) as f64) as i32
}

/// Plans `code` (reading stream `S` with `columns`), gives its forest `seed`, pushes `input`
/// through the pump and returns what it wrote (ROWTIME last).
fn run_seeded(
    code: &str,
    columns: &[(&str, SqlType)],
    input: &RecordBatch,
    seed: u64,
) -> RecordBatch {
    let stream = crate::catalog::StreamDef {
        name: "S".into(),
        columns: columns.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        kind: crate::catalog::StreamKind::Created,
    };
    let catalog = crate::catalog::Catalog::new(vec![stream], vec![]);
    let src = crate::error::SourceText::new("test.sql", code);
    let statements = crate::dialect::parse_application(&src).unwrap();
    let plan = crate::plan::plan(&src, &statements, catalog).unwrap();
    let mut ops: Vec<Box<dyn crate::exec::Operator>> = plan.pumps[0]
        .ops
        .iter()
        .map(|o| match o {
            OperatorSpec::RandomCutForest(s) => {
                OperatorSpec::RandomCutForest(Arc::new(RandomCutForestSpec {
                    seed,
                    ..(**s).clone()
                }))
            }
            other => other.clone(),
        })
        .map(|o| o.build(&HashMap::new()).unwrap())
        .collect();
    let (out, errors) = run(&mut ops, input.clone(), i64::MAX);
    assert!(errors.is_empty(), "{errors:?}");
    let schema = out[0].schema();
    datafusion::arrow::compute::concat_batches(&schema, &out).unwrap()
}

fn doubles(b: &RecordBatch, name: &str) -> Vec<f64> {
    let i = b.schema().index_of(name).unwrap();
    b.column(i).as_primitive::<Float64Type>().values().to_vec()
}

fn texts(b: &RecordBatch, name: &str) -> Vec<String> {
    let i = b.schema().index_of(name).unwrap();
    let a = b.column(i).as_string::<i32>();
    (0..a.len()).map(|r| a.value(r).to_string()).collect()
}

fn times(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| 1_700_000_000_000 + i * 100).collect()
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The probability that a random `high` row scores above a random `low` row (ties half).
fn auc(high: &[f64], low: &[f64]) -> f64 {
    let mut wins = 0.0;
    for h in high {
        for l in low {
            wins += if h > l {
                1.0
            } else if h == l {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (high.len() * low.len()) as f64
}

/// RCF-1 (the IDs are those of docs/machine-learning.md): the cursor's columns and ROWTIMEs come out unchanged and in order, one
/// row per row, with 64 zero scores first (KDA's warm-up with the defaults).
#[test]
fn rcf_1_every_row_comes_out_unchanged_with_64_zeros_first() {
    let mut rng = Rng::seeded(100);
    let n = 500;
    let a: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
    let b: Vec<i32> = (0..n).map(|_| randint(&mut rng, 0, 9)).collect();
    let tag: Vec<String> = (0..n).map(|i| format!("t{}", i % 7)).collect();
    let input = batch(
        vec![
            ("A", Arc::new(Float64Array::from(a.clone())) as ArrayRef),
            ("B", Arc::new(Int32Array::from(b.clone()))),
            ("TAG", Arc::new(StringArray::from(tag.clone()))),
        ],
        &times(n),
    );
    let code = "CREATE STREAM OUT (A DOUBLE, B INTEGER, TAG VARCHAR(8), ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));";
    let cols = [
        ("A", SqlType::Double),
        ("B", SqlType::Integer),
        ("TAG", SqlType::Varchar(Some(8))),
    ];
    let out = run_seeded(code, &cols, &input, 1);
    assert_eq!(out.num_rows(), n);
    assert_eq!(doubles(&out, "A"), a);
    let bs = out
        .column(1)
        .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
    assert_eq!(bs.values().to_vec(), b);
    assert_eq!(texts(&out, "TAG"), tag);
    let rowtimes = out
        .column(out.num_columns() - 1)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    assert_eq!(rowtimes.values().to_vec(), times(n));
    let scores = doubles(&out, "ANOMALY_SCORE");
    assert!(scores[..64].iter().all(|s| *s == 0.0));
    assert!(scores[64..].iter().all(|s| *s > 0.0));
}

/// RCF-2: with shingleSize 4 the first point exists at the fourth row, so 64 + 3 zeros.
#[test]
fn rcf_2_a_shingle_of_four_adds_three_rows_to_the_warm_up() {
    let mut rng = Rng::seeded(101);
    let n = 200;
    let a: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
    let b: Vec<i32> = (0..n).map(|_| randint(&mut rng, 0, 9)).collect();
    let input = batch(
        vec![
            ("A", Arc::new(Float64Array::from(a)) as ArrayRef),
            ("B", Arc::new(Int32Array::from(b))),
        ],
        &times(n),
    );
    let code = "CREATE STREAM OUT (A DOUBLE, ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM A, ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 100, 256, 100000, 4));";
    let cols = [("A", SqlType::Double), ("B", SqlType::Integer)];
    let scores = doubles(&run_seeded(code, &cols, &input, 1), "ANOMALY_SCORE");
    assert!(scores[..67].iter().all(|s| *s == 0.0));
    assert!(scores[67..].iter().all(|s| *s > 0.0));
}

/// RCF-3: the mixture of the RCF paper (and of AWS's example-data/rcf-paper.csv, regenerated):
/// two tight clusters at x = ±5 and eleven points at the origin between them. Each origin point
/// scores above every cluster point after the first 200 rows, but for at most one miss over the
/// five seeds. AWS's implementation: origin 2.66 to 3.96, cluster p99 1.36, max 1.72.
#[test]
fn rcf_3_points_between_two_clusters_score_above_the_clusters() {
    let origin = [294, 404, 607, 943, 1055, 1092, 1163, 1560, 1694, 1960, 2006];
    let mut rng = Rng::seeded(102);
    let rows: Vec<[f64; 3]> = (1..=2010)
        .map(|i| {
            let s = 0.01;
            if origin.contains(&i) {
                [
                    s * normal(&mut rng),
                    s * normal(&mut rng),
                    s * normal(&mut rng),
                ]
            } else {
                let x = if rng.unit() < 0.5 { -5.0 } else { 5.0 };
                [
                    x + s * normal(&mut rng),
                    s * normal(&mut rng),
                    s * normal(&mut rng),
                ]
            }
        })
        .collect();
    let column = |k: usize| Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r[k])));
    let input = batch(
        vec![
            ("X", column(0) as ArrayRef),
            ("Y", column(1)),
            ("Z", column(2)),
        ],
        &times(rows.len()),
    );
    let code = "CREATE STREAM OUT (ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));";
    let cols = [
        ("X", SqlType::Double),
        ("Y", SqlType::Double),
        ("Z", SqlType::Double),
    ];
    let mut misses = 0;
    for seed in SEEDS {
        let scores = doubles(&run_seeded(code, &cols, &input, seed), "ANOMALY_SCORE");
        let cluster_max = (199..rows.len())
            .filter(|i| !origin.contains(&(i + 1)))
            .map(|i| scores[i])
            .fold(0.0, f64::max);
        misses += origin
            .iter()
            .filter(|i| scores[**i - 1] <= cluster_max)
            .count();
    }
    assert!(
        misses <= 1,
        "{misses} origin points at or below the clusters"
    );
}

/// The sine of RCF-4 and RCF-5: a period of 50 with noise, and ten spikes of ±3 after row 1500.
fn sine_with_spikes(seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = Rng::seeded(seed);
    let mut v: Vec<f64> = (0..5000)
        .map(|t| (2.0 * std::f64::consts::PI * t as f64 / 50.0).sin() + 0.05 * normal(&mut rng))
        .collect();
    let mut spikes = Vec::new();
    while spikes.len() < 10 {
        let t = 1500 + (rng.unit() * 3500.0) as usize;
        // Apart, so that the shingled windows of two spikes do not overlap.
        if spikes.iter().all(|s: &usize| s.abs_diff(t) > 8) {
            spikes.push(t);
        }
    }
    for t in &spikes {
        v[*t] += if rng.unit() < 0.5 { 3.0 } else { -3.0 };
    }
    (v, spikes)
}

/// RCF-4: the ten spikes are the ten highest scores after row 1000 (precision ≥ 0.9 pooled) and
/// each scores above the 99th percentile of the other rows. AWS: precision 1.0, the lowest
/// spike 4.1 against a p99 of 1.25 to 1.31.
#[test]
fn rcf_4_spikes_on_a_sine_are_the_highest_scores() {
    let code = "CREATE STREAM OUT (ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));";
    let cols = [("V", SqlType::Double)];
    let (mut found, mut below) = (0, 0);
    for seed in SEEDS {
        let (v, spikes) = sine_with_spikes(200 + seed);
        let input = batch(
            vec![("V", Arc::new(Float64Array::from(v)) as ArrayRef)],
            &times(5000),
        );
        let scores = doubles(&run_seeded(code, &cols, &input, seed), "ANOMALY_SCORE");
        let mut order: Vec<usize> = (1000..5000).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        found += order[..10].iter().filter(|t| spikes.contains(t)).count();
        let others: Vec<f64> = (1000..5000)
            .filter(|t| !spikes.contains(t))
            .map(|t| scores[t])
            .collect();
        let p99 = percentile(&others, 0.99);
        below += spikes.iter().filter(|t| scores[**t] <= p99).count();
    }
    assert!(found >= 45, "precision@10 pooled {}", found as f64 / 50.0);
    assert_eq!(below, 0, "spikes at or below the p99 of the other rows");
}

/// RCF-5: with shingleSize 4 a spike is in four points; the highest score of rows t..t+3 is
/// above the 99th percentile of the rows outside every such window (AWS: 100 %).
#[test]
fn rcf_5_a_shingled_forest_finds_each_spike_within_its_shingle() {
    let code = "CREATE STREAM OUT (ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 100, 256, 100000, 4));";
    let cols = [("V", SqlType::Double)];
    let mut missed = 0;
    for seed in SEEDS {
        let (v, spikes) = sine_with_spikes(300 + seed);
        let input = batch(
            vec![("V", Arc::new(Float64Array::from(v)) as ArrayRef)],
            &times(5000),
        );
        let scores = doubles(&run_seeded(code, &cols, &input, seed), "ANOMALY_SCORE");
        let near = |t: usize| spikes.iter().any(|s| (*s..*s + 4).contains(&t));
        let others: Vec<f64> = (1000..5000)
            .filter(|t| !near(*t))
            .map(|t| scores[t])
            .collect();
        let p99 = percentile(&others, 0.99);
        missed += spikes
            .iter()
            .filter(|s| scores[**s..**s + 4].iter().all(|x| *x <= p99))
            .count();
    }
    assert_eq!(missed, 0);
}

/// The Developer Guide's heart-rate generator: 1 % HIGH rates of 150 to 200, else 60 to 100.
fn heart_rates(seed: u64, n: usize) -> (Vec<i32>, Vec<bool>) {
    let mut rng = Rng::seeded(seed);
    (0..n)
        .map(|_| {
            if rng.unit() < 0.01 {
                (randint(&mut rng, 150, 200), true)
            } else {
                (randint(&mut rng, 60, 100), false)
            }
        })
        .unzip()
}

/// RCF-6: the Developer Guide's heart rates: HIGH rows against NORMAL ones after row 500, AUC
/// ≥ 0.99, mean ratio ≥ 2.5, 95 % of HIGH rows above the NORMAL p95. AWS: AUC 1.000, means 2.72
/// to 3.06 against 0.82 to 0.83.
#[test]
fn rcf_6_high_heart_rates_score_far_above_normal_ones() {
    let code = "CREATE STREAM OUT (\"rateType\" VARCHAR(8), ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM \"rateType\", ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));";
    let cols = [
        ("heartRate", SqlType::Integer),
        ("rateType", SqlType::Varchar(Some(8))),
    ];
    let (mut high, mut normal) = (Vec::new(), Vec::new());
    let mut above = 0;
    for seed in SEEDS {
        let (rates, is_high) = heart_rates(400 + seed, 4000);
        let kinds: Vec<&str> = is_high
            .iter()
            .map(|h| if *h { "HIGH" } else { "NORMAL" })
            .collect();
        let input = batch(
            vec![
                ("heartRate", Arc::new(Int32Array::from(rates)) as ArrayRef),
                ("rateType", Arc::new(StringArray::from(kinds))),
            ],
            &times(4000),
        );
        let scores = doubles(&run_seeded(code, &cols, &input, seed), "ANOMALY_SCORE");
        let h: Vec<f64> = (500..4000)
            .filter(|i| is_high[*i])
            .map(|i| scores[i])
            .collect();
        let n: Vec<f64> = (500..4000)
            .filter(|i| !is_high[*i])
            .map(|i| scores[i])
            .collect();
        let p95 = percentile(&n, 0.95);
        above += h.iter().filter(|s| **s > p95).count();
        high.extend(h);
        normal.extend(n);
    }
    let auc = auc(&high, &normal);
    assert!(auc >= 0.99, "AUC {auc}");
    let ratio = mean(&high) / mean(&normal);
    assert!(ratio >= 2.5, "mean HIGH / mean NORMAL {ratio}");
    assert!(
        above as f64 >= 0.95 * high.len() as f64,
        "{above} of {}",
        high.len()
    );
    assert!((0.6..1.1).contains(&mean(&normal)), "{}", mean(&normal));
}

/// The Developer Guide's blood-pressure generator: 0.5 % LOW, 0.5 % HIGH, else NORMAL.
fn blood_pressure(seed: u64, n: usize) -> (Vec<i32>, Vec<i32>, Vec<&'static str>) {
    let mut rng = Rng::seeded(seed);
    let mut s = Vec::with_capacity(n);
    let mut d = Vec::with_capacity(n);
    let mut level = Vec::with_capacity(n);
    for _ in 0..n {
        let u = rng.unit();
        let (a, b, l) = if u < 0.005 {
            (randint(&mut rng, 50, 80), randint(&mut rng, 30, 50), "LOW")
        } else if u < 0.01 {
            (
                randint(&mut rng, 130, 200),
                randint(&mut rng, 90, 150),
                "HIGH",
            )
        } else {
            (
                randint(&mut rng, 90, 120),
                randint(&mut rng, 60, 80),
                "NORMAL",
            )
        };
        s.push(a);
        d.push(b);
        level.push(l);
    }
    (s, d, level)
}

/// RCF-8 and RCF-9: the explanation of the Developer Guide's blood pressures. Its text is JSON
/// with the numeric columns by name in order, numbers as strings of four decimals, DIRECTION HIGH
/// or LOW, attributions adding up to the score (to their rounding), and 0.0000 in the warm-up.
/// After row 500: 95 % of HIGH rows have a column HIGH and 95 % of LOW rows a column LOW; the
/// column that carries most of the score points the planted way in 60 % of them; their mean
/// scores are 3 times the NORMAL mean. AWS: 100 %, 70 to 100 %, NORMAL 0.75 to 0.78, HIGH 3.85
/// to 3.98, LOW 3.0 to 3.7.
#[test]
fn rcf_8_9_explanations_are_kda_text_and_point_the_way_the_values_are_off() {
    let code = "CREATE STREAM OUT (\"BloodPressureLevel\" VARCHAR(8), ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION VARCHAR(512));
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM \"BloodPressureLevel\", ANOMALY_SCORE, ANOMALY_EXPLANATION
        FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM S), 100, 256, 100000, 1, true));";
    let cols = [
        ("Systolic", SqlType::Integer),
        ("Diastolic", SqlType::Integer),
        ("BloodPressureLevel", SqlType::Varchar(Some(8))),
    ];
    let four = regex::Regex::new(r"^[0-9]+\.[0-9]{4}$").unwrap();
    let (mut odd, mut with_direction, mut dominant_right) = (0, 0, 0);
    let mut by_level: HashMap<&str, Vec<f64>> = HashMap::new();
    for seed in SEEDS {
        let (s, d, level) = blood_pressure(500 + seed, 4000);
        let input = batch(
            vec![
                ("Systolic", Arc::new(Int32Array::from(s)) as ArrayRef),
                ("Diastolic", Arc::new(Int32Array::from(d))),
                (
                    "BloodPressureLevel",
                    Arc::new(StringArray::from(level.clone())),
                ),
            ],
            &times(4000),
        );
        let out = run_seeded(code, &cols, &input, seed);
        let scores = doubles(&out, "ANOMALY_SCORE");
        let explanations = texts(&out, "ANOMALY_EXPLANATION");
        for (i, text) in explanations.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let members = v.as_object().unwrap();
            let keys: Vec<&str> = members.keys().map(|k| k.as_str()).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(sorted, ["Diastolic", "Systolic"], "{text}");
            assert!(text.starts_with("{\"Systolic\":"), "{text}");
            let mut total = 0.0;
            let mut columns = Vec::new();
            for name in ["Systolic", "Diastolic"] {
                let c = &v[name];
                let attribution = c["ATTRIBUTION_SCORE"].as_str().unwrap();
                let strength = c["STRENGTH"].as_str().unwrap();
                assert!(
                    four.is_match(attribution) && four.is_match(strength),
                    "{text}"
                );
                let direction = c["DIRECTION"].as_str().unwrap();
                assert!(direction == "HIGH" || direction == "LOW", "{text}");
                let a: f64 = attribution.parse().unwrap();
                total += a;
                columns.push((a, direction));
            }
            assert!(
                (total - scores[i]).abs() <= 2.0 * 0.00005 + 1e-9,
                "row {i}: {text} against {}",
                scores[i]
            );
            if i < 64 {
                assert_eq!(scores[i], 0.0);
                assert!(columns.iter().all(|(a, _)| *a == 0.0));
            }
            if i < 500 {
                continue;
            }
            by_level.entry(level[i]).or_default().push(scores[i]);
            let planted = match level[i] {
                "HIGH" => "HIGH",
                "LOW" => "LOW",
                _ => continue,
            };
            odd += 1;
            if columns.iter().any(|(_, d)| *d == planted) {
                with_direction += 1;
            }
            let top = if columns[0].0 >= columns[1].0 {
                columns[0]
            } else {
                columns[1]
            };
            if top.1 == planted {
                dominant_right += 1;
            }
        }
    }
    assert!(odd > 50, "{odd} HIGH and LOW rows");
    assert!(
        with_direction as f64 >= 0.95 * odd as f64,
        "{with_direction} of {odd} with a column in the planted direction"
    );
    assert!(
        dominant_right as f64 >= 0.6 * odd as f64,
        "{dominant_right} of {odd}: the dominant column in the planted direction"
    );
    let normal = mean(&by_level["NORMAL"]);
    for level in ["HIGH", "LOW"] {
        let m = mean(&by_level[level]);
        assert!(
            m >= 3.0 * normal,
            "{level} mean {m} against NORMAL {normal}"
        );
    }
}

/// RCF-11: the same seed gives the same scores to the bit; another seed other scores (with the
/// same distribution, which the tests above check).
#[test]
fn rcf_11_a_seed_repeats_its_scores_exactly() {
    let (rates, _) = heart_rates(600, 1000);
    let input = batch(
        vec![("heartRate", Arc::new(Int32Array::from(rates)) as ArrayRef)],
        &times(1000),
    );
    let code = "CREATE STREAM OUT (ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION VARCHAR(512));
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM ANOMALY_SCORE, ANOMALY_EXPLANATION
        FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM S), 50, 128, 1000, 2, true));";
    let cols = [("heartRate", SqlType::Integer)];
    let bits = |seed| {
        let out = run_seeded(code, &cols, &input, seed);
        let scores: Vec<u64> = doubles(&out, "ANOMALY_SCORE")
            .iter()
            .map(|s| s.to_bits())
            .collect();
        (scores, texts(&out, "ANOMALY_EXPLANATION"))
    };
    assert_eq!(bits(9), bits(9));
    assert_ne!(bits(9).0, bits(10).0);
}

/// The pump's column is NULL-free, and the score is never NaN or negative.
#[test]
fn scores_are_finite_and_never_negative() {
    let (rates, _) = heart_rates(700, 600);
    let input = batch(
        vec![("heartRate", Arc::new(Int32Array::from(rates)) as ArrayRef)],
        &times(600),
    );
    let code = "CREATE STREAM OUT (ANOMALY_SCORE DOUBLE);
        CREATE PUMP P AS INSERT INTO OUT SELECT STREAM ANOMALY_SCORE
        FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 10, 16, 100, 1));";
    let out = run_seeded(code, &[("heartRate", SqlType::Integer)], &input, 3);
    let column = out.column(0);
    assert_eq!(column.null_count(), 0);
    let scores = doubles(&out, "ANOMALY_SCORE");
    // At most log2(16 + 1), the score of a point cut off at the root of every tree.
    assert!(
        scores
            .iter()
            .all(|s| s.is_finite() && *s >= 0.0 && *s <= 17f64.log2() + 1e-12)
    );
}
