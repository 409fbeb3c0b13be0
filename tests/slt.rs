//! Runs every test file under `tests/` (`*.slt`, the sqllogictest format described in
//! `tests/README.md`): the KDA conformance suite in `tests/conformance/` and the applications'
//! tests in `tests/apps/`. Files marked `# not yet supported: FEATURE` are counted and listed.
//!
//! Then it checks `docs/compatibility.md` against the outcomes, so the page cannot drift from
//! the code: a feature marked `supported` or `differs` names test files that pass, a feature
//! marked `not yet` names files that are skipped (or none), and every skipped conformance file
//! is listed as `not yet`. A Rust test is named `tests/cli.rs::test_name` (or a file under
//! `src/`): it must exist, and `cargo test` runs it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rowtime::testing::slt::{Outcome, run_file, test_files};

fn main() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("tests");
    let files = test_files(std::slice::from_ref(&root)).expect("tests/ is readable");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let (mut conformance_passed, mut conformance_skipped) = (0, 0);
    let mut skips = Vec::new();
    // Outcome by repository-relative path: true = passed, false = skipped.
    let mut outcomes: HashMap<String, bool> = HashMap::new();
    for file in &files {
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let path = format!("tests/{shown}");
        let conformance = shown.starts_with("conformance");
        match run_file(file) {
            Outcome::Passed => {
                passed += 1;
                conformance_passed += conformance as u32;
                outcomes.insert(path, true);
                println!("test {shown} ... ok");
            }
            Outcome::Skipped(reason) => {
                skipped += 1;
                conformance_skipped += conformance as u32;
                outcomes.insert(path, false);
                println!("test {shown} ... skipped (not yet supported: {reason})");
                skips.push(format!("{shown}: {reason}"));
            }
            Outcome::Failed(message) => {
                failed += 1;
                println!("test {shown} ... FAILED\n{message}");
            }
        }
    }
    if !skips.is_empty() {
        println!("\nnot yet supported:");
        for s in &skips {
            println!("  {s}");
        }
    }
    println!("\nconformance: {conformance_passed} passed, {conformance_skipped} skipped");
    println!("slt: {passed} passed, {failed} failed, {skipped} skipped");
    let page = manifest.join("docs/compatibility.md");
    let problems = check_compatibility_page(&page, &outcomes);
    if problems.is_empty() {
        println!("docs/compatibility.md: every row agrees with the test files");
    } else {
        println!("\ndocs/compatibility.md disagrees with the test files:");
        for p in &problems {
            println!("  {p}");
        }
    }
    if failed > 0 || !problems.is_empty() {
        std::process::exit(1);
    }
}

/// The repository folder of `docs/compatibility.md`.
fn page_root(page: &Path) -> PathBuf {
    page.parent()
        .and_then(Path::parent)
        .expect("docs/ is in the repository")
        .to_path_buf()
}

/// Whether `file` has a `#[test]` function named `test`.
fn rust_test_exists(file: &Path, test: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let declared = lines
        .windows(2)
        .any(|w| w[0].starts_with("#[test]") && w[1].starts_with(&format!("fn {test}(")));
    if declared {
        Ok(())
    } else {
        Err(format!("no #[test] fn {test} in this file"))
    }
}

/// Every table row `| feature | status | test | note |` of the page, checked against the
/// outcomes of the test files; returns what disagrees, with the page's line numbers.
fn check_compatibility_page(page: &Path, outcomes: &HashMap<String, bool>) -> Vec<String> {
    let text = match std::fs::read_to_string(page) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", page.display())],
    };
    let mut problems = Vec::new();
    let mut listed_not_yet: Vec<String> = Vec::new();
    let mut rows = 0;
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        if cells == ["feature", "status", "test", "note"] {
            in_table = true;
            continue;
        }
        if !in_table {
            problems.push(format!(
                "line {n}: a table without the header `| feature | status | test | note |`"
            ));
            continue;
        }
        if cells.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
            continue; // the separator row
        }
        if cells.len() != 4 {
            problems.push(format!("line {n}: {} cells, expected 4", cells.len()));
            continue;
        }
        rows += 1;
        let (feature, status, tests) = (cells[0], cells[1], cells[2]);
        let named: Vec<&str> = tests
            .split(['<', ','])
            .map(|t| t.trim_start_matches("br>").trim().trim_matches('`'))
            .filter(|t| !t.is_empty() && *t != "—")
            .collect();
        for t in &named {
            if let Some((file, test)) = t.split_once("::") {
                // A Rust test: `cargo test` runs it; the page needs it to exist.
                if let Err(why) = rust_test_exists(&page_root(page).join(file), test) {
                    problems.push(format!("line {n} ({feature}): {t}: {why}"));
                }
                if status == "not yet" {
                    problems.push(format!(
                        "line {n} ({feature}): marked not yet, but names the Rust test {t}"
                    ));
                }
                continue;
            }
            match (status, outcomes.get(*t)) {
                (_, None) => problems.push(format!(
                    "line {n} ({feature}): {t} is not a test file under tests/"
                )),
                ("supported" | "differs", Some(false)) => problems.push(format!(
                    "line {n} ({feature}): marked {status}, but {t} is skipped"
                )),
                ("not yet", Some(true)) => problems.push(format!(
                    "line {n} ({feature}): marked not yet, but {t} passes: update the page"
                )),
                _ => {}
            }
        }
        match status {
            "supported" | "differs" if named.is_empty() => problems.push(format!(
                "line {n} ({feature}): marked {status} but names no test file"
            )),
            "supported" | "differs" => {}
            "not yet" => listed_not_yet.extend(named.iter().map(|t| t.to_string())),
            other => problems.push(format!(
                "line {n} ({feature}): status `{other}` is not supported, differs or not yet"
            )),
        }
    }
    if rows == 0 {
        problems.push("no feature rows found".into());
    }
    for (path, passed) in outcomes {
        if !passed && path.starts_with("tests/conformance/") && !listed_not_yet.contains(path) {
            problems.push(format!("{path} is skipped but no `not yet` row names it"));
        }
    }
    problems.sort();
    problems
}
