//! The fuzz harness: `rowtime-fuzz TARGET` is what AFL++ runs (the targets are
//! `rowtime::testing::fuzz`), `rowtime-fuzz seeds REPO OUT` writes the seed corpora from the
//! repository's own files, and `rowtime-fuzz replay TARGET FILE…` runs inputs once (to see a
//! crash's panic message). `fuzz/run` drives all three; see docs/fuzzing.md.

use std::fs;
use std::path::{Path, PathBuf};

use rowtime::testing::fuzz::TARGETS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = |name: &str| {
        TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .unwrap_or_else(|| usage())
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seeds", repo, out] => seeds(Path::new(repo), Path::new(out)),
        ["replay", name, files @ ..] => {
            let f = target(name);
            let mut panicked = 0;
            for file in files {
                eprintln!("{name}: {file}");
                let data = fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
                // Go on after a panic (its message is printed), so that one crash does not
                // hide the rest, nor end a coverage run early.
                panicked += std::panic::catch_unwind(|| f(&data)).is_err() as usize;
            }
            if panicked > 0 {
                eprintln!("{name}: {panicked} of {} inputs panicked", files.len());
                std::process::exit(1);
            }
        }
        #[cfg(feature = "afl")]
        [name] => {
            let f = target(name);
            afl::fuzz!(|data: &[u8]| f(data));
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "usage: rowtime-fuzz TARGET | seeds REPO OUT | replay TARGET FILE…\ntargets: {}\n\
         (TARGET alone, the fuzzing loop, needs the default feature afl and `cargo afl build`)",
        names.join(", ")
    );
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------
// Seeds

fn seeds(repo: &Path, out: &Path) {
    let mut files = Vec::new();
    walk(&repo.join("tests"), &mut files);
    walk(&repo.join("sql"), &mut files);
    files.sort();
    let mut corpus: Vec<(&str, Vec<u8>)> = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("slt") => sql_seeds_of_slt(file, &text, &mut corpus),
            Some("sql") => corpus.push(("sql", text.clone().into_bytes())),
            _ => continue,
        }
        function_seeds(&text, &mut corpus);
    }
    decode_seeds(repo, &mut corpus);
    for (target, data) in &hand_seeds() {
        corpus.push((target, data.as_bytes().to_vec()));
    }
    let mut counts = std::collections::BTreeMap::new();
    for (target, data) in corpus {
        let dir = out.join(target);
        fs::create_dir_all(&dir).expect("the seed folder can be made");
        let n = counts.entry(target).or_insert(0);
        *n += 1;
        fs::write(dir.join(format!("seed-{n:04}")), data).expect("a seed can be written");
    }
    for (target, n) in counts {
        println!("{target}: {n} seeds");
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// An `.slt` file's application: its input streams and reference tables as `--!` lines, its
/// code (and `LOAD APPLICATION` files); one more seed for each statement that must fail.
fn sql_seeds_of_slt(file: &Path, text: &str, corpus: &mut Vec<(&str, Vec<u8>)>) {
    let mut header = String::new();
    let mut code = String::new();
    for record in text.split("\n\n") {
        let record: Vec<&str> = record.lines().filter(|l| !l.starts_with('#')).collect();
        let Some((first, rest)) = record.split_first() else {
            continue;
        };
        let ok = first.trim() == "statement ok";
        if !ok && !first.starts_with("statement error") {
            continue;
        }
        let sql = rest.join("\n");
        let trimmed = sql.trim();
        let upper = trimmed.to_ascii_uppercase();
        if let Some(decl) = upper
            .strip_prefix("CREATE INPUT STREAM ")
            .map(|_| ("input", &trimmed["CREATE INPUT STREAM ".len()..]))
            .or_else(|| {
                upper
                    .strip_prefix("CREATE REFERENCE TABLE ")
                    .map(|_| ("table", &trimmed["CREATE REFERENCE TABLE ".len()..]))
            })
        {
            header.push_str(&format!("--! {} {}\n", decl.0, decl.1.replace('\n', " ")));
        } else if upper.starts_with("LOAD APPLICATION ") {
            let path = trimmed["LOAD APPLICATION ".len()..]
                .trim()
                .trim_matches('\'');
            let path = file.parent().unwrap_or(Path::new(".")).join(path);
            if let Ok(loaded) = fs::read_to_string(path) {
                code.push_str(&loaded);
                code.push('\n');
            }
        } else if upper.starts_with("CREATE ") {
            if ok {
                code.push_str(trimmed);
                code.push_str(if trimmed.ends_with(';') { "\n" } else { ";\n" });
            } else {
                corpus.push(("sql", format!("{header}{code}{trimmed}\n").into_bytes()));
            }
        }
    }
    if !code.is_empty() {
        corpus.push(("sql", format!("{header}{code}").into_bytes()));
    }
}

/// The SQL string literals of a text (`''` is a quote).
fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next() {
                None => return out,
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    s.push('\'');
                }
                Some('\'') => break,
                Some(c) => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// The literal arguments after the first of a call starting at `text` (just after `NAME(`);
/// `None` if one is not a literal.
fn literal_args(text: &str) -> Option<Vec<String>> {
    let (_, rest) = text.split_once(',')?;
    let mut args = Vec::new();
    let mut rest = rest.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix('\'') {
            let lit = literals(&format!("'{r}")).into_iter().next()?;
            args.push(lit.clone());
            rest = &r[lit.replace('\'', "''").len() + 1..];
        } else {
            let end = rest.find([',', ')'])?;
            let n = rest[..end].trim();
            n.parse::<i64>().ok()?;
            args.push(n.to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        match rest.chars().next()? {
            ',' => rest = rest[1..].trim_start(),
            ')' => return Some(args),
            _ => return None,
        }
    }
}

/// Log-parser and date-format seeds from the calls in a test file, with its string literals as
/// the texts.
fn function_seeds(text: &str, corpus: &mut Vec<(&str, Vec<u8>)>) {
    let mut texts = literals(text);
    texts.retain(|t| !t.contains('\n'));
    texts.truncate(40);
    let texts = texts.join("\n");
    for name in [
        "REGEX_LOG_PARSE",
        "W3C_LOG_PARSE",
        "VARIABLE_COLUMN_LOG_PARSE",
    ] {
        for (at, _) in text.match_indices(&format!("{name}(")) {
            if text[..at].ends_with("FAST_") {
                continue;
            }
            if let Some(args) = literal_args(&text[at + name.len() + 1..]) {
                let seed = format!("{name}\n{}\n---\n{texts}\n", args.join("\n"));
                corpus.push(("log_parse", seed.into_bytes()));
            }
        }
    }
    for name in [
        "CHAR_TO_TIMESTAMP(",
        "CHAR_TO_DATE(",
        "CHAR_TO_TIME(",
        "TIMESTAMP_TO_CHAR(",
        "DATE_TO_CHAR(",
        "TIME_TO_CHAR(",
    ] {
        for (at, _) in text.match_indices(name) {
            let rest = text[at + name.len()..].trim_start();
            if let Some(pattern) = rest
                .starts_with('\'')
                .then(|| literals(rest).into_iter().next())
                .flatten()
            {
                corpus.push(("date_format", format!("{pattern}\n{texts}\n").into_bytes()));
            }
        }
    }
}

/// Input schemas with records: the toll input schema with toll transactions, the same as CSV,
/// the CSV sample of the discovery test, and every `INSERT RECORDS` of the tests.
fn decode_seeds(repo: &Path, corpus: &mut Vec<(&str, Vec<u8>)>) {
    let compact = |text: &str| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(v.to_string())
    };
    let read = |p: &str| fs::read_to_string(repo.join(p)).unwrap_or_default();
    let toll: String = read("sql/data/toll_transactions.jsonl")
        .lines()
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    let Some(schema) = compact(&read("sql/toll_input_schema.json")) else {
        return;
    };
    corpus.push(("decode", format!("{schema}\n{toll}\n").into_bytes()));
    corpus.push((
        "decode",
        format!("--rowtime-from EVENT_TIME\n{schema}\n{toll}\n").into_bytes(),
    ));
    // The same columns as CSV.
    let mut csv_schema: serde_json::Value = serde_json::from_str(&schema).expect("compacted");
    csv_schema["RecordFormat"] = serde_json::json!({
        "RecordFormatType": "CSV",
        "MappingParameters": {"CSVMappingParameters": {
            "RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}
    });
    let csv_rows: Vec<String> = toll
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let o = v.as_object()?;
            Some(
                o.values()
                    .map(|x| match x {
                        serde_json::Value::String(s) => format!("\"{s}\""),
                        x => x.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect();
    corpus.push((
        "decode",
        format!("{csv_schema}\n{}\n", csv_rows.join("\n")).into_bytes(),
    ));
    let sample = read("tests/conformance/EX-42-data.csv");
    let sample: Vec<&str> = sample.lines().take(20).collect();
    if let Some(head) = sample.first() {
        let columns: Vec<serde_json::Value> = head
            .split(',')
            .map(|c| serde_json::json!({"Name": c.to_ascii_uppercase(), "SqlType": "VARCHAR(64)"}))
            .collect();
        let s = serde_json::json!({"RecordFormat": {"RecordFormatType": "CSV"}, "RecordColumns": columns});
        corpus.push((
            "decode",
            format!("{s}\n{}\n", sample.join("\n")).into_bytes(),
        ));
    }
}

/// Seeds for shapes the repository's files do not show.
fn hand_seeds() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "decode",
            r#"{"RecordFormat":{"RecordFormatType":"JSON"},"RecordColumns":[{"Name":"ID","Mapping":"$.order.id","SqlType":"BIGINT"},{"Name":"ITEM","Mapping":"$.order.items[0:].name","SqlType":"VARCHAR(8)"},{"Name":"N","Mapping":"$.order.items[0:][\"qty\"]","SqlType":"INTEGER"},{"Name":"AT","Mapping":"$['at']","SqlType":"TIMESTAMP"},{"Name":"B","Mapping":"$.b","SqlType":"VARBINARY(4)"},{"Name":"D","Mapping":"$.d","SqlType":"DATE"},{"Name":"T","Mapping":"$.t","SqlType":"TIME"},{"Name":"OK","Mapping":"$.ok","SqlType":"BOOLEAN"},{"Name":"R","Mapping":"$.r","SqlType":"REAL"}]}
{"order":{"id":7,"items":[{"name":"a","qty":1},{"name":"bb","qty":"2"}]},"at":"2020-01-01 00:00:01.5","b":"X'0aff'","d":"2020-02-29","t":"23:59:59","ok":true,"r":1e3}
{"order":{"id":"8","items":[]},"at":1577836800000}
{"order":{"id":1.5}}
not json
"#,
        ),
        (
            "decode",
            "--rowtime-from T\n{\"RecordFormat\":{\"RecordFormatType\":\"CSV\",\"MappingParameters\":{\"CSVMappingParameters\":{\"RecordRowDelimiter\":\"\\r\\n\",\"RecordColumnDelimiter\":\"|\"}}},\"RecordColumns\":[{\"Name\":\"A\",\"SqlType\":\"CHAR(2)\"},{\"Name\":\"T\",\"SqlType\":\"TIMESTAMP\"},{\"Name\":\"X\",\"SqlType\":\"DECIMAL(5,2)\"}]}\nA|T|X\r\nab|2020-01-01 00:00:00|1.25\r\n\"a|b\"|2020-01-01 00:00:01|\"3\"\r\nx||\r\n",
        ),
        (
            "log_parse",
            "VARIABLE_COLUMN_LOG_PARSE\n3\n,\n\\\n\"\n---\na,b\\,c,\"d,e\"\nNULL\n1,2,3,4\n",
        ),
        (
            "log_parse",
            "W3C_LOG_PARSE\n%h %{X-Forwarded-For}i %>s \"%r\" %%\n---\n1.2.3.4 5.6.7.8 200 \"GET / HTTP/1.1\" %\n",
        ),
        (
            "date_format",
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX 'at' h a, E D u z Z k K\n2020-02-29T23:59:59.999+05:30 at 11 PM, Sat 60 6 UTC +0000 24 11\n-0001-01-01T00:00:00.000Z\n",
        ),
        ("date_format", "yyMMddHHmmss\n991231235959\n000229000000\n"),
    ]
}
