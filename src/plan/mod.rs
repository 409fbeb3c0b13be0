//! The planner: application statements + catalog → a [`Plan`]: each pump a chain of operator
//! specs per input, joined when it reads two streams (no tokio, no threads).
//!
//! Each pump's query is rewritten for KDA's rules (`rewrite.rs`), planned by DataFusion's SQL
//! planner into a `LogicalPlan`, type-checked by DataFusion's analyzer (`pump.rs`), and then
//! lowered node by node into streaming operators (`lower.rs`, `window.rs`, `join.rs`). Anything
//! that has no streaming meaning is rejected here, with its location and what to do instead.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Plan`], [`PumpPlan`], [`OperatorSpec`] (build, `explain`), [`plan`]: the statement loop, streams, cycles |
//! | `resolver.rs` | DataFusion's `ContextProvider`: relations from the catalog, functions from `functions/` |
//! | `rewrite.rs` | syntax-tree passes before DataFusion, in the order they run |
//! | `pump.rs` | one pump: SQL → `LogicalPlan` → operators; `INSERT` checks; DataFusion errors as diagnostics |
//! | `lower.rs` | lowering plan nodes: scans, projection, filter, DISTINCT |
//! | `monotonic.rs` | which expressions are monotonic keys, and their windows |
//! | `window.rs` | tumbling, stagger and sliding windows |
//! | `join.rs` | joins with reference tables and between streams |
//! | `order.rs` | streaming `ORDER BY`, T-sort (`ORDER BY … WITHIN`), `GROUP_RANK` |
//! | `machine_learning.rs` | `RANDOM_CUT_FOREST`, its explanation form and `HOTSPOTS`: their columns typed, their operator placed |
//!
//! Shape to imitate: `window.rs` (small named functions recognise a form; anything else is
//! rejected with what to write instead). Tests: `cargo test --lib plan`, and the test files.

mod join;
mod lower;
mod monotonic;
mod order;
mod machine_learning;
mod pump;
pub mod resolver;
pub mod rewrite;
mod window;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::tokenizer::Location;

use crate::catalog::{Catalog, ERROR_STREAM, StreamDef, StreamKind};
use crate::dialect::{AppStatement, CreateFunction, CreateStream};
use crate::error::{Error, Result, SourceText};
use crate::exec::Operator;
use crate::exec::distinct::{Distinct, DistinctSpec};
use crate::exec::filter::{Filter, FilterSpec};
use crate::exec::group_rank::{GroupRank, GroupRankSpec};
use crate::exec::hotspots::{Hotspots, HotspotsSpec};
use crate::exec::insert::{Insert, InsertSpec};
use crate::exec::lookup_join::{LookupJoin, LookupJoinSpec};
use crate::exec::order_by::{OrderBy, OrderBySpec};
use crate::exec::project::{Project, ProjectSpec};
use crate::exec::random_cut_forest::{RandomCutForest, RandomCutForestSpec};
use crate::exec::sliding::{Sliding, SlidingSpec};
use crate::exec::stagger::{Stagger, StaggerSpec};
use crate::exec::stream_join::StreamJoinSpec;
use crate::exec::tsort::{TSort, TSortSpec};
use crate::exec::tumbling::{Tumbling, TumblingSpec};
use crate::types::SqlType;

/// One stage of a pump.
#[derive(Debug, Clone)]
pub enum OperatorSpec {
    Filter(Arc<FilterSpec>),
    Project(Arc<ProjectSpec>),
    Tumbling(Arc<TumblingSpec>),
    LookupJoin(Arc<LookupJoinSpec>),
    Insert(Arc<InsertSpec>),
    Sliding(Arc<SlidingSpec>),
    Stagger(Arc<StaggerSpec>),
    Distinct(Arc<DistinctSpec>),
    OrderBy(Arc<OrderBySpec>),
    TSort(Arc<TSortSpec>),
    GroupRank(Arc<GroupRankSpec>),
    RandomCutForest(Arc<RandomCutForestSpec>),
    Hotspots(Arc<HotspotsSpec>),
}

