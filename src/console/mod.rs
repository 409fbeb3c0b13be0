//! The console: a web page served by rowtime itself while it runs an application, and the
//! Prometheus metrics endpoint (`docs/console.md` is the user's reference).
//!
//! The run itself is `rowtime run`'s (the binary drives it); the console watches it through a
//! [`watch::Generation`] set on the dataflow, and changes it only by handing a newly built,
//! fully bound dataflow to the run loop ([`crate::runtime::Control::Replace`]) once the new code
//! has been checked and planned: a rejected change leaves the run as it was.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Console`]: the application as it runs now, Save and run, writing the code back |
//! | `watch.rs` | [`watch::Watch`]: every stream's rows and rates, the metrics |
//! | `server.rs` | the HTTP endpoints (axum) and the event streams |
//! | `graph.rs` | the plan as nodes and edges for the page's dataflow view |
//! | `page.html` | the page: editor, source data, streams, dataflow, charts (no build step) |
//!
//! Tests: `cargo test --lib console`, and `cargo test --test console`: the binary over HTTP,
//! and the page in headless Chromium (`tests/console/browser.py`).

pub mod graph;
pub mod server;
pub mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::Application;
use crate::app::assemble::{Prepared, Reference, dataflow, load_tables, plan_application};
use crate::app::bind::{RunFlags, bind_outputs};
use crate::connectors::schema::RecordSchema;
use crate::error::{Diagnostic, Error, Result, SourceText};
use crate::runtime::{Control, Dataflow};
use watch::Watch;

/// Where the application's code is written back on Save and run.
#[derive(Debug, Clone)]
pub enum AppFile {
    /// A `.sql` file: the code is the whole file.
    Sql(PathBuf),
    /// A KDA definition: the code is its `ApplicationCode` string.
    Definition(PathBuf),
}

impl AppFile {
    pub fn path(&self) -> &std::path::Path {
        match self {
            AppFile::Sql(p) | AppFile::Definition(p) => p,
        }
    }

    /// Writes `code` back, keeping the rest of a definition as it was written.
    pub fn write(&self, code: &str) -> Result<()> {
        let path = self.path();
        let shown = path.display().to_string();
        let text = match self {
            AppFile::Sql(_) => code.to_string(),
            AppFile::Definition(_) => {
                let old = std::fs::read_to_string(path).map_err(|e| Error::io(&shown, e))?;
                replace_application_code(&old, code).ok_or_else(|| {
                    Error::Application(format!(
                        "{shown}: no \"ApplicationCode\" string to write the new code into; the run has the new code, the file does not"
                    ))
                })?
            }
        };
        let temp = path.with_extension("rowtime-saving");
        std::fs::write(&temp, text).map_err(|e| Error::io(temp.display(), e))?;
        std::fs::rename(&temp, path).map_err(|e| Error::io(&shown, e))
    }
}

