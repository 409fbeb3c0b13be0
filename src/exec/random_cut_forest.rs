//! `RANDOM_CUT_FOREST` and `RANDOM_CUT_FOREST_WITH_EXPLANATION`: every row of the cursor, its
//! columns unchanged, plus `ANOMALY_SCORE` (and `ANOMALY_EXPLANATION`), computed by a random cut
//! forest over the cursor's numeric columns (`forest.rs`: the algorithm of AWS's RCF 1.0, whose
//! defaults are KDA's).
//!
//! One output row per input row, in order, with its ROWTIME. Each row is scored against what
//! the forest learnt from the rows before it, then learnt from. A row with a NULL in a numeric
//! column goes to `error_stream` (`model_input.rs`). The forest is seeded: the same rows give the
//! same scores, and a checkpoint keeps the whole forest (samples, trees, generators, counters),
//! so a resumed run gives the scores the uninterrupted one would have.
//!
//! `ANOMALY_EXPLANATION` is KDA's JSON text: one member per numeric column, by name, in order,
//! `{"DIRECTION": "HIGH"|"LOW", "STRENGTH": "…", "ATTRIBUTION_SCORE": "…"}` with numbers as
//! strings of four decimals (only `ATTRIBUTION_SCORE` without directionality). A column's
//! attribution is its share of the score: the forest's high and low attributions of its
//! dimensions (every shingle position), which add up to the score. DIRECTION is HIGH when the
//! high part is at least the low part. STRENGTH, which KDA does not define, is rowtime's:
//! `|high − low| / min(high, low)`, the denominator floored at `(high + low)/1000` so that a
//! one-sided attribution gives 1000 rather than infinity; 0 when both are 0.
//!
//! | file | what |
//! |---|---|
//! | `random_cut_forest.rs` | the operator: spec, columns, explanation text, checkpoint |
//! | `random_cut_forest/forest.rs` | the forest: parameters, shingle, warm-up, scoring then learning |
//! | `random_cut_forest/tree.rs` | one random cut tree: insert, delete, score, attribution, invariants |
//! | `random_cut_forest/sampler.rs` | a tree's time-decayed reservoir sample |
//! | `random_cut_forest/rng.rs`, `codec.rs` | the seeded generator; the state's bytes |
//! | `random_cut_forest/acceptance.rs` | (tests) statistical acceptance tests through the SQL path |

#[cfg(test)]
mod acceptance;
mod codec;
pub mod forest;
mod rng;
mod sampler;
mod tree;

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::model_input::{Output, assemble, numbers};
use super::{Emit, Operator};
use crate::error::{Error, Result};
use crate::state::Snapshot;
pub use forest::{Forest, Parameters};

/// Plan node: a forest over the cursor's rows.
#[derive(Debug, Clone)]
pub struct RandomCutForestSpec {
    /// `None`: `RANDOM_CUT_FOREST`; `Some(directionality)`: `RANDOM_CUT_FOREST_WITH_EXPLANATION`.
    pub explanation: Option<bool>,
    pub parameters: Parameters,
    pub seed: u64,
    /// The model's columns: their position among the input's visible columns, and their names.
    pub columns: Vec<(usize, String)>,
    /// The output's columns; `Computed(0)` is ANOMALY_SCORE, `Computed(1)` ANOMALY_EXPLANATION.
    pub outputs: Vec<Output>,
    /// The output schema, trailing ROWTIME included.
    pub schema: SchemaRef,
    /// Number of visible input columns.
    pub visible: usize,
    pub pump: String,
}

impl RandomCutForestSpec {
    pub fn function(&self) -> &'static str {
        match self.explanation {
            None => "RANDOM_CUT_FOREST",
            Some(_) => "RANDOM_CUT_FOREST_WITH_EXPLANATION",
        }
    }
}

