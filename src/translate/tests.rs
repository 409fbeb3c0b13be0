//! The script's text: connector options, ROWTIME, the forms of the constructs; the messages for
//! what has no translation; the docs table. (Flink itself runs the scripts in tests/flink.rs.)

use std::path::{Path, PathBuf};

use super::*;
use crate::app::assemble::{Options, prepare};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rowtime-translate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn translate_definition(app: &str, references: &[&str], options: FlinkOptions) -> Result<FlinkJob> {
    let prepared = prepare(
        &Options {
            definition: Some(PathBuf::from(app)),
            references: references.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        },
        false,
    )?;
    to_flink(&prepared, &options)
}

/// Translates application code over the toll input schema, reading `input`.
fn translate_sql(dir: &Path, code: &str, options: FlinkOptions) -> Result<FlinkJob> {
    let sql = dir.join("app.sql");
    std::fs::write(&sql, code).unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, "").unwrap();
    let prepared = prepare(
        &Options {
            sql: Some(sql),
            input_schema: Some(PathBuf::from("sql/toll_input_schema.json")),
            input: Some(input.display().to_string()),
            references: vec!["BOOTHS=reference-data/toll-reference/booths.csv".into()],
            ..Options::default()
        },
        false,
    )?;
    let options = FlinkOptions {
        input: Some(input.display().to_string()),
        references: vec!["BOOTHS=reference-data/toll-reference/booths.csv".into()],
        outputs: if options.outputs.is_empty() {
            vec!["DESTINATION_SQL_STREAM=-".into()]
        } else {
            options.outputs
        },
        ..options
    };
    to_flink(&prepared, &options)
}

#[test]
fn a_definition_s_kinesis_streams_become_kinesis_tables() {
    // The options are the documented ones of Flink's Kinesis connector (flink-connector-aws:
    // stream.arn, aws.region, source.init.position) and Firehose connector (delivery-stream,
    // aws.region); the values come from sql/toll_billing.json.
    let job = translate_definition("sql/toll_billing.json", &[], FlinkOptions::default()).unwrap();
    let sql = &job.sql;
    for want in [
        "'connector' = 'kinesis'",
        "'stream.arn' = 'arn:aws:kinesis:us-east-1:123456789012:stream/toll-transactions'",
        "'aws.region' = 'us-east-1'",
        "'source.init.position' = 'LATEST'",
        "'stream.arn' = 'arn:aws:kinesis:us-east-1:123456789012:stream/toll-billing-totals'",
        "`ROWTIME` AS PROCTIME()",
        "EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO `DESTINATION_SQL_STREAM__sink`",
    ] {
        assert!(sql.contains(want), "no {want} in\n{sql}");
    }
    // JSONPath mappings: the JSON keys are the physical columns, renamed in the view.
    assert!(sql.contains("`amount` STRING"), "{sql}");
    assert!(
        sql.contains("TRY_CAST(`amount` AS DECIMAL(8, 2)) AS `AMOUNT`"),
        "{sql}"
    );
    // The declared error_stream (a Firehose delivery stream) is left out, with a warning.
    assert!(!sql.contains("error_stream__sink"), "{sql}");
    assert!(
        job.warnings
            .iter()
            .any(|w| w.contains("error_stream") && w.contains("left out")),
        "{:?}",
        job.warnings
    );
}

#[test]
fn replay_mode_makes_an_event_time_attribute_and_warns_about_late_rows() {
    let job = translate_definition(
        "sql/toll_booth_alerts.json",
        &[],
        FlinkOptions {
            rowtime_from: Some("EVENT_TIME".into()),
            ..FlinkOptions::default()
        },
    )
    .unwrap();
    let sql = &job.sql;
    assert!(
        sql.contains(
            "`ROWTIME` AS COALESCE(CAST(TRY_CAST(`event_time` AS TIMESTAMP(3)) AS TIMESTAMP(3))"
        ),
        "{sql}"
    );
    assert!(
        sql.contains("WATERMARK FOR `ROWTIME` AS `ROWTIME` - INTERVAL '0.001' SECOND"),
        "{sql}"
    );
    assert!(
        sql.contains("-- ROWTIME is the event time EVENT_TIME (replay mode). KDA clamps"),
        "{sql}"
    );
    assert!(
        job.warnings.iter().any(|w| w.contains("as late")),
        "{:?}",
        job.warnings
    );
    // The reference table comes from the definition's S3 object.
    assert!(
        sql.contains("'path' = 's3://toll-reference/booth_thresholds.csv'"),
        "{sql}"
    );
    // Its CSV header line is dropped by its column names.
    assert!(
        sql.contains("WHERE NOT (`BOOTH_ID` = 'BOOTH_ID' AND `SLOT` = 'SLOT' AND `MIN_VEHICLES` = 'MIN_VEHICLES')"),
        "{sql}"
    );
    // The tumbling window: a window TVF, STEP as window_start, the chain through BOOTH_COUNTS.
    assert!(sql.contains("TABLE(TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`ROWTIME`), INTERVAL '30' MINUTE)) AS `S`"), "{sql}");
    assert!(sql.contains("`S`.`window_start` AS `$2`"), "{sql}");
    assert!(
        sql.contains("CREATE VIEW `BOOTH_COUNTS` AS\nSELECT * FROM `COUNT_PUMP`;"),
        "{sql}"
    );
    assert!(sql.contains("JOIN `BOOTH_THRESHOLDS` AS `T` ON"), "{sql}");
}

