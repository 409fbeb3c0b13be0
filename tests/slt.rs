//! Runs every test file under `tests/` (`*.slt`, the sqllogictest format described in
//! `tests/README.md`): the KDA conformance suite in `tests/conformance/` and the applications'
//! tests in `tests/apps/`. Files marked `# not yet supported: FEATURE` are counted and listed.

use std::path::PathBuf;

use rowtime::testing::slt::{Outcome, run_file, test_files};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let files = test_files(std::slice::from_ref(&root)).expect("tests/ is readable");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let (mut conformance_passed, mut conformance_skipped) = (0, 0);
    let mut skips = Vec::new();
    for file in &files {
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let conformance = shown.starts_with("conformance");
        match run_file(file) {
            Outcome::Passed => {
                passed += 1;
                conformance_passed += conformance as u32;
                println!("test {shown} ... ok");
            }
            Outcome::Skipped(reason) => {
                skipped += 1;
                conformance_skipped += conformance as u32;
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
    if failed > 0 {
        std::process::exit(1);
    }
}
