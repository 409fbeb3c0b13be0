//! What each KDA construct and function becomes in Flink SQL, or why it has no translation. The
//! translator consults these tables, and `docs/flink.md` prints them (a test checks the two agree).

/// How a KDA function is written in Flink SQL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlinkForm {
    /// The same name and arguments.
    Same,
    /// Another name, the same arguments.
    Renamed(&'static str),
    /// Another name, the two arguments swapped (`CHAR_TO_TIMESTAMP(format, text)` →
    /// `TO_TIMESTAMP(text, format)`).
    RenamedSwapped(&'static str),
    /// A Flink expression with the call's arguments at `{0}`, `{1}`, … (in the order KDA takes
    /// them).
    Template(&'static str),
    /// No faithful Flink form: the reason.
    None(&'static str),
}

/// KDA's functions (the names rowtime's dialect knows) and their Flink forms.
pub const FUNCTIONS: &[(&str, FlinkForm)] = &[
    ("ABS", FlinkForm::Same),
    (
        "ANY",
        FlinkForm::None("Flink has no ANY or EVERY aggregate; write MAX or MIN of a CASE by hand"),
    ),
    ("AVG", FlinkForm::Same),
    ("CEIL", FlinkForm::Same),
    ("CEILING", FlinkForm::Same),
    ("CHAR_LENGTH", FlinkForm::Same),
    ("CHARACTER_LENGTH", FlinkForm::Same),
    (
        "CHAR_TO_DATE",
        FlinkForm::None(
            "Flink's TO_DATE reads only some of Java's date patterns KDA accepts; convert with TO_TIMESTAMP and CAST",
        ),
    ),
    (
        "CHAR_TO_TIME",
        FlinkForm::None(
            "Flink has no function that reads a TIME with a Java date pattern; convert with TO_TIMESTAMP and CAST",
        ),
    ),
    (
        "CHAR_TO_TIMESTAMP",
        FlinkForm::RenamedSwapped("TO_TIMESTAMP"),
    ),
    ("COALESCE", FlinkForm::Same),
    ("COUNT", FlinkForm::Same),
    ("CURRENT_DATE", FlinkForm::None(QUERY_START)),
    ("CURRENT_TIME", FlinkForm::None(QUERY_START)),
    ("CURRENT_TIMESTAMP", FlinkForm::None(QUERY_START)),
    (
        "CURRENT_ROW_TIMESTAMP",
        FlinkForm::None("Flink has no per-row clock reading; use PROCTIME() in a hand-written job"),
    ),
    (
        "DATE_TO_CHAR",
        FlinkForm::Template("DATE_FORMAT(CAST({1} AS TIMESTAMP(3)), {0})"),
    ),
    (
        "EVERY",
        FlinkForm::None("Flink has no ANY or EVERY aggregate; write MAX or MIN of a CASE by hand"),
    ),
    ("EXP", FlinkForm::Same),
    (
        "EXP_AVG",
        FlinkForm::None(
            "an exponentially weighted average has no Flink built-in; write it as a user-defined aggregate",
        ),
    ),
    ("FIRST_VALUE", FlinkForm::Same),
    ("FLOOR", FlinkForm::Same),
    (
        "GROUP_RANK",
        FlinkForm::None(
            "KDA ranks the rows of a batch as they arrive (T-sort); Flink's ROW_NUMBER() Top-N updates earlier ranks, which no append-only sink takes",
        ),
    ),
    ("INITCAP", FlinkForm::Same),
    (
        "LAG",
        FlinkForm::None(
            "KDA's LAG reads rows of the stream before the current one, IGNORE NULLS included; Flink's LAG runs only in an OVER window ordered by time with a different NULL rule",
        ),
    ),
    ("LAST_VALUE", FlinkForm::Same),
    ("LN", FlinkForm::Same),
    ("LOCALTIME", FlinkForm::None(QUERY_START)),
    ("LOCALTIMESTAMP", FlinkForm::None(QUERY_START)),
    ("LOG10", FlinkForm::Same),
    ("LOWER", FlinkForm::Same),
    ("MAX", FlinkForm::Same),
    ("MIN", FlinkForm::Same),
    ("MOD", FlinkForm::Same),
    (
        "MONOTONIC",
        FlinkForm::None(
            "MONOTONIC tells KDA a GROUP BY key only grows, so each group closes when it moves on; Flink's GROUP BY without a window keeps groups open and updates them: group by a window instead",
        ),
    ),
    (
        "NTH_VALUE",
        FlinkForm::None("Flink has no NTH_VALUE over an OVER window"),
    ),
    ("NULLIF", FlinkForm::Same),
    ("POWER", FlinkForm::Same),
    (
        "REGEX_REPLACE",
        FlinkForm::None(
            "KDA's REGEX_REPLACE takes a start position and an occurrence, Flink's REGEXP_REPLACE replaces every match from the start",
        ),
    ),
    ("SQRT", FlinkForm::Same),
    ("STDDEV_POP", FlinkForm::Same),
    ("STDDEV_SAMP", FlinkForm::Same),
    (
        "SUBSTRING SIMILAR",
        FlinkForm::None(
            "Flink has no SUBSTRING(s SIMILAR pattern ESCAPE e) (SQL's regular expressions); REGEXP_EXTRACT takes Java's",
        ),
    ),
    ("SUM", FlinkForm::Same),
    (
        "TIMESTAMP_TO_CHAR",
        FlinkForm::RenamedSwapped("DATE_FORMAT"),
    ),
    (
        "TIME_TO_CHAR",
        FlinkForm::None("Flink's DATE_FORMAT takes a TIMESTAMP, and a TIME does not cast to one"),
    ),
    // TO_TIMESTAMP_LTZ gives an instant, which the script's UTC session time zone turns into
    // the same TIMESTAMP KDA gives.
    (
        "TO_TIMESTAMP",
        FlinkForm::Template("CAST(TO_TIMESTAMP_LTZ({0}, 3) AS TIMESTAMP(3))"),
    ),
    (
        "TSDIFF",
        FlinkForm::None(
            "Flink's TIMESTAMPDIFF counts whole units; KDA's TSDIFF is milliseconds: write TIMESTAMPDIFF(SECOND, …) or an expression by hand",
        ),
    ),
    // Flink's UNIX_TIMESTAMP is whole seconds (of the text, in the UTC session time zone);
    // EXTRACT(MILLISECOND) is the milliseconds within the second, negative before 1970.
    (
        "UNIX_TIMESTAMP",
        FlinkForm::Template(
            "(UNIX_TIMESTAMP(CAST({0} AS STRING)) * 1000 + MOD(EXTRACT(MILLISECOND FROM {0}) + 1000, 1000))",
        ),
    ),
    ("UPPER", FlinkForm::Same),
    ("VAR_POP", FlinkForm::Same),
    ("VAR_SAMP", FlinkForm::Same),
    ("FAST_REGEX_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("FAST_REGEX_LOG_PARSER", FlinkForm::None(LOG_PARSER)),
    ("FIXED_COLUMN_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("REGEX_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("SYS_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("VARIABLE_COLUMN_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("W3C_LOG_PARSE", FlinkForm::None(LOG_PARSER)),
    ("RANDOM_CUT_FOREST", FlinkForm::None(MODEL)),
    ("RANDOM_CUT_FOREST_WITH_EXPLANATION", FlinkForm::None(MODEL)),
    ("HOTSPOTS", FlinkForm::None(MODEL)),
    (
        "TOP_K_ITEMS_TUMBLING",
        FlinkForm::None(
            "KDA counts the top items approximately (a space-saving sketch); Flink has no such table function, and an exact Top-N is not the same rows",
        ),
    ),
    (
        "COUNT_DISTINCT_ITEMS_TUMBLING",
        FlinkForm::None(
            "KDA counts distinct items approximately (HyperLogLog); COUNT(DISTINCT …) in Flink is exact, not the same numbers",
        ),
    ),
];

const QUERY_START: &str = "KDA's is the time the query started, the same for every row; Flink's, in a streaming job, is the time each row is processed";
const LOG_PARSER: &str = "a KDA log parser returns a row of columns from KDA's own pattern language; Flink has no such function: parse the field in a Flink user-defined function";
const MODEL: &str = "a machine-learning table function with its own model state and random sampling; Flink has no equivalent, and no other engine gives the same scores";

/// The Flink form of a KDA function, by its (upper-case) name.
pub fn function(name: &str) -> Option<FlinkForm> {
    FUNCTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

/// KDA constructs: (construct, Flink translation or the reason there is none, translated?).
pub const CONSTRUCTS: &[(&str, &str, bool)] = &[
    (
        "JSON input (InputSchema, JSONPath mappings `$.a`, `$.a.b`)",
        "`CREATE TABLE … WITH ('format' = 'json')`: a column per JSON key (a ROW for nested keys), read as text and converted in a view with the KDA names and types; a record whose field does not convert is dropped, as KDA sends it to error_stream",
        true,
    ),
    (
        "CSV input (RecordColumnDelimiter)",
        "`'format' = 'csv'`, `'csv.field-delimiter'` (one character; the row delimiter must be a newline); converted as JSON fields are",
        true,
    ),
    (
        "RecordRowPath other than `$`",
        "not translated: Flink's json format reads one record per line",
        false,
    ),
    (
        "Kinesis input (`kinesis://`, KinesisStreamsInput)",
        "`'connector' = 'kinesis'`, `'stream.arn'`, `'aws.region'`, `'source.init.position'`",
        true,
    ),
    (
        "Firehose input",
        "not translated: Flink cannot read a Firehose delivery stream; point the producers at a Kinesis data stream",
        false,
    ),
    (
        "InputParallelism above 1",
        "not translated: write one input; Flink's own parallelism spreads the work",
        false,
    ),
    (
        "Reference table (S3 or file, CSV or JSON)",
        "`'connector' = 'filesystem'` over the file or `s3://` object; CSV columns are read as text, a header line is dropped, the columns are cast in a view",
        true,
    ),
    (
        "ROWTIME, replay mode (`--rowtime-from COL`)",
        "an event-time attribute `ROWTIME AS CAST(COL AS TIMESTAMP(3))` with `WATERMARK FOR ROWTIME AS ROWTIME - INTERVAL '0.001' SECOND`; KDA clamps an out-of-order ROWTIME, Flink drops the row from windows as late (warned)",
        true,
    ),
    (
        "ROWTIME, ingest time",
        "`ROWTIME AS PROCTIME()`; when a pump LEFT JOINs a reference table, the arrival time as an event-time attribute, `ROWTIME AS CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3))` with `WATERMARK FOR ROWTIME AS ROWTIME` (warned: a window over it closes when a later row arrives)",
        true,
    ),
    (
        "In-application stream",
        "a view: the UNION ALL of the pumps that insert into it, each column cast to the stream's type",
        true,
    ),
    (
        "Pump",
        "a view of its query; a pump into a delivered stream is also an INSERT of the job's STATEMENT SET into the stream's sink table",
        true,
    ),
    (
        "Several pumps into one stream",
        "the stream's view is the UNION ALL of the pumps' views (for pumps that read the stream); a delivered stream gets one INSERT per pump",
        true,
    ),
    (
        "Projection, WHERE, CASE, CAST, arithmetic, LIKE, SIMILAR TO, IN, BETWEEN, SUBSTRING, TRIM, POSITION, EXTRACT, FLOOR/CEIL",
        "the same SQL; string literals are written by rowtime (sqlparser would print two quotes in a row unescaped)",
        true,
    ),
    (
        "Division by zero",
        "the row is dropped (a WHERE or HAVING guard on the divisor), as KDA sends it to error_stream; Flink would give Infinity or fail the job. A divisor inside an OVER aggregate is only warned about",
        true,
    ),
    (
        "CAST(x AS VARCHAR(n)) of a longer value",
        "the row is dropped (a guard on its length), as KDA rejects it; Flink would cut the value",
        true,
    ),
    (
        "CAST of a fraction to an integer type",
        "translated with a warning: KDA rounds (CAST(-1.77 AS INTEGER) is -2), Flink truncates (-1)",
        true,
    ),
    (
        "OVERLAY",
        "not translated: KDA and Flink differ on a start before the string or past its end and on FOR 0 (found by the differential test)",
        false,
    ),
    (
        "An interval divided by a number",
        "not translated: Flink cannot divide an interval",
        false,
    ),
    (
        "APPROXIMATE_ARRIVAL_TIME",
        "a file input: ROWTIME (as rowtime gives it); a Kinesis input: refused at its place (Flink's Kinesis table source lists its `timestamp` metadata but does not fill it in)",
        true,
    ),
    (
        "Tumbling GROUP BY `STEP(ROWTIME BY …)` / `FLOOR(ROWTIME TO …)`",
        "window TVF `TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), size))` grouped by `window_start, window_end, window_time`; `STEP(…)` is `window_start`, the row's ROWTIME the window's end",
        true,
    ),
    (
        "STEP of another column, or two windows in one GROUP BY",
        "not translated: a Flink window groups by one time attribute",
        false,
    ),
    (
        "Stagger window (`WINDOWED BY STAGGER`)",
        "not translated: Flink has no window that opens at each key's first row",
        false,
    ),
    (
        "Sliding window `OVER (… RANGE INTERVAL … PRECEDING)`, `ROWS n PRECEDING`, `WINDOW w AS (…)`",
        "an OVER aggregate `ORDER BY ROWTIME RANGE BETWEEN … PRECEDING AND CURRENT ROW` (or ROWS). Warned: with equal ROWTIMEs, Flink's RANGE frame holds all of them (SQL's peers), KDA's only those up to the current row",
        true,
    ),
    (
        "Two different OVER windows in one query",
        "not translated: Flink computes all of a query's OVER aggregates over one window; write a pump per window",
        false,
    ),
    (
        "Stream JOIN reference table",
        "a regular join (inner), with the stream's ROWTIME cast to a plain TIMESTAMP first (Flink's rule for regular joins); append-only",
        true,
    ),
    (
        "Stream LEFT JOIN reference table",
        "an event-time temporal join, `LEFT JOIN t__by_KEY FOR SYSTEM_TIME AS OF s.ROWTIME`, with a versioned view of the table: one row per key (the table's columns the ON equates with the stream's values), every row valid from the epoch. Append-only, and ROWTIME stays a time attribute. KDA joins every row with the key, Flink one: warned, the rows agree when the key is unique",
        true,
    ),
    (
        "Stream RIGHT or FULL JOIN reference table",
        "not translated: rowtime itself rejects them (not yet supported), and Flink's temporal join pads only the stream's rows; write stream LEFT JOIN table",
        false,
    ),
    (
        "JOIN and LEFT JOIN with reference tables in one FROM",
        "not translated: the regular join drops the time attribute the temporal join needs; join in one pump, LEFT JOIN in the next",
        false,
    ),
    (
        "Stream-to-stream join with `OVER (RANGE …)` windows (inner, LEFT, RIGHT, FULL)",
        "an interval join, `ON … AND l.ROWTIME BETWEEN r.ROWTIME - INTERVAL d(l) AND r.ROWTIME + INTERVAL d(r)`; the joined row's ROWTIME is the later of the two (an outer row's, its own plus its window), a plain TIMESTAMP",
        true,
    ),
    (
        "Stream-to-stream join without windows, or with a FOLLOWING window",
        "not translated: Flink's interval join needs a bounded range on both sides",
        false,
    ),
    (
        "SELECT DISTINCT",
        "not translated: a streaming DISTINCT in Flink keeps every value seen and is not append-only",
        false,
    ),
    ("UNION ALL", "UNION ALL", true),
    (
        "Subquery in FROM",
        "the same subquery (named `subquery` when it has no alias)",
        true,
    ),
    ("IN / EXISTS subquery", "not translated", false),
    (
        "CREATE FUNCTION (SQL function)",
        "not translated: Flink functions are Java or Python classes",
        false,
    ),
    (
        "error_stream output",
        "not translated: Flink skips a record that does not decode (`json.ignore-parse-errors`) and has no stream of them; the output is left out with a warning",
        false,
    ),
    (
        "Kinesis output (KinesisStreamsOutput, `kinesis://`)",
        "`'connector' = 'kinesis'`, `'stream.arn'`, `'aws.region'`, json or csv",
        true,
    ),
    (
        "Firehose output",
        "`'connector' = 'firehose'`, `'delivery-stream'`, `'aws.region'`",
        true,
    ),
    (
        "Lambda output",
        "not translated: Flink has no Lambda sink; deliver to Kinesis and trigger the function from there",
        false,
    ),
    (
        "File output (`--output S=PATH`)",
        "`'connector' = 'filesystem'` (a folder of part files at PATH), json or csv by the extension",
        true,
    ),
    (
        "No output given",
        "`'connector' = 'print'` for DESTINATION_SQL_STREAM",
        true,
    ),
];

/// The table of constructs and functions as markdown, as `docs/flink.md` holds it between its
/// `<!-- constructs -->` markers.
pub fn markdown_table() -> String {
    let mut out = String::from("| KDA construct | Flink SQL | translated |\n|---|---|---|\n");
    for (construct, flink, ok) in CONSTRUCTS {
        out.push_str(&format!(
            "| {construct} | {flink} | {} |\n",
            if *ok { "yes" } else { "no" }
        ));
    }
    out.push_str("\n| KDA function | Flink SQL | translated |\n|---|---|---|\n");
    for (name, form) in FUNCTIONS {
        let (flink, ok) = match form {
            FlinkForm::Same => (format!("`{name}`"), true),
            FlinkForm::Renamed(n) => (format!("`{n}`"), true),
            FlinkForm::RenamedSwapped(n) => (format!("`{n}`, arguments swapped"), true),
            FlinkForm::Template(t) => (
                format!("`{}`", t.replace("{0}", "a").replace("{1}", "b")),
                true,
            ),
            FlinkForm::None(why) => (why.to_string(), false),
        };
        out.push_str(&format!(
            "| `{name}` | {flink} | {} |\n",
            if ok { "yes" } else { "no" }
        ));
    }
    out
}