impl OperatorSpec {
    /// Builds the running operator; `tables` holds the loaded reference tables by name.
    pub fn build(&self, tables: &HashMap<String, RecordBatch>) -> Result<Box<dyn Operator>> {
        Ok(match self {
            OperatorSpec::Filter(s) => Box::new(Filter::new(Arc::clone(s))),
            OperatorSpec::Project(s) => Box::new(Project::new(Arc::clone(s))),
            OperatorSpec::Tumbling(s) => Box::new(Tumbling::new(Arc::clone(s))?),
            OperatorSpec::LookupJoin(s) => {
                let table = match &s.rows {
                    Some(rows) => rows,
                    None => tables.get(&s.table).ok_or_else(|| {
                        Error::Application(format!("reference table {} was not loaded", s.table))
                    })?,
                };
                Box::new(LookupJoin::new(Arc::clone(s), table.clone())?)
            }
            OperatorSpec::Insert(s) => Box::new(Insert::new(Arc::clone(s))),
            OperatorSpec::Sliding(s) => Box::new(Sliding::new(Arc::clone(s))),
            OperatorSpec::Stagger(s) => Box::new(Stagger::new(Arc::clone(s))?),
            OperatorSpec::Distinct(s) => Box::new(Distinct::new(s)?),
            OperatorSpec::OrderBy(s) => Box::new(OrderBy::new(Arc::clone(s))?),
            OperatorSpec::TSort(s) => Box::new(TSort::new(Arc::clone(s))),
            OperatorSpec::GroupRank(s) => Box::new(GroupRank::new(Arc::clone(s))?),
            OperatorSpec::RandomCutForest(s) => Box::new(RandomCutForest::new(Arc::clone(s))),
            OperatorSpec::Hotspots(s) => Box::new(Hotspots::new(Arc::clone(s))),
        })
    }
}

impl fmt::Display for OperatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorSpec::Filter(s) => s.fmt(f),
            OperatorSpec::Project(s) => s.fmt(f),
            OperatorSpec::Tumbling(s) => s.fmt(f),
            OperatorSpec::LookupJoin(s) => s.fmt(f),
            OperatorSpec::Insert(s) => s.fmt(f),
            OperatorSpec::Sliding(s) => s.fmt(f),
            OperatorSpec::Stagger(s) => s.fmt(f),
            OperatorSpec::Distinct(s) => s.fmt(f),
            OperatorSpec::OrderBy(s) => s.fmt(f),
            OperatorSpec::TSort(s) => s.fmt(f),
            OperatorSpec::GroupRank(s) => s.fmt(f),
            OperatorSpec::RandomCutForest(s) => s.fmt(f),
            OperatorSpec::Hotspots(s) => s.fmt(f),
        }
    }
}

/// A planned pump: reads one stream (or two, joined), runs its stages, writes one stream.
#[derive(Debug, Clone)]
pub struct PumpPlan {
    pub name: String,
    /// The name in the CREATE PUMP statement (branches of a UNION ALL share it).
    pub statement: String,
    /// The streams it reads, each with the stages that run on that input alone.
    pub inputs: Vec<PumpInput>,
    /// With two inputs: the stream-to-stream join that combines them.
    pub join: Option<Arc<StreamJoinSpec>>,
    pub target: usize,
    /// The stages after the join (or after the only input's own stages).
    pub ops: Vec<OperatorSpec>,
}

/// One stream a pump reads, and the stages that run on its rows before they meet the other input.
#[derive(Debug, Clone)]
pub struct PumpInput {
    pub source: usize,
    pub ops: Vec<OperatorSpec>,
}

impl PumpPlan {
    /// Whether the pump reads `stream`.
    pub fn reads(&self, stream: usize) -> bool {
        self.inputs.iter().any(|i| i.source == stream)
    }
}

/// The application's dataflow.
#[derive(Debug, Clone)]
pub struct Plan {
    pub catalog: Catalog,
    pub pumps: Vec<PumpPlan>,
}

impl Plan {
    /// Whether a pump that writes `stream` aggregates over a window (tumbling or stagger): its
    /// rows come in one batch per window emission.
    pub fn fed_by_window(&self, stream: usize) -> bool {
        self.pumps.iter().filter(|p| p.target == stream).any(|p| {
            p.ops
                .iter()
                .any(|op| matches!(op, OperatorSpec::Tumbling(_) | OperatorSpec::Stagger(_)))
        })
    }

