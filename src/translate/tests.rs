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
            "`ROWTIME` AS COALESCE(CAST(TRY_CAST(CASE WHEN CHAR_LENGTH(REPLACE(REPLACE(UPPER(`event_time`), 'T', ' '), 'Z', '')) = 16 THEN REPLACE(REPLACE(UPPER(`event_time`), 'T', ' '), 'Z', '') || ':00' ELSE REPLACE(REPLACE(UPPER(`event_time`), 'T', ' '), 'Z', '') END AS TIMESTAMP(3)) AS TIMESTAMP(3))"
        ),
        "{sql}"
    );
    // A record whose time is not a KDA timestamp (or names a day the month lacks) is dropped.
    assert!(
        sql.contains(
            "AS TIMESTAMP(3)) AS DATE) AS STRING) = SUBSTRING(`event_time` FROM 1 FOR 10)"
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
    // The delivered stream gets an INSERT per pump.
    for p in ["P1", "P2"] {
        let insert =
            format!("INSERT INTO `DESTINATION_SQL_STREAM__sink` SELECT `T`, `U` FROM `{p}`;");
        assert!(sql.contains(&insert), "no {insert} in\n{sql}");
    }
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
    // A LEFT JOIN looks rows up by key: an ON without an equality on the table's columns has none.
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID > b.BOOTH_ID;"
    ));
    assert!(
        err.contains("app.sql:3:66: error: not translatable to Flink: a LEFT JOIN with a reference table without an equality on its columns"),
        "{err}"
    );
    assert!(err.contains("ON stream_value = B.column"), "{err}");
    // Nor can it follow a regular join, which drops the time attribute.
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID LEFT JOIN BOOTHS AS c ON s.BOOTH_ID = c.BOOTH_ID;"
    ));
    assert!(
        err.contains(
            "not translatable to Flink: a JOIN and a LEFT JOIN with reference tables in one FROM"
        ),
        "{err}"
    );
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

/// Translates `code` over an input schema as given: the input is an empty file unless
/// `options.input` names one; BOOTHS is the toll booths file; the outputs are the options' own.
fn translate_with(dir: &Path, code: &str, schema: &str, options: FlinkOptions) -> Result<FlinkJob> {
    let sql = dir.join("app.sql");
    std::fs::write(&sql, code).unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, "").unwrap();
    let input = options
        .input
        .clone()
        .unwrap_or_else(|| input.display().to_string());
    let references = if options.references.is_empty() {
        vec!["BOOTHS=reference-data/toll-reference/booths.csv".to_string()]
    } else {
        options.references.clone()
    };
    let prepared = prepare(
        &Options {
            sql: Some(sql),
            input_schema: Some(PathBuf::from(schema)),
            input: Some(input.clone()),
            references: references.clone(),
            ..Options::default()
        },
        false,
    )?;
    to_flink(
        &prepared,
        &FlinkOptions {
            input: Some(input),
            references,
            ..options
        },
    )
}

/// A definition (sql/toll_billing.json) changed by `edit`.
fn translate_edited_definition(
    dir: &Path,
    edit: impl Fn(&mut serde_json::Value),
) -> Result<FlinkJob> {
    let mut def: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("sql/toll_billing.json").unwrap()).unwrap();
    edit(&mut def);
    let path = dir.join("app.json");
    std::fs::write(&path, def.to_string()).unwrap();
    translate_definition(path.to_str().unwrap(), &[], FlinkOptions::default())
}