impl fmt::Display for RandomCutForestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.parameters;
        let names: Vec<&str> = self.columns.iter().map(|(_, n)| n.as_str()).collect();
        write!(
            f,
            "{} over ({}): {} trees of {} points, time decay {}, shingle {}, seed {}",
            self.function().to_lowercase().replace('_', " "),
            names.join(", "),
            p.trees,
            p.sample_size,
            p.time_decay,
            p.shingle_size,
            self.seed
        )?;
        match self.explanation {
            None => write!(f, "; adds ANOMALY_SCORE"),
            Some(d) => write!(
                f,
                "; adds ANOMALY_SCORE, ANOMALY_EXPLANATION{}",
                if d { " with directions" } else { "" }
            ),
        }
    }
}

/// Running forest.
pub struct RandomCutForest {
    spec: Arc<RandomCutForestSpec>,
    forest: Forest,
}

impl RandomCutForest {
    pub fn new(spec: Arc<RandomCutForestSpec>) -> RandomCutForest {
        let forest = Forest::new(spec.parameters, spec.columns.len(), spec.seed);
        RandomCutForest { spec, forest }
    }
}

/// KDA's text for one row's attribution (`high`, `low` per point dimension: shingle positions of
/// `names.len()` columns each, oldest first).
pub fn explanation(names: &[String], high: &[f64], low: &[f64], directionality: bool) -> String {
    let columns = names.len();
    let mut text = String::from("{");
    for (c, name) in names.iter().enumerate() {
        let (h, l): (f64, f64) = (
            high.iter().skip(c).step_by(columns).sum(),
            low.iter().skip(c).step_by(columns).sum(),
        );
        if c > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(name).expect("a string serializes"));
        text.push_str(":{");
        if directionality {
            let direction = if h >= l { "HIGH" } else { "LOW" };
            let strength = if h + l > 0.0 {
                (h - l).abs() / h.min(l).max((h + l) / 1000.0)
            } else {
                0.0
            };
            text.push_str(&format!(
                "\"DIRECTION\":\"{direction}\",\"STRENGTH\":\"{strength:.4}\","
            ));
        }
        text.push_str(&format!("\"ATTRIBUTION_SCORE\":\"{:.4}\"}}", h + l));
    }
    text.push('}');
    text
}

