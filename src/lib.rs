//! rowtime runs Amazon Kinesis Data Analytics (KDA) for SQL applications anywhere.
//!
//! # Data flow
//!
//! ```text
//!  .sql text ──► dialect ──► AppStatements ──┐
//!  input / reference schemas ──► catalog ────┴──► plan: each pump a chain of operator specs
//!                                                   │ (functions: KDA's functions for DataFusion)
//!                                                   ▼
//!  connectors (decode records, ROWTIME) ──► runtime::Dataflow ──► exec operators ──► connectors (sinks)
//!                                                   └──► error_stream
//! ```
//!
//! `app` puts it together: an application definition (`.sql` plus flags, or KDA's
//! `describe-application` JSON) becomes a planned, ready [`runtime::Dataflow`]; the `rowtime`
//! command (`src/bin/rowtime/`) runs it. `docs/semantics.md` is the contract the stages keep.
//!
//! # Layout
//!
//! `src/` has three groups, declared below in this order:
//! 1. **Vocabulary** files: the names and types every stage shares. They contain no stage logic.
//!    [`error`] (errors, source diagnostics), [`types`] (KDA SQL types ↔ Arrow), [`time`]
//!    (milliseconds, the calendar, window widths), [`format`] (how values are written),
//!    [`catalog`] (streams, reference tables, the ROWTIME column), [`error_stream`], [`state`]
//!    (what a checkpoint keeps of each part).
//! 2. **Stage** folders, in build order: [`dialect`] (KDA SQL text → statements) →
//!    [`functions`] (KDA functions as DataFusion functions, and the call syntax that reaches
//!    them) → [`exec`] (synchronous operators over Arrow batches) → [`plan`] (statements +
//!    catalog → operator specs) → [`connectors`] (bytes ↔ batches: sources, sinks, reference
//!    data) → [`runtime`] (the dataflow and the only threads) → [`app`] (a definition → a ready
//!    dataflow) → [`console`] (the web page and the metrics that watch a run) and
//!    [`translate`] (a bound application → one Flink SQL job).
//! 3. **Tools**: [`testing`] (`TestApp` and test files) and [`generate`] (demo data). The
//!    command itself is a binary, in `src/bin/rowtime/`.
//!
//! A module may import only modules declared above it; test code may import anything (the
//! `layers` test below checks this). A file lives in the stage that uses it; if two stages need
//! it and it holds no stage logic, it is vocabulary. A stage's `mod.rs` holds the stage's entry
//! point and a map of its files, one file per SQL concept.

// ── vocabulary ──
pub mod error;
pub mod types;
pub mod time;
pub mod format;
pub mod catalog;
pub mod error_stream;
pub mod state;

// ── stages ──
pub mod dialect;
pub mod functions;
pub mod exec;
pub mod plan;
pub mod connectors;
pub mod runtime;
pub mod app;
pub mod console;
pub mod translate;

// ── tools ──
pub mod testing;
pub mod generate;

pub use error::{Error, Result};

#[cfg(test)]
mod layers {
    //! Imports point one way: a module names `crate::X` only for an `X` declared above it in
    //! this file, and threads are started only in `runtime/`. Test modules are not checked.

    use std::path::{Path, PathBuf};

    /// The top-level modules in the order `lib.rs` declares them.
    fn declared_order() -> Vec<String> {
        let lib = include_str!("lib.rs");
        lib.lines()
            .filter_map(|l| l.strip_prefix("pub mod "))
            .map(|l| l.trim_end_matches(';').to_string())
            .collect()
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Files of modules declared `#[cfg(test)] mod name;` in `file`: test code.
    fn test_module_files(file: &Path, text: &str) -> Vec<PathBuf> {
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs") => file.parent().expect("a folder").to_path_buf(),
            _ => file.with_extension(""),
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines
            .windows(2)
            .filter(|w| w[0] == "#[cfg(test)]")
            .filter_map(|w| {
                let name = w[1]
                    .trim_start_matches("pub(crate) ")
                    .strip_prefix("mod ")?
                    .strip_suffix(';')?;
                Some(dir.join(format!("{name}.rs")))
            })
            .collect()
    }

    /// The lines of a file outside `#[cfg(test)]` items, with their numbers.
    fn code_lines(text: &str) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        let mut skip_depth: Option<i64> = None;
        let mut depth: i64 = 0;
        let mut pending_test = false;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let opens = line.matches('{').count() as i64;
            let closes = line.matches('}').count() as i64;
            if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
                pending_test = true;
                continue;
            }
            if pending_test && skip_depth.is_none() {
                if opens > 0 {
                    skip_depth = Some(depth);
                    pending_test = false;
                } else if trimmed.ends_with(';') {
                    // `#[cfg(test)] mod x;` or a one-line item.
                    pending_test = false;
                    depth += opens - closes;
                    continue;
                }
            }
            depth += opens - closes;
            match skip_depth {
                Some(d) if depth <= d => skip_depth = None,
                Some(_) => {}
                None if !pending_test => out.push((i + 1, line)),
                None => {}
            }
        }
        out
    }

    #[test]
    fn imports_point_up_the_list_and_threads_live_in_runtime() {
        let order = declared_order();
        let rank = |m: &str| order.iter().position(|x| x == m);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut test_files = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("a source file");
            test_files.extend(test_module_files(file, &text));
        }
        let mut problems = Vec::new();
        for file in files.iter().filter(|f| !test_files.contains(f)) {
            let relative = file.strip_prefix(&src).expect("under src/");
            let first = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or_default();
            let own = first.trim_end_matches(".rs");
            if own == "lib" || own == "bin" {
                continue;
            }
            let own_rank = rank(own).unwrap_or_else(|| panic!("{own} is not declared in lib.rs"));
            let text = std::fs::read_to_string(file).expect("a source file");
            for (number, line) in code_lines(&text) {
                let code = line.split("//").next().unwrap_or_default();
                for (at, _) in code.match_indices("crate::") {
                    let name: String = code[at + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if let Some(r) = rank(&name)
                        && r > own_rank
                    {
                        problems.push(format!(
                            "src/{}:{number}: `{own}` imports `crate::{name}`, which lib.rs declares below it: move the item up to where both can use it",
                            relative.display()
                        ));
                    }
                }
                let spawns = ["thread::spawn", "thread::Builder", "tokio::spawn"];
                if own != "runtime" && spawns.iter().any(|s| code.contains(s)) {
                    problems.push(format!(
                        "src/{}:{number}: a thread is started outside runtime/: give the work to the runtime",
                        relative.display()
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
    }

    #[test]
    fn the_checker_sees_test_modules_and_imports() {
        let text = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::z;\n}\nfn f() {}\n";
        let lines: Vec<usize> = code_lines(text).iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, vec![1, 6]);
        let declared = "#[cfg(test)]\nmod test_util;\nmod eval;\n";
        assert_eq!(
            test_module_files(Path::new("src/exec/mod.rs"), declared),
            [PathBuf::from("src/exec/test_util.rs")]
        );
        assert_eq!(declared_order()[..3], ["error", "types", "time"]);
    }
}