/// An application that uses the construct of a row of `docs/flink.md`'s table, translated.
fn construct_example(dir: &Path, construct: &str) -> Option<Result<FlinkJob>> {
    const TOLL: &str = "sql/toll_input_schema.json";
    let pump = |columns: &str, query: &str| {
        format!(
            "CREATE STREAM \"DESTINATION_SQL_STREAM\" ({columns});\nCREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n{query};"
        )
    };
    let sql = |columns: &str, query: &str| {
        translate_with(dir, &pump(columns, query), TOLL, FlinkOptions::default())
    };
    let replay = |columns: &str, query: &str| {
        translate_with(
            dir,
            &pump(columns, query),
            TOLL,
            FlinkOptions {
                rowtime_from: Some("EVENT_TIME".into()),
                ..FlinkOptions::default()
            },
        )
    };
    let with_output = |output: &str| {
        translate_with(
            dir,
            &pump(
                "A VARCHAR(8)",
                "SELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\"",
            ),
            TOLL,
            FlinkOptions {
                outputs: vec![format!("DESTINATION_SQL_STREAM={output}")],
                ..FlinkOptions::default()
            },
        )
    };
    let plain = "SELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\"";
    // Two streams for stream-to-stream joins: the input and the cars among its rows.
    let two_streams = |join: &str| {
        translate_with(
            dir,
            &format!(
                "CREATE STREAM CARS (BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16));\nCREATE PUMP C AS INSERT INTO CARS SELECT STREAM BOOTH_ID, ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\" WHERE VEHICLE_CLASS = 'car';\n{}",
                pump("A VARCHAR(16), B VARCHAR(16)", join)
            ),
            TOLL,
            FlinkOptions {
                rowtime_from: Some("EVENT_TIME".into()),
                ..FlinkOptions::default()
            },
        )
    };
    Some(match construct {
        "JSON input (InputSchema, JSONPath mappings `$.a`, `$.a.b`)" => sql("A VARCHAR(8)", plain),
        "CSV input (RecordColumnDelimiter)" => translate_with(
            dir,
            &pump("A VARCHAR(8)", plain),
            "bench/apps/toll_csv.json",
            FlinkOptions::default(),
        ),
        "RecordRowPath other than `$`" => {
            let mut schema: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(TOLL).unwrap()).unwrap();
            schema["RecordFormat"]["MappingParameters"]["JSONMappingParameters"]["RecordRowPath"] =
                "$.trips[0:]".into();
            let path = dir.join("row_path_schema.json");
            std::fs::write(&path, schema.to_string()).unwrap();
            translate_with(
                dir,
                &pump("A VARCHAR(8)", plain),
                path.to_str().unwrap(),
                FlinkOptions::default(),
            )
        }
        "Kinesis input (`kinesis://`, KinesisStreamsInput)"
        | "Kinesis output (KinesisStreamsOutput, `kinesis://`)" => {
            translate_definition("sql/toll_billing.json", &[], FlinkOptions::default())
        }
        "Firehose input" => translate_edited_definition(dir, |d| {
            let input = &mut d["ApplicationDetail"]["InputDescriptions"][0];
            let arn = input["KinesisStreamsInputDescription"]["ResourceARN"].clone();
            input
                .as_object_mut()
                .unwrap()
                .remove("KinesisStreamsInputDescription");
            input["KinesisFirehoseInputDescription"] = serde_json::json!({
                "ResourceARN": arn.as_str().unwrap().replace(":kinesis:", ":firehose:").replace(":stream/", ":deliverystream/"),
                "RoleARN": "arn:aws:iam::123456789012:role/r"
            });
        }),
        "InputParallelism above 1" => translate_edited_definition(dir, |d| {
            d["ApplicationDetail"]["InputDescriptions"][0]["InputParallelism"]["Count"] = 2.into();
        }),
        "Reference table (S3 or file, CSV or JSON)" | "Stream JOIN reference table" => sql(
            "A VARCHAR(32)",
            "SELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID",
        ),
        "ROWTIME, replay mode (`--rowtime-from COL`)" => replay("A VARCHAR(8)", plain),
        "ROWTIME, ingest time" | "Pump" | "In-application stream" => sql("A VARCHAR(8)", plain),
        "Several pumps into one stream" => translate_with(
            dir,
            &format!(
                "{}\nCREATE PUMP P2 AS INSERT INTO \"DESTINATION_SQL_STREAM\" SELECT STREAM ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\";",
                pump("A VARCHAR(16)", plain)
            ),
            TOLL,
            FlinkOptions::default(),
        ),
        "Projection, WHERE, CASE, CAST, arithmetic, LIKE, SIMILAR TO, IN, BETWEEN, SUBSTRING, TRIM, POSITION, EXTRACT, FLOOR/CEIL" => {
            sql(
                "A VARCHAR(16), B DOUBLE, C INTEGER",
                "SELECT STREAM CASE WHEN BOOTH_ID LIKE 'B0%' THEN TRIM(SUBSTRING(ACCOUNT_ID FROM 2 FOR 3)) ELSE 'x' END, CAST(AMOUNT AS DOUBLE) * 2, POSITION('0' IN BOOTH_ID) + EXTRACT(HOUR FROM EVENT_TIME) FROM \"SOURCE_SQL_STREAM_001\" WHERE AMOUNT BETWEEN 1 AND 10 AND VEHICLE_CLASS IN ('car', 'bus') AND ACCOUNT_ID SIMILAR TO 'A[0-9]+' AND FLOOR(AMOUNT) > 0",
            )
        }
        "Division by zero" => sql(
            "A DOUBLE",
            "SELECT STREAM 1.0 / AMOUNT FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "CAST(x AS VARCHAR(n)) of a longer value" => sql(
            "A VARCHAR(4)",
            "SELECT STREAM CAST(ACCOUNT_ID AS VARCHAR(4)) FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "CAST of a fraction to an integer type" => sql(
            "A INTEGER",
            "SELECT STREAM CAST(AMOUNT AS INTEGER) FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "OVERLAY" => sql(
            "A VARCHAR(16)",
            "SELECT STREAM OVERLAY(ACCOUNT_ID PLACING 'x' FROM 2) FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "An interval divided by a number" => sql(
            "A TIMESTAMP",
            "SELECT STREAM EVENT_TIME + INTERVAL '10' MINUTE / 2 FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "APPROXIMATE_ARRIVAL_TIME" => sql(
            "A TIMESTAMP",
            "SELECT STREAM APPROXIMATE_ARRIVAL_TIME FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "Tumbling GROUP BY `STEP(ROWTIME BY …)` / `FLOOR(ROWTIME TO …)`" => replay(
            "A VARCHAR(8), N BIGINT",
            "SELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" GROUP BY BOOTH_ID, STEP(\"SOURCE_SQL_STREAM_001\".ROWTIME BY INTERVAL '10' MINUTE)",
        ),
        "STEP of another column, or two windows in one GROUP BY" => replay(
            "A VARCHAR(8), N BIGINT",
            "SELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" GROUP BY BOOTH_ID, STEP(\"SOURCE_SQL_STREAM_001\".ROWTIME BY INTERVAL '10' MINUTE), FLOOR(\"SOURCE_SQL_STREAM_001\".ROWTIME TO HOUR)",
        ),
        "Stagger window (`WINDOWED BY STAGGER`)" => replay(
            "A VARCHAR(8), N BIGINT",
            "SELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" WINDOWED BY STAGGER (PARTITION BY BOOTH_ID RANGE INTERVAL '1' MINUTE)",
        ),
        "Sliding window `OVER (… RANGE INTERVAL … PRECEDING)`, `ROWS n PRECEDING`, `WINDOW w AS (…)`" => {
            replay(
                "A VARCHAR(8), S DECIMAL(8,2)",
                "SELECT STREAM BOOTH_ID, SUM(AMOUNT) OVER (PARTITION BY BOOTH_ID ORDER BY ROWTIME RANGE INTERVAL '1' MINUTE PRECEDING) FROM \"SOURCE_SQL_STREAM_001\"",
            )
        }
        "Two different OVER windows in one query" => replay(
            "S DECIMAL(8,2), T DECIMAL(8,2)",
            "SELECT STREAM SUM(AMOUNT) OVER (ORDER BY ROWTIME RANGE INTERVAL '1' MINUTE PRECEDING), SUM(AMOUNT) OVER (ORDER BY ROWTIME ROWS 3 PRECEDING) FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "Stream LEFT JOIN reference table" => sql(
            "A VARCHAR(32)",
            "SELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID",
        ),
        "Stream RIGHT or FULL JOIN reference table" => sql(
            "A VARCHAR(32)",
            "SELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s FULL JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID",
        ),
        "JOIN and LEFT JOIN with reference tables in one FROM" => sql(
            "A VARCHAR(32)",
            "SELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID LEFT JOIN BOOTHS AS c ON s.BOOTH_ID = c.BOOTH_ID",
        ),
        "Stream-to-stream join with `OVER (RANGE …)` windows (inner, LEFT, RIGHT, FULL)" => {
            two_streams(
                "SELECT STREAM c.ACCOUNT_ID, s.ACCOUNT_ID FROM CARS OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS c LEFT JOIN \"SOURCE_SQL_STREAM_001\" AS s ON c.BOOTH_ID = s.BOOTH_ID",
            )
        }
        "Stream-to-stream join without windows, or with a FOLLOWING window" => two_streams(
            "SELECT STREAM c.ACCOUNT_ID, s.ACCOUNT_ID FROM CARS AS c JOIN \"SOURCE_SQL_STREAM_001\" AS s ON c.BOOTH_ID = s.BOOTH_ID",
        ),
        "SELECT DISTINCT" => sql(
            "A VARCHAR(8)",
            "SELECT STREAM DISTINCT BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "UNION ALL" => sql(
            "A VARCHAR(16)",
            "SELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\" UNION ALL SELECT STREAM ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\"",
        ),
        "Subquery in FROM" => sql(
            "A VARCHAR(8)",
            "SELECT STREAM t.BOOTH_ID FROM (SELECT STREAM * FROM \"SOURCE_SQL_STREAM_001\" WHERE AMOUNT > 1) AS t",
        ),
        "IN / EXISTS subquery" => sql(
            "A VARCHAR(8)",
            "SELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\" WHERE BOOTH_ID IN (SELECT BOOTH_ID FROM BOOTHS)",
        ),
        "CREATE FUNCTION (SQL function)" => translate_with(
            dir,
            &format!(
                "CREATE FUNCTION TWICE(x DOUBLE) RETURNS DOUBLE CONTAINS SQL RETURN 2 * x;\n{}",
                pump(
                    "A DOUBLE",
                    "SELECT STREAM TWICE(CAST(AMOUNT AS DOUBLE)) FROM \"SOURCE_SQL_STREAM_001\""
                )
            ),
            TOLL,
            FlinkOptions::default(),
        ),
        // Left out (with a warning) rather than refused: not translated all the same.
        "error_stream output" => with_output("-").and_then(|_| {
            let job = translate_with(
                dir,
                &pump("A VARCHAR(8)", plain),
                TOLL,
                FlinkOptions {
                    outputs: vec!["error_stream=-".into()],
                    ..FlinkOptions::default()
                },
            )?;
            match job.warnings.iter().find(|w| w.contains("error_stream")) {
                Some(w) => Err(Error::Application(w.clone())),
                None => Ok(job),
            }
        }),
        "Firehose output" => {
            with_output("arn:aws:firehose:eu-west-1:123456789012:deliverystream/out")
        }
        "Lambda output" => with_output("lambda://f"),
        "File output (`--output S=PATH`)" => with_output(dir.join("out.csv").to_str().unwrap()),
        "No output given" => translate_with(
            dir,
            &pump("A VARCHAR(8)", plain),
            TOLL,
            FlinkOptions::default(),
        ),
        _ => return None,
    })
}

#[test]
fn every_row_of_the_construct_table_is_what_the_translator_does() {
    // docs/flink.md prints catalog::CONSTRUCTS; each row's "translated" column is checked here
    // by translating an application that uses the construct.
    let dir = temp("constructs");
    let mut wrong = Vec::new();
    for (construct, _, translated) in catalog::CONSTRUCTS {
        let Some(result) = construct_example(&dir, construct) else {
            wrong.push(format!(
                "{construct}: no example in construct_example: add one"
            ));
            continue;
        };
        match (result, translated) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(job), false) => wrong.push(format!(
                "{construct}: the table says not translated, the translator gives:\n{}",
                job.sql
            )),
            (Err(e), true) => wrong.push(format!(
                "{construct}: the table says translated, the translator refuses: {e}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_left_join_with_a_reference_table_is_an_event_time_temporal_join() {
    let dir = temp("left-join");
    let code = format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID AND b.ROAD <> 'x';"
    );
    for rowtime_from in [Some("EVENT_TIME"), None] {
        let job = translate_sql(
            &dir,
            &code,
            FlinkOptions {
                rowtime_from: rowtime_from.map(String::from),
                ..FlinkOptions::default()
            },
        )
        .unwrap();
        let sql = &job.sql;
        // The versioned view: keyed by the column the ON equates (not ROAD, compared with <>),
        // its rows valid from the epoch, and the join looks rows up as of the stream's ROWTIME.
        for want in [
            "`__VERSION` AS TIMESTAMP '1970-01-01 00:00:00',\n  WATERMARK FOR `__VERSION` AS `__VERSION`",
            "CREATE VIEW `BOOTHS__by_BOOTH_ID` AS",
            "ROW_NUMBER() OVER (PARTITION BY `BOOTH_ID` ORDER BY `__VERSION` DESC) AS `__N`",
            "LEFT JOIN `BOOTHS__by_BOOTH_ID` FOR SYSTEM_TIME AS OF `S`.`ROWTIME` AS `B` ON ",
        ] {
            assert!(sql.contains(want), "no {want} in\n{sql}");
        }
        // The stream keeps its time attribute (no cast to a plain TIMESTAMP as for JOIN).
        assert!(
            sql.contains("FROM `SOURCE_SQL_STREAM_001` AS `S`\nLEFT JOIN"),
            "{sql}"
        );
        assert!(
            job.warnings
                .iter()
                .any(|w| w.contains("the rows agree when BOOTH_ID is unique in BOOTHS")),
            "{:?}",
            job.warnings
        );
        // Without replay, the input's ROWTIME is its arrival time as an event time.
        let ingest = "`ROWTIME` AS CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)),\n  WATERMARK FOR `ROWTIME` AS `ROWTIME`";
        assert_eq!(sql.contains(ingest), rowtime_from.is_none(), "{sql}");
        assert!(!sql.contains("PROCTIME()"), "{sql}");
    }
}

#[test]
fn a_left_join_key_repeated_in_the_reference_file_is_warned_about_with_the_key() {
    let dir = temp("repeated-key");
    let code = format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM b.ROAD FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID;"
    );
    let booths = dir.join("booths.csv");
    let translate = |text: &str| {
        std::fs::write(&booths, text).unwrap();
        translate_with(
            &dir,
            &code,
            "sql/toll_input_schema.json",
            FlinkOptions {
                references: vec![format!("BOOTHS={}", booths.display())],
                ..FlinkOptions::default()
            },
        )
        .unwrap()
    };
    let job = translate(
        "BOOTH_ID,ROAD,DIRECTION\nB01,Harbour Bridge,north\nB02,Ring Road,east\nB01,Harbour Bridge,south\nB02,Ring Road,west\nB03,Tunnel,west\n",
    );
    let w = job
        .warnings
        .iter()
        .find(|w| w.starts_with("reference table BOOTHS ("))
        .unwrap_or_else(|| panic!("{:?}", job.warnings));
    assert!(
        w.contains("2 row(s) repeat the BOOTH_ID of an earlier row (the first: B01)"),
        "{w}"
    );
    assert!(
        job.sql.contains("-- reference table BOOTHS ("),
        "{}",
        job.sql
    );
    // Unique keys: no such warning.
    let job = translate("BOOTH_ID,ROAD,DIRECTION\nB01,Harbour Bridge,north\nB02,Ring Road,east\n");
    assert!(
        !job.warnings.iter().any(|w| w.contains("repeat the")),
        "{:?}",
        job.warnings
    );
}

#[test]
fn approximate_arrival_time_of_a_kinesis_input_is_refused_at_its_place() {
    let dir = temp("arrival-kinesis");
    let code = "CREATE STREAM \"DESTINATION_SQL_STREAM\" (A TIMESTAMP);\nCREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM APPROXIMATE_ARRIVAL_TIME FROM \"SOURCE_SQL_STREAM_001\";";
    let err = translate_with(
        &dir,
        code,
        "sql/toll_input_schema.json",
        FlinkOptions {
            input: Some("arn:aws:kinesis:us-east-1:123456789012:stream/in".into()),
            ..FlinkOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            ":3:15: error: not translatable to Flink: APPROXIMATE_ARRIVAL_TIME of a Kinesis input"
        ) && err.contains("does not fill it in"),
        "{err}"
    );
    // A file input gives it (ROWTIME, as rowtime does).
    let job = translate_with(
        &dir,
        code,
        "sql/toll_input_schema.json",
        FlinkOptions::default(),
    )
    .unwrap();
    assert!(
        job.sql
            .contains("CAST(`ROWTIME` AS TIMESTAMP(3)) AS `APPROXIMATE_ARRIVAL_TIME`"),
        "{}",
        job.sql
    );
}

#[test]
fn every_kda_function_rowtime_has_is_in_the_flink_table() {
    // docs/compatibility.md's function sections name KDA's functions (the first column's
    // `NAME…` spans); each must have a row in catalog::FUNCTIONS (a form or the reason it has
    // none), except the SQL forms the construct table covers and the type names in CAST rows.
    let doc = std::fs::read_to_string("docs/compatibility.md").unwrap();
    let functions = &doc[doc
        .find("## Aggregate and analytic functions")
        .expect("the functions sections")..];
    let syntax = [
        "CAST",
        "EXTRACT",
        "POSITION",
        "SUBSTRING",
        "TRIM",
        "OVERLAY",
        "STEP",
        "BOOLEAN",
        "CHAR",
        "DATE",
        "DECIMAL",
        "TIME",
        "TIMESTAMP",
        "VARCHAR",
        "SECOND",
    ];
    let mut missing = Vec::new();
    for line in functions.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for span in first.split('`').skip(1).step_by(2) {
            let name: String = span
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.len() < 2 || syntax.contains(&name.as_str()) {
                continue;
            }
            if catalog::function(&name).is_none() && !missing.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "functions without a row in translate::catalog::FUNCTIONS: {missing:?}"
    );
}

#[test]
fn milliseconds_and_timestamps_convert_by_template() {
    let dir = temp("templates");
    let job = translate_sql(
        &dir,
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (A BIGINT, B TIMESTAMP, C VARCHAR(16));\nCREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM UNIX_TIMESTAMP(EVENT_TIME), TO_TIMESTAMP(UNIX_TIMESTAMP(EVENT_TIME) + 1), DATE_TO_CHAR('yyyy', CAST(EVENT_TIME AS DATE)) FROM \"SOURCE_SQL_STREAM_001\";",
        FlinkOptions::default(),
    )
    .unwrap();
    let unix = "(UNIX_TIMESTAMP(CAST((`EVENT_TIME`) AS STRING)) * 1000 + MOD(EXTRACT(MILLISECOND FROM (`EVENT_TIME`)) + 1000, 1000))";
    for want in [
        format!("{unix} AS `$1`"),
        format!("CAST(TO_TIMESTAMP_LTZ(({unix} + 1), 3) AS TIMESTAMP(3)) AS `$2`"),
        "DATE_FORMAT(CAST((CAST(`EVENT_TIME` AS DATE)) AS TIMESTAMP(3)), ('yyyy')) AS `$3`".into(),
        "SET 'table.local-time-zone' = 'UTC';".into(),
    ] {
        assert!(job.sql.contains(&want), "no {want} in\n{}", job.sql);
    }
    let err = rejected(&format!(
        "{DEST}CREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM CAST(CURRENT_TIMESTAMP AS VARCHAR(16)) FROM \"SOURCE_SQL_STREAM_001\";"
    ));
    assert!(
        err.contains("not translatable to Flink: CURRENT_TIMESTAMP")
            && err.contains("the time the query started"),
        "{err}"
    );
}