impl Operator for RandomCutForest {
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let spec = &self.spec;
        let (rows, values) = numbers(
            &batch,
            &spec.columns,
            spec.function(),
            spec.visible,
            &spec.pump,
            out,
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        let c = spec.columns.len();
        let explain = spec.explanation.is_some();
        let names: Vec<String> = spec.columns.iter().map(|(_, n)| n.clone()).collect();
        let mut scores = Vec::with_capacity(rows.len());
        let mut texts = Vec::with_capacity(if explain { rows.len() } else { 0 });
        for row in values.chunks_exact(c) {
            let scored = self.forest.next(row, explain);
            scores.push(scored.score);
            if let Some(directionality) = spec.explanation {
                texts.push(explanation(
                    &names,
                    &scored.high,
                    &scored.low,
                    directionality,
                ));
            }
        }
        let mut computed: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(scores))];
        if explain {
            computed.push(Arc::new(StringArray::from(texts)));
        }
        out.batches.push(assemble(
            &spec.schema,
            &batch,
            &rows,
            &spec.outputs,
            &computed,
        )?);
        Ok(())
    }

    fn advance(&mut self, _bound: i64, _out: &mut Emit) -> Result<()> {
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "forest",
            DataType::Binary,
            false,
        )]));
        let bytes = self.forest.encode();
        let column: ArrayRef = Arc::new(BinaryArray::from(vec![bytes.as_slice()]));
        Ok(Snapshot {
            meta: serde_json::json!({ "function": self.spec.function() }),
            batches: vec![RecordBatch::try_new(schema, vec![column])?],
        })
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        let fail = |why: String| Error::Application(format!("checkpoint: {why}"));
        let batch = state.batch(0)?;
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .filter(|a| a.len() == 1)
            .ok_or_else(|| fail("a random cut forest's state is not one binary value".into()))?;
        self.forest.restore(column.value(0)).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_sums_shingle_positions_per_column_and_writes_kda_text() {
        let names = vec!["Systolic".to_string(), "Diastolic".to_string()];
        // Two shingle positions of (Systolic, Diastolic).
        let high = [0.5, 0.0, 0.25, 1.0];
        let low = [0.0, 0.2, 0.25, 0.1];
        let text = explanation(&names, &high, &low, true);
        // Systolic: high 0.75, low 0.25: HIGH, strength 0.5/0.25 = 2, attribution 1.
        // Diastolic: high 1.0, low 0.3: HIGH, strength 0.7/0.3, attribution 1.3.
        assert_eq!(
            text,
            r#"{"Systolic":{"DIRECTION":"HIGH","STRENGTH":"2.0000","ATTRIBUTION_SCORE":"1.0000"},"Diastolic":{"DIRECTION":"HIGH","STRENGTH":"2.3333","ATTRIBUTION_SCORE":"1.3000"}}"#
        );
        let text = explanation(&names, &high, &low, false);
        assert_eq!(
            text,
            r#"{"Systolic":{"ATTRIBUTION_SCORE":"1.0000"},"Diastolic":{"ATTRIBUTION_SCORE":"1.3000"}}"#
        );
        // Low side larger: LOW; a one-sided attribution: 2 / (2/1000); nothing: 0.
        let one = vec!["x".to_string()];
        assert_eq!(
            explanation(&one, &[0.1], &[0.3], true),
            r#"{"x":{"DIRECTION":"LOW","STRENGTH":"2.0000","ATTRIBUTION_SCORE":"0.4000"}}"#
        );
        assert_eq!(
            explanation(&one, &[2.0], &[0.0], true),
            r#"{"x":{"DIRECTION":"HIGH","STRENGTH":"1000.0000","ATTRIBUTION_SCORE":"2.0000"}}"#
        );
        assert_eq!(
            explanation(&one, &[0.0], &[0.0], true),
            r#"{"x":{"DIRECTION":"HIGH","STRENGTH":"0.0000","ATTRIBUTION_SCORE":"0.0000"}}"#
        );
        // Names are JSON strings.
        let quoted = vec!["a\"b".to_string()];
        assert!(explanation(&quoted, &[0.0], &[0.0], false).starts_with(r#"{"a\"b":"#));
    }

    fn weather(n: usize) -> datafusion::arrow::record_batch::RecordBatch {
        use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};
        let mut rng = rng::Rng::seeded(21);
        let temp: Vec<Option<f64>> = (0..n)
            .map(|i| (i % 17 != 5).then(|| (rng.unit() * 30.0).round() / 2.0))
            .collect();
        let wind: Vec<i32> = (0..n).map(|i| ((i * 7) % 11) as i32).collect();
        let city: Vec<&str> = (0..n).map(|i| ["Denver", "Miami"][i % 2]).collect();
        let times: Vec<i64> = (0..n as i64)
            .map(|i| 1_600_000_000_000 + i * 1000)
            .collect();
        crate::exec::test_util::batch(
            vec![
                ("TEMP", Arc::new(Float64Array::from(temp)) as ArrayRef),
                ("WIND", Arc::new(Int32Array::from(wind))),
                ("CITY", Arc::new(StringArray::from(city))),
            ],
            &times,
        )
    }

    const WEATHER: &[(&str, crate::types::SqlType)] = &[
        ("TEMP", crate::types::SqlType::Double),
        ("WIND", crate::types::SqlType::Integer),
        ("CITY", crate::types::SqlType::Varchar(Some(8))),
    ];

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        // Small forests that fill their samples and evict early (subSampleSize 16, timeDecay
        // 40), a shingle, duplicates (rounded temperatures), NULL rows that go to error_stream,
        // and both forms: every score, explanation and error row must come out the same.
        let input = weather(120);
        for code in [
            "CREATE STREAM OUT (CITY VARCHAR(8), TEMP DOUBLE, ANOMALY_SCORE DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM CITY, TEMP, ANOMALY_SCORE
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 7, 16, 40, 2));",
            "CREATE STREAM OUT (TEMP DOUBLE, ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION VARCHAR(512));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM TEMP, ANOMALY_SCORE, ANOMALY_EXPLANATION
             FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM TEMP, WIND FROM S), 5, 12, 30, 1, true));",
        ] {
            for cut in (0..=input.num_rows()).step_by(7).chain([1, 119]) {
                let (straight, resumed) =
                    crate::exec::test_util::straight_and_resumed(code, WEATHER, &[], &input, cut);
                assert_eq!(resumed, straight, "cut at row {cut}");
            }
        }
    }

    #[test]
    fn a_state_from_another_forest_is_refused() {
        let code = |trees: usize| {
            format!(
                "CREATE STREAM OUT (TEMP DOUBLE, ANOMALY_SCORE DOUBLE);
                 CREATE PUMP P AS INSERT INTO OUT SELECT STREAM TEMP, ANOMALY_SCORE
                 FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM TEMP FROM S), {trees}, 16, 40, 1));"
            )
        };
        let mut a = crate::exec::test_util::pump(&code(3), WEATHER, &[]).unwrap();
        crate::exec::test_util::run(&mut a, weather(30), i64::MAX);
        let states: Vec<Snapshot> = a.iter_mut().map(|o| o.snapshot().unwrap()).collect();
        let mut b = crate::exec::test_util::pump(&code(4), WEATHER, &[]).unwrap();
        let refused = b
            .iter_mut()
            .zip(&states)
            .map(|(o, s)| o.restore(s))
            .find_map(|r| r.err())
            .expect("refused");
        assert!(
            refused.to_string().contains("other parameters"),
            "{refused}"
        );
    }

    #[test]
    fn a_row_with_a_null_is_reported_and_not_learnt() {
        // The same rows with and without NULL ones in between give the same scores.
        let code = "CREATE STREAM OUT (TEMP DOUBLE, ANOMALY_SCORE DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM TEMP, ANOMALY_SCORE
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM TEMP, WIND FROM S), 9, 20, 100, 1));";
        let input = weather(150);
        let temps = input.column(0).clone();
        let keep: datafusion::arrow::array::BooleanArray =
            (0..temps.len()).map(|i| Some(!temps.is_null(i))).collect();
        let clean = datafusion::arrow::compute::filter_record_batch(&input, &keep).unwrap();
        let mut ops = crate::exec::test_util::pump(code, WEATHER, &[]).unwrap();
        let (with_nulls, errors) = crate::exec::test_util::run(&mut ops, input.clone(), i64::MAX);
        let mut ops = crate::exec::test_util::pump(code, WEATHER, &[]).unwrap();
        let (without, none) = crate::exec::test_util::run(&mut ops, clean, i64::MAX);
        assert!(none.is_empty());
        assert_eq!(
            crate::exec::test_util::table(&with_nulls),
            crate::exec::test_util::table(&without)
        );
        assert_eq!(errors.len(), temps.null_count());
        assert!(
            errors[0].message.contains("column \"TEMP\" is NULL"),
            "{:?}",
            errors[0]
        );
        assert_eq!(errors[0].pump.as_deref(), Some("P"));
    }

    #[test]
    fn a_cursor_without_a_number_is_rejected() {
        let code = "CREATE STREAM OUT (CITY VARCHAR(8), ANOMALY_SCORE DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM CITY, ANOMALY_SCORE
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM CITY FROM S)));";
        let e = crate::exec::test_util::pump(code, WEATHER, &[])
            .err()
            .expect("rejected")
            .to_string();
        assert!(
            e.contains("RANDOM_CUT_FOREST needs a numeric column") && e.contains("it has CITY"),
            "{e}"
        );
    }

    #[test]
    fn explain_names_the_parameters_and_the_model_columns() {
        let code = "CREATE STREAM OUT (CITY VARCHAR(8), ANOMALY_SCORE DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM CITY, ANOMALY_SCORE
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));";
        let stream = crate::catalog::StreamDef {
            name: "S".into(),
            columns: WEATHER.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            kind: crate::catalog::StreamKind::Created,
        };
        let src = crate::error::SourceText::new("t.sql", code);
        let statements = crate::dialect::parse_application(&src).unwrap();
        let plan = crate::plan::plan(
            &src,
            &statements,
            crate::catalog::Catalog::new(vec![stream], vec![]),
        )
        .unwrap();
        let text = plan.to_string();
        assert!(
            text.contains("random cut forest over (TEMP, WIND): 100 trees of 256 points, time decay 100000, shingle 1, seed 0; adds ANOMALY_SCORE"),
            "{text}"
        );
    }
}