    /// Pumps in an order where every pump comes after the pumps that write its source.
    pub fn pump_order(&self) -> Vec<usize> {
        let mut order = Vec::new();
        let mut done = vec![false; self.pumps.len()];
        while order.len() < self.pumps.len() {
            for (i, p) in self.pumps.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let waiting = self
                    .pumps
                    .iter()
                    .enumerate()
                    .any(|(j, q)| !done[j] && j != i && p.reads(q.target));
                if !waiting {
                    done[i] = true;
                    order.push(i);
                }
            }
        }
        order
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = |cols: &[(String, SqlType)]| {
            cols.iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for s in &self.catalog.streams {
            let kind = match s.kind {
                StreamKind::Source => "source stream",
                StreamKind::Created => "stream",
                StreamKind::Error => "error stream",
            };
            writeln!(
                f,
                "{kind} {} ({}, ROWTIME TIMESTAMP)",
                s.name,
                columns(&s.columns)
            )?;
        }
        for t in &self.catalog.tables {
            let cols: Vec<String> = t
                .schema
                .fields()
                .iter()
                .map(|c| {
                    let ty = SqlType::from_arrow(c.data_type())
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| c.data_type().to_string());
                    format!("{} {ty}", c.name())
                })
                .collect();
            writeln!(f, "reference table {} ({})", t.name, cols.join(", "))?;
        }
        for p in &self.pumps {
            let sources: Vec<&str> = p
                .inputs
                .iter()
                .map(|i| self.catalog.streams[i.source].name.as_str())
                .collect();
            writeln!(
                f,
                "pump {}: {} -> {}",
                p.name,
                sources.join(" + "),
                self.catalog.streams[p.target].name
            )?;
            let mut step = 0;
            for ((input, side), name) in p.inputs.iter().zip(["left", "right"]).zip(&sources) {
                for op in &input.ops {
                    step += 1;
                    writeln!(f, "  {step}. [{side} input {name}] {op}")?;
                }
            }
            if let Some(join) = &p.join {
                step += 1;
                writeln!(f, "  {step}. {join}")?;
            }
            for op in &p.ops {
                step += 1;
                writeln!(f, "  {step}. {op}")?;
            }
        }
        Ok(())
    }
}

/// Plans application code against a catalog that already holds the source streams,
/// error_stream and the reference tables.
pub fn plan(src: &SourceText, statements: &[AppStatement], mut catalog: Catalog) -> Result<Plan> {
    let mut pumps: Vec<PumpPlan> = Vec::new();
    let mut pump_names: Vec<&str> = Vec::new();
    let mut functions: Vec<CreateFunction> = Vec::new();
    for statement in statements {
        match statement {
            AppStatement::CreateStream(s) => create_stream(src, s, &mut catalog, &pumps)?,
            AppStatement::CreateFunction(f) => {
                if let Some(i) = functions.iter().position(|g| g.name == f.name) {
                    if !f.or_replace {
                        return Err(src
                            .error_at(f.at, format!("function `{}` is created twice", f.name))
                            .with_help("use CREATE OR REPLACE FUNCTION to replace it, or give it another name")
                            .into_error());
                    }
                    functions.remove(i);
                }
                functions.push((**f).clone());
            }
            AppStatement::CreatePump(p) => {
                if pump_names.contains(&p.name.as_str()) {
                    if !p.or_replace {
                        return Err(src
                            .error_at(p.at, format!("pump `{}` is created twice", p.name))
                            .with_help(
                                "use CREATE OR REPLACE PUMP to replace it, or give it another name",
                            )
                            .into_error());
                    }
                    pumps.retain(|x| x.statement != p.name);
                }
                match order::split_sorted_union(src, p, &catalog, &functions)? {
                    Some(split) => {
                        // A pump replaced by CREATE OR REPLACE leaves its union's stream behind.
                        match catalog.stream(&split.stream.name) {
                            Some((i, _)) => catalog.streams[i] = split.stream,
                            None => catalog.streams.push(split.stream),
                        }
                        pumps.extend(pump::plan_pump(src, &split.union, &catalog, &functions)?);
                        pumps.extend(pump::plan_pump(src, &split.sort, &catalog, &functions)?);
                    }
                    None => pumps.extend(pump::plan_pump(src, p, &catalog, &functions)?),
                }
                pump_names.push(&p.name);
            }
        }
    }
    let plan = Plan { catalog, pumps };
    check_cycles(src, statements, &plan)?;
    Ok(plan)
}