#[test]
fn sliding_windows_get_flinks_explicit_frame() {
    let dir = temp("sliding");
    let replay = || FlinkOptions {
        rowtime_from: Some("EVENT_TIME".into()),
        ..FlinkOptions::default()
    };
    let job = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(8), N BIGINT, M DECIMAL(8,2));
         CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM BOOTH_ID, COUNT(*) OVER W, MAX(AMOUNT) OVER W
         FROM \"SOURCE_SQL_STREAM_001\" WINDOW W AS (PARTITION BY BOOTH_ID RANGE INTERVAL '1' MINUTE PRECEDING);",
        replay(),
    )
    .unwrap();
    assert!(job.sql.contains("COUNT(*) OVER (PARTITION BY `BOOTH_ID` ORDER BY `SOURCE_SQL_STREAM_001`.`ROWTIME` RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW)"), "{}", job.sql);
    assert!(job.sql.contains("'connector' = 'print'"), "{}", job.sql);
    // Equal ROWTIMEs are peers in Flink's RANGE frame: warned at the pump.
    assert!(
        job.warnings
            .iter()
            .any(|w| w.contains("rows with equal ROWTIMEs")),
        "{:?}",
        job.warnings
    );
    let job = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (M DECIMAL(8,2));
         CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM MAX(AMOUNT) OVER (PARTITION BY BOOTH_ID ROWS 3 PRECEDING) FROM \"SOURCE_SQL_STREAM_001\";",
        replay(),
    )
    .unwrap();
    assert!(
        job.sql.contains("ROWS BETWEEN 3 PRECEDING AND CURRENT ROW"),
        "{}",
        job.sql
    );
    // Flink computes a query's OVER aggregates over one window.
    let err = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (N BIGINT, M DECIMAL(8,2));
         CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM COUNT(*) OVER (PARTITION BY BOOTH_ID ROWS 2 PRECEDING), MAX(AMOUNT) OVER (PARTITION BY BOOTH_ID ROWS 3 PRECEDING)
         FROM \"SOURCE_SQL_STREAM_001\";",
        replay(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("not translatable to Flink: OVER aggregates over two different windows"),
        "{err}"
    );
}

#[test]
fn a_division_by_zero_or_a_too_long_cast_drops_the_row_as_kda_does() {
    let dir = temp("guards");
    let job = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (R DOUBLE, S VARCHAR(4));
         CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM AMOUNT / (AMOUNT - 2), CAST(ACCOUNT_ID AS VARCHAR(4)) FROM \"SOURCE_SQL_STREAM_001\" WHERE AMOUNT > 1;",
        FlinkOptions::default(),
    )
    .unwrap();
    assert!(job.sql.contains("WHERE (`AMOUNT` > 1)\n  AND (`ACCOUNT_ID` IS NULL OR CHAR_LENGTH(CAST(`ACCOUNT_ID` AS STRING)) <= 4)\n  AND ((`AMOUNT` - 2) IS NULL OR (`AMOUNT` - 2) <> 0)"), "{}", job.sql);
}

#[test]
fn functions_are_renamed_and_union_all_of_pumps_feeds_a_stream() {
    let dir = temp("functions");
    let job = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (T VARCHAR(32), U VARCHAR(8));
         CREATE PUMP P1 AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM TIMESTAMP_TO_CHAR('yyyy-MM-dd', EVENT_TIME), UPPER(BOOTH_ID) FROM \"SOURCE_SQL_STREAM_001\";
         CREATE PUMP P2 AS INSERT INTO \"DESTINATION_SQL_STREAM\" (U)
         SELECT STREAM CASE WHEN AMOUNT > 5 THEN 'big' ELSE 'small' END FROM \"SOURCE_SQL_STREAM_001\";",
        FlinkOptions::default(),
    )
    .unwrap();
    let sql = &job.sql;
    assert!(
        sql.contains("DATE_FORMAT(`EVENT_TIME`, 'yyyy-MM-dd')"),
        "{sql}"
    );
    assert!(sql.contains("CREATE VIEW `DESTINATION_SQL_STREAM` AS\nSELECT * FROM `P1`\nUNION ALL\nSELECT * FROM `P2`;"), "{sql}");
    // P2 fills only U: T is NULL.
    assert!(
        sql.contains("CAST(NULL AS VARCHAR(32)) AS `T`, CAST(`$1` AS VARCHAR(8)) AS `U`"),
        "{sql}"
    );
}