/// `text` (a definition's JSON) with the value of its `"ApplicationCode"` key replaced by
/// `code`, everything else byte for byte as it was.
pub fn replace_application_code(text: &str, code: &str) -> Option<String> {
    let key = text.find("\"ApplicationCode\"")?;
    let after_key = key + "\"ApplicationCode\"".len();
    let rest = &text[after_key..];
    let colon = rest.find(|c: char| !c.is_whitespace())?;
    if !rest[colon..].starts_with(':') {
        return None;
    }
    let value_at = after_key + colon + 1;
    let rest = &text[value_at..];
    let start = value_at + rest.find(|c: char| !c.is_whitespace())?;
    if !text[start..].starts_with('"') {
        return None;
    }
    let mut escaped = false;
    let mut end = None;
    for (i, c) in text[start + 1..].char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => {
                end = Some(start + 1 + i + 1);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let literal = serde_json::to_string(code).ok()?;
    Some(format!("{}{literal}{}", &text[..start], &text[end..]))
}

/// The application as it runs now: what Save and run plans new code against.
#[derive(Clone)]
pub struct Running {
    pub app: Application,
    pub schema: RecordSchema,
    pub discovered: bool,
    pub header_line: bool,
    pub references: Vec<Reference>,
    pub input_location: String,
    pub flags: RunFlags,
    /// `rowtime explain`'s text of the running code.
    pub explain: String,
    pub graph: graph::Graph,
}

impl Running {
    /// From an application prepared for `run` (its input may already be taken).
    pub fn of(prepared: &Prepared, flags: &RunFlags) -> Running {
        Running {
            app: prepared.app.clone(),
            schema: prepared.schema.clone(),
            discovered: prepared.discovered,
            header_line: prepared.header_line,
            references: prepared.references.clone(),
            input_location: prepared.input_location.clone(),
            flags: flags.clone(),
            explain: prepared.plan.to_string(),
            graph: graph::Graph::of(&prepared.plan),
        }
    }
}

/// A diagnostic as the page shows it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Problem {
    /// 1-based; 0 when the problem has no place in the code.
    pub line: u64,
    pub column: u64,
    pub width: usize,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    fn of(e: &Error) -> Problem {
        match e {
            Error::Sql(d) => Problem::of_diagnostic(d),
            other => Problem {
                line: 0,
                column: 0,
                width: 1,
                message: other.to_string(),
                help: None,
            },
        }
    }

    fn of_diagnostic(d: &Diagnostic) -> Problem {
        Problem {
            line: d.line,
            column: d.column,
            width: d.width.max(1),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

/// Why Save and run did not change the run.
#[derive(Debug)]
pub enum Refused {
    /// The code does not check: nothing changed.
    Invalid(Vec<Problem>),
    /// The code checks but could not be started (an output cannot be opened, the run has
    /// ended…): nothing changed.
    Failed(String),
    /// Another Save and run is under way.
    Busy,
}

/// The console's shared state.
pub struct Console {
    pub watch: Arc<Watch>,
    /// Needed by every request that changes the application.
    pub token: String,
    pub file: Option<AppFile>,
    running: Mutex<Running>,
    control: Mutex<Option<SyncSender<Control>>>,
    saving: Mutex<()>,
    /// The input has ended (the run goes on only if new code restarts it).
    pub ended: AtomicBool,
    /// The input is a file, read again from its start when new code comes after its end.
    pub rereadable: bool,
    /// How many times the code was replaced.
    pub version: AtomicU64,
    /// What the last Save and run did, for the page.
    pub note: Mutex<String>,
}

impl Console {
    pub fn new(
        running: Running,
        file: Option<AppFile>,
        watch: Arc<Watch>,
        rereadable: bool,
    ) -> Arc<Console> {
        Arc::new(Console {
            rereadable,
            watch,
            token: uuid::Uuid::new_v4().simple().to_string(),
            file,
            running: Mutex::new(running),
            control: Mutex::new(None),
            saving: Mutex::new(()),
            ended: AtomicBool::new(false),
            version: AtomicU64::new(0),
            note: Mutex::new(String::new()),
        })
    }

    pub fn running(&self) -> Running {
        self.running
            .lock()
            .expect("the running lock is never poisoned")
            .clone()
    }

    /// Where Save and run sends the new dataflow (the run loop's control channel).
    pub fn set_control(&self, control: Option<SyncSender<Control>>) {
        *self
            .control
            .lock()
            .expect("the control lock is never poisoned") = control;
    }

    /// Checks `code` as `rowtime check` would, against the running application's input schema
    /// and reference tables.
    pub fn check(&self, code: &str) -> Vec<Problem> {
        let running = self.running();
        let app = with_code(&running.app, code);
        match plan_application(&app, &running.schema, &running.references) {
            Ok(_) => vec![],
            Err(e) => vec![Problem::of(&e)],
        }
    }

    /// Save and run: plans `code`, builds and binds its dataflow, hands it to the run (the
    /// inputs keep flowing, the state starts afresh) and writes the code back to its file.
    /// Blocks: call it off the server's thread.
    pub fn save_and_run(&self, code: &str) -> std::result::Result<String, Refused> {
        let Ok(_one) = self.saving.try_lock() else {
            return Err(Refused::Busy);
        };
        let running = self.running();
        let app = with_code(&running.app, code);
        let plan = plan_application(&app, &running.schema, &running.references)
            .map_err(|e| Refused::Invalid(vec![Problem::of(&e)]))?;
        let restarted = self.ended.load(Ordering::Relaxed);
        let failed = |e: Error| Refused::Failed(e.to_string());
        let loaded = load_tables(&running.references).map_err(failed)?;
        let mut flow: Dataflow = dataflow(&plan, &loaded.tables, loaded.errors).map_err(failed)?;
        let prepared = Prepared {
            app,
            schema: running.schema.clone(),
            references: running.references.clone(),
            plan,
            input: None,
            discovered: running.discovered,
            header_line: running.header_line,
            input_location: running.input_location.clone(),
        };
        let mut flags = running.flags.clone();
        flags.append_outputs = true;
        bind_outputs(&prepared, &mut flow, &flags, None).map_err(failed)?;
        for (name, batch) in &loaded.tables {
            self.watch.table_loaded(name, batch.num_rows());
        }
        flow.observer = Some(self.watch.generation(&prepared.plan, &flow));
        let (done, started) = tokio::sync::oneshot::channel();
        let sent = self
            .control
            .lock()
            .expect("the control lock is never poisoned")
            .as_ref()
            .map(|c| {
                c.send(Control::Replace {
                    dataflow: Box::new(flow),
                    done,
                })
            });
        let not_taken = || {
            Refused::Failed(if self.ended.load(Ordering::Relaxed) && !self.rereadable {
                "the input has ended and cannot be read again (it is not a file), so nothing would flow into the new code. Restart `rowtime console` to run it".into()
            } else {
                "the run ended just as the new code was handed to it; press Save and run again"
                    .into()
            })
        };
        if !matches!(sent, Some(Ok(()))) || wait(started, Duration::from_secs(30)).is_none() {
            return Err(not_taken());
        }
        self.version.fetch_add(1, Ordering::Relaxed);
        self.watch.code_replaced();
        let mut note = format!(
            "The new code runs (version {}): {}; windows, aggregates and joins started empty, as after KDA's UpdateApplication.",
            self.version.load(Ordering::Relaxed),
            if restarted {
                "the input had ended, so it is read again from its start"
            } else {
                "the input keeps flowing into it"
            }
        );
        let written = match &self.file {
            Some(file) => file.write(code).map(|()| file.path().display().to_string()),
            None => Ok(String::new()),
        };
        match written {
            Ok(path) if !path.is_empty() => note.push_str(&format!(" Saved to {path}.")),
            Ok(_) => {}
            Err(e) => note.push_str(&format!(" It could not be saved: {e}")),
        }
        {
            let mut now = self
                .running
                .lock()
                .expect("the running lock is never poisoned");
            *now = Running {
                app: prepared.app.clone(),
                explain: prepared.plan.to_string(),
                graph: graph::Graph::of(&prepared.plan),
                ..now.clone()
            };
        }
        *self.note.lock().expect("the note lock is never poisoned") = note.clone();
        Ok(note)
    }
}

/// Waits for the run to take the new dataflow, on a thread outside any async runtime.
fn wait(started: tokio::sync::oneshot::Receiver<()>, limit: Duration) -> Option<()> {
    let deadline = std::time::Instant::now() + limit;
    let mut started = started;
    loop {
        match started.try_recv() {
            Ok(()) => return Some(()),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return None,
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                if std::time::Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn with_code(app: &Application, code: &str) -> Application {
    Application {
        code: SourceText::new(app.code.name.clone(), code),
        ..app.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_of_a_definition_is_replaced_and_nothing_else() {
        let text = "{\n  \"ApplicationDetail\": {\n    \"ApplicationName\": \"x\",\n    \"ApplicationCode\" : \"SELECT \\\"A\\\"\\nFROM s;\",\n    \"Other\": [1,  2]\n  }\n}\n";
        let out = replace_application_code(text, "CREATE STREAM \"B\" (X INT);\n").unwrap();
        assert_eq!(
            out,
            "{\n  \"ApplicationDetail\": {\n    \"ApplicationName\": \"x\",\n    \"ApplicationCode\" : \"CREATE STREAM \\\"B\\\" (X INT);\\n\",\n    \"Other\": [1,  2]\n  }\n}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value["ApplicationDetail"]["ApplicationCode"],
            "CREATE STREAM \"B\" (X INT);\n"
        );
    }

    #[test]
    fn a_definition_without_code_is_not_rewritten() {
        assert_eq!(
            replace_application_code("{\"ApplicationName\": \"x\"}", "c"),
            None
        );
        assert_eq!(
            replace_application_code("{\"ApplicationCode\": null}", "c"),
            None
        );
    }
}