fn create_stream(
    src: &SourceText,
    s: &CreateStream,
    catalog: &mut Catalog,
    pumps: &[PumpPlan],
) -> Result<()> {
    if s.name.eq_ignore_ascii_case(ERROR_STREAM) {
        return Err(src
            .error_at(
                s.at,
                "`error_stream` is the system error stream and cannot be created",
            )
            .with_help("choose another name")
            .into_error());
    }
    if catalog.table(&s.name).is_some() {
        return Err(src
            .error_at(s.at, format!("`{}` is already a reference table", s.name))
            .into_error());
    }
    if s.columns.iter().any(|c| c.not_null) {
        let flags = s.columns.iter().map(|c| c.not_null).collect();
        catalog.not_null.insert(s.name.clone(), flags);
    } else {
        catalog.not_null.remove(&s.name);
    }
    let def = StreamDef {
        name: s.name.clone(),
        columns: s
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type))
            .collect(),
        kind: StreamKind::Created,
    };
    match catalog.stream(&s.name) {
        Some((_, existing)) if existing.kind == StreamKind::Source => Err(src
            .error_at(
                s.at,
                format!(
                    "`{}` is a source stream created by the input configuration",
                    s.name
                ),
            )
            .with_help("choose another name for the stream")
            .into_error()),
        Some((i, _)) => {
            if pumps.iter().any(|p| p.reads(i) || p.target == i) {
                return Err(src
                    .error_at(
                        s.at,
                        format!("stream `{}` is redefined after a pump uses it", s.name),
                    )
                    .with_help("define each stream once, before the pumps that use it")
                    .into_error());
            }
            catalog.streams[i] = def;
            Ok(())
        }
        None => {
            catalog.streams.push(def);
            Ok(())
        }
    }
}

