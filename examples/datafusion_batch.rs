//! Benchmark peer: the benchmark queries as DataFusion batch queries over the same files, with
//! one target partition. This is the ceiling a streaming engine built on the same libraries can
//! hope to approach. Used by `bench/run.sh`; not part of rowtime.
//!
//! ```text
//! cargo run --release --example datafusion_batch -- QUERY INPUT json|csv OUTPUT.csv [REFERENCE_DIR]
//! ```
//! Prints one JSON line: the query, the rows written and the seconds the query took (planning,
//! reading, executing and writing; not process start).

use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, SessionConfig, SessionContext};

fn toll_schema() -> Schema {
    Schema::new(vec![
        Field::new("booth_id", DataType::Utf8, true),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("vehicle_class", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(8, 2), true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ])
}

fn bid_schema() -> Schema {
    Schema::new(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new(
            "date_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ])
}

/// The query and whether it reads bids (else toll transactions).
fn query(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "billing" => (
            "SELECT account_id AS \"ACCOUNT_ID\", date_bin(INTERVAL '10 minutes', event_time) AS \"WINDOW_START\",
                    COUNT(*) AS \"TRIPS\", SUM(amount) AS \"TOTAL_AMOUNT\"
             FROM t GROUP BY account_id, date_bin(INTERVAL '10 minutes', event_time)",
            false,
        ),
        "alerts" => (
            "WITH c AS (
                SELECT booth_id, date_bin(INTERVAL '30 minutes', event_time) AS ws, COUNT(*) AS v
                FROM t GROUP BY booth_id, date_bin(INTERVAL '30 minutes', event_time))
             SELECT c.booth_id AS \"BOOTH_ID\", c.ws AS \"WINDOW_START\", c.v AS \"VEHICLES\",
                    th.\"MIN_VEHICLES\"
             FROM c JOIN thresholds AS th
               ON c.booth_id = th.\"BOOTH_ID\"
              AND CAST(date_part('hour', c.ws) AS BIGINT) * 2
                  + CAST(date_part('minute', c.ws) AS BIGINT) / 30 = th.\"SLOT\"
             WHERE c.v < th.\"MIN_VEHICLES\"",
            false,
        ),
        "passthrough" => (
            "SELECT booth_id AS \"BOOTH_ID\", account_id AS \"ACCOUNT_ID\", vehicle_class AS \"VEHICLE_CLASS\",
                    amount AS \"AMOUNT\", event_time AS \"EVENT_TIME\"
             FROM t WHERE amount >= 5.00",
            false,
        ),
        "enrich" => (
            "SELECT t.booth_id AS \"BOOTH_ID\", t.account_id AS \"ACCOUNT_ID\", t.amount AS \"AMOUNT\",
                    t.event_time AS \"EVENT_TIME\", b.\"ROAD\"
             FROM t JOIN booths AS b ON t.booth_id = b.\"BOOTH_ID\"",
            false,
        ),
        "bids_q1" => (
            "SELECT auction AS \"AUCTION\", bidder AS \"BIDDER\", CAST(price AS DOUBLE) * 0.908 AS \"EURO_PRICE\",
                    date_time AS \"DATE_TIME\"
             FROM t",
            true,
        ),
        "bids_sliding" => (
            "SELECT auction AS \"AUCTION\", date_time AS \"DATE_TIME\",
                    AVG(CAST(price AS DOUBLE)) OVER (PARTITION BY auction ORDER BY date_time
                        RANGE BETWEEN INTERVAL '1 hour' PRECEDING AND CURRENT ROW) AS \"AVG_PRICE\"
             FROM t",
            true,
        ),
        _ => return None,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, input, format, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: datafusion_batch QUERY INPUT json|csv OUTPUT.csv [REFERENCE_DIR]");
        std::process::exit(2);
    };
    let Some((sql, bids)) = query(name) else {
        eprintln!("unknown query {name}");
        std::process::exit(2);
    };
    let reference_dir = rest
        .first()
        .cloned()
        .unwrap_or_else(|| "reference-data/toll-reference".to_string());
    let started = Instant::now();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let schema = if bids { bid_schema() } else { toll_schema() };
    match format.as_str() {
        "json" => {
            let options = JsonReadOptions::default()
                .schema(&schema)
                .file_extension(extension(input));
            ctx.register_json("t", input, options).await?
        }
        _ => {
            let options = CsvReadOptions::new()
                .has_header(false)
                .schema(&schema)
                .file_extension(extension(input));
            ctx.register_csv("t", input, options).await?
        }
    }
    ctx.register_csv(
        "thresholds",
        &format!("{reference_dir}/booth_thresholds.csv"),
        CsvReadOptions::new().has_header(true),
    )
    .await?;
    ctx.register_csv(
        "booths",
        &format!("{reference_dir}/booths.csv"),
        CsvReadOptions::new().has_header(true),
    )
    .await?;
    let batches = ctx.sql(sql).await?.collect().await?;
    let file = std::fs::File::create(output)?;
    let mut writer = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .with_timestamp_format("%Y-%m-%d %H:%M:%S%.3f".to_string())
        .build(file);
    let mut rows = 0;
    for b in &batches {
        rows += b.num_rows();
        writer.write(b)?;
    }
    drop(writer);
    println!(
        "{{\"engine\":\"datafusion\",\"query\":\"{name}\",\"rows_out\":{rows},\"seconds_job\":{:.3}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The file's extension with its dot (DataFusion only reads files with the expected one).
fn extension(path: &str) -> &str {
    path.rfind('.').map(|i| &path[i..]).unwrap_or("")
}