/// The message for a construct with no Flink form: what, where (file:line:col), and why.
fn rejected(code: &str) -> String {
    let dir = temp("rejected");
    let err = translate_sql(
        &dir,
        code,
        FlinkOptions {
            rowtime_from: Some("EVENT_TIME".into()),
            ..FlinkOptions::default()
        },
    )
    .expect_err("not translatable")
    .to_string();
    err.replace(&dir.join("app.sql").display().to_string(), "app.sql")
}

const DEST: &str = "CREATE STREAM \"DESTINATION_SQL_STREAM\" (A VARCHAR(16));\n";

#[test]
fn untranslatable_functions_are_named_with_their_place_and_reason() {
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM REGEX_REPLACE(BOOTH_ID, 'B', 'b', 1, 0) FROM \"SOURCE_SQL_STREAM_001\";"
    ));
    assert!(
        err.starts_with("app.sql:3:15: error: not translatable to Flink: REGEX_REPLACE"),
        "{err}"
    );
    assert!(err.contains("start position and an occurrence"), "{err}");
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM CAST(TSDIFF(EVENT_TIME, EVENT_TIME) AS VARCHAR(16)) FROM \"SOURCE_SQL_STREAM_001\";"
    ));
    assert!(
        err.starts_with("app.sql:3:20: error: not translatable to Flink: TSDIFF"),
        "{err}"
    );
}

#[test]
fn untranslatable_constructs_say_why() {
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID;"
    ));
    assert!(
        err.contains("app.sql:3:") && err.contains("not translatable to Flink: LEFT JOIN"),
        "{err}"
    );
    assert!(err.contains("append-only sink"), "{err}");
    let err = rejected(
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (A VARCHAR(16), N BIGINT);\nCREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWINDOWED BY STAGGER (PARTITION BY BOOTH_ID RANGE INTERVAL '1' MINUTE);",
    );
    assert!(
        err.contains("not translatable to Flink: WINDOWED BY STAGGER"),
        "{err}"
    );
    assert!(err.starts_with("app.sql:3:1: error"), "{err}");
}

#[test]
fn outputs_flink_cannot_reach_are_refused_with_what_to_do() {
    let dir = temp("outputs");
    let code = format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\" SELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\";"
    );
    let err = translate_sql(
        &dir,
        &code,
        FlinkOptions {
            outputs: vec!["DESTINATION_SQL_STREAM=kinesis://out".into()],
            ..FlinkOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("needs the stream's ARN")
            && err.contains("arn:aws:kinesis:REGION:ACCOUNT:stream/out"),
        "{err}"
    );
    let err = translate_sql(
        &dir,
        &code,
        FlinkOptions {
            outputs: vec!["DESTINATION_SQL_STREAM=lambda://f".into()],
            ..FlinkOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("Flink has no Lambda sink"), "{err}");
    let job = translate_sql(
        &dir,
        &code,
        FlinkOptions {
            outputs: vec![
                "DESTINATION_SQL_STREAM=arn:aws:firehose:eu-west-1:123456789012:deliverystream/out"
                    .into(),
            ],
            ..FlinkOptions::default()
        },
    );
    // A Firehose ARN gives the region.
    let sql = job.unwrap().sql;
    assert!(
        sql.contains("'connector' = 'firehose'")
            && sql.contains("'delivery-stream' = 'out'")
            && sql.contains("'aws.region' = 'eu-west-1'"),
        "{sql}"
    );
}

#[test]
fn docs_flink_md_holds_the_translators_table() {
    let doc = std::fs::read_to_string("docs/flink.md").expect("docs/flink.md");
    let start = doc
        .find("<!-- constructs -->\n")
        .expect("a <!-- constructs --> marker")
        + 20;
    let end = doc
        .find("<!-- /constructs -->")
        .expect("a <!-- /constructs --> marker");
    assert!(
        doc[start..end] == markdown_table(),
        "docs/flink.md's table differs from the translator's: paste `translate::markdown_table()`'s output between the markers:\n{}",
        markdown_table()
    );
    // Every function the table says is translated is one the translator accepts, and the other
    // way round (the table is the translator's own).
    for (name, form) in catalog::FUNCTIONS {
        assert_eq!(catalog::function(name), Some(*form));
    }
}