fn check_cycles(src: &SourceText, statements: &[AppStatement], plan: &Plan) -> Result<()> {
    // A pump that (through other pumps) feeds its own source would never settle.
    for (i, p) in plan.pumps.iter().enumerate() {
        let mut reach = vec![p.target];
        let mut seen = vec![false; plan.catalog.streams.len()];
        while let Some(s) = reach.pop() {
            if p.reads(s) {
                let at = statements
                    .iter()
                    .find_map(|st| match st {
                        AppStatement::CreatePump(cp) if cp.name == plan.pumps[i].name => {
                            Some(cp.at)
                        }
                        _ => None,
                    })
                    .unwrap_or(Location { line: 0, column: 0 });
                return Err(src
                    .error_at(
                        at,
                        format!(
                            "pump `{}` feeds its own source stream `{}` (a cycle)",
                            p.name, plan.catalog.streams[s].name
                        ),
                    )
                    .with_help("pumps must form a chain: write into a new stream")
                    .into_error());
            }
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            reach.extend(plan.pumps.iter().filter(|q| q.reads(s)).map(|q| q.target));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;

    fn two_inputs(code: &str) -> TestApp {
        TestApp::new("union.sql", code)
            .input("A", "K VARCHAR(4), N INTEGER")
            .unwrap()
            .input("B", "K VARCHAR(4), N INTEGER")
            .unwrap()
    }

    #[test]
    fn a_repeated_group_by_key_is_one_key() {
        // DataFusion keeps one output column per distinct GROUP BY expression (`K` and `A.K`
        // are one): the repeat once gave the window's group table a column of another type, and
        // a panic at the first row (found by the sql fuzzer: tests/fuzz/sql/).
        let mut app = two_inputs(
            "CREATE STREAM T (K VARCHAR(4), W TIMESTAMP, C BIGINT);
             CREATE PUMP PT AS INSERT INTO T
             SELECT STREAM K, STEP(A.ROWTIME BY INTERVAL '1' MINUTE), COUNT(*) FROM A
             GROUP BY K, STEP(A.ROWTIME BY INTERVAL '1' MINUTE), A.K;
             CREATE STREAM G (K VARCHAR(4), C BIGINT);
             CREATE PUMP PG AS INSERT INTO G
             SELECT STREAM K, COUNT(*) FROM A
             WINDOWED BY STAGGER (PARTITION BY K, A.K, K RANGE INTERVAL '1' MINUTE);",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:01 | a | 1\n2020-01-01 00:00:02 | b | 2\n2020-01-01 00:00:30 | a | 3",
        )
        .unwrap();
        app.end().unwrap();
        assert_eq!(
            app.read_table("T").unwrap(),
            "ROWTIME                 | K | W                       | C\n\
             2020-01-01 00:01:00.000 | a | 2020-01-01 00:00:00.000 | 2\n\
             2020-01-01 00:01:00.000 | b | 2020-01-01 00:00:00.000 | 1\n"
        );
        assert_eq!(
            app.read_table("G").unwrap(),
            "ROWTIME                 | K | C\n\
             2020-01-01 00:01:01.000 | a | 2\n\
             2020-01-01 00:01:02.000 | b | 1\n"
        );
    }

    #[test]
    fn explain_writes_intervals_the_sql_way() {
        assert_eq!(
            super::lower::shown(
                "date_bin(IntervalMonthDayNano(\"IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 1800000000000 }\"), S.ROWTIME)"
            ),
            "date_bin(INTERVAL '30' MINUTE, S.ROWTIME)"
        );
        assert_eq!(
            super::lower::shown(
                "x + IntervalMonthDayNano(\"IntervalMonthDayNano { months: 0, days: 2, nanoseconds: 0 }\")"
            ),
            "x + INTERVAL '2' DAY"
        );
        assert_eq!(super::lower::shown("no interval"), "no interval");
    }

    #[test]
    fn union_all_merges_its_branches_in_rowtime_order() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM K, N FROM A UNION ALL SELECT STREAM K, N * 10 FROM B;",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:01 | a | 1\n2020-01-01 00:00:03 | a | 3",
        )
        .unwrap();
        // B has not moved yet: nothing can be released without risking an out-of-order row.
        assert_eq!(app.read_rows("OUT").unwrap().1.len(), 0);
        app.push_table("B", "ROWTIME | K | N\n2020-01-01 00:00:02 | b | 2")
            .unwrap();
        app.end().unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K | N\n2020-01-01 00:00:01.000 | a | 1\n2020-01-01 00:00:02.000 | b | 20\n2020-01-01 00:00:03.000 | a | 3\n"
        );
        let plan = app.plan().unwrap().to_string();
        assert!(
            plan.contains("pump P (UNION ALL branch 1): A -> OUT"),
            "{plan}"
        );
        assert!(
            plan.contains("pump P (UNION ALL branch 2): B -> OUT"),
            "{plan}"
        );
    }

    #[test]
    fn coalesce_and_other_simplified_functions_run() {
        // DataFusion plans COALESCE only after its simplifier rewrote it into CASE.
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM COALESCE(K, 'none'), NULLIF(N, 0) FROM A;",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:01 | NULL | 0\n2020-01-01 00:00:02 | a | 2",
        )
        .unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K    | N\n2020-01-01 00:00:01.000 | none | NULL\n2020-01-01 00:00:02.000 | a    | 2\n"
        );
    }

    #[test]
    fn ceil_to_unit_and_current_row_timestamp() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), UP TIMESTAMP, WEEK_UP TIMESTAMP, CLOCK TIMESTAMP);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM K, CEIL(ROWTIME TO HOUR), CEIL(ROWTIME TO WEEK), CURRENT_ROW_TIMESTAMP FROM A;",
        );
        let before = chrono::Utc::now().naive_utc();
        // 2020-01-06 is a Monday: a week starts there, so CEIL leaves it alone.
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 10:20:00 | a | 1\n2020-01-06 00:00:00 | b | 2",
        )
        .unwrap();
        let after = chrono::Utc::now().naive_utc();
        let (_, rows) = app.read_rows("OUT").unwrap();
        // Rows read back start with ROWTIME.
        assert_eq!(
            &rows[0][2..4],
            ["2020-01-01 11:00:00.000", "2020-01-06 00:00:00.000"]
        );
        assert_eq!(
            &rows[1][2..4],
            ["2020-01-06 00:00:00.000", "2020-01-06 00:00:00.000"]
        );
        for row in &rows {
            let clock =
                chrono::NaiveDateTime::parse_from_str(&row[4], "%Y-%m-%d %H:%M:%S%.3f").unwrap();
            // Millisecond precision: allow the truncation of `before`.
            assert!(
                clock >= before - chrono::Duration::milliseconds(1) && clock <= after,
                "{row:?}"
            );
        }
    }

    #[test]
    fn create_or_replace_pump_replaces_the_earlier_pump() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE OR REPLACE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A;
             CREATE OR REPLACE PUMP P AS INSERT INTO OUT SELECT STREAM K, N * 2 FROM A;",
        );
        app.push_table("A", "ROWTIME | K | N\n2020-01-01 00:00:01 | a | 1")
            .unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K | N\n2020-01-01 00:00:01.000 | a | 2\n"
        );
    }

    #[test]
    fn a_pump_name_is_used_once_and_union_only_at_the_top() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A UNION ALL SELECT STREAM K, N FROM B;
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A;",
        );
        let err = app.start().expect_err("rejected").to_string();
        assert!(
            err.contains("pump `P` is created twice") && err.contains("CREATE OR REPLACE PUMP"),
            "{err}"
        );
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N BIGINT);
             CREATE PUMP Q AS INSERT INTO OUT
             SELECT STREAM K, COUNT(*) FROM (SELECT STREAM ROWTIME, K FROM A UNION ALL SELECT STREAM ROWTIME, K FROM B) AS u
             GROUP BY K, STEP(u.ROWTIME BY INTERVAL '1' MINUTE);",
        );
        let err = app.start().expect_err("rejected").to_string();
        assert!(
            err.contains("a UNION ALL under an aggregate, a window or a join is not supported"),
            "{err}"
        );
    }
}
