//! The catalog: every in-application stream (source streams from the input configuration,
//! streams created by the code, `error_stream`) and every reference table, with their columns.
//! It is also the name resolver DataFusion's SQL planner asks for tables and functions.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::common::TableReference;
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::planner::{ContextProvider, ExprPlanner};
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};

use crate::types::SqlType;

/// The extra column of source streams: when the record reached the source (here: its arrival
/// in rowtime, i.e. its ROWTIME unless a test gives it).
pub const APPROXIMATE_ARRIVAL_TIME: &str = "APPROXIMATE_ARRIVAL_TIME";
/// The name of the system column every stream has.
pub const ROWTIME: &str = "ROWTIME";
/// How an unknown relation name is reported (the planner recognises it).
pub const UNKNOWN_RELATION: &str = "no stream or reference table named";
/// The system error stream's name.
pub const ERROR_STREAM: &str = "error_stream";

/// The Arrow type of ROWTIME.
pub fn rowtime_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Where a stream comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamKind {
    /// Created by the input configuration (`<NamePrefix>_001`): fed by a source.
    Source,
    /// Created by `CREATE STREAM` in the application code: fed by pumps.
    Created,
    /// The system `error_stream`.
    Error,
}

#[derive(Debug, Clone)]
pub struct StreamDef {
    pub name: String,
    pub columns: Vec<(String, SqlType)>,
    pub kind: StreamKind,
}

impl StreamDef {
    /// The stream as a table: its columns, then ROWTIME.
    pub fn table_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(n, t)| Field::new(n, t.arrow_type(), true))
            .collect();
        if self.kind == StreamKind::Source {
            fields.push(Field::new(APPROXIMATE_ARRIVAL_TIME, rowtime_type(), true));
        }
        fields.push(Field::new(ROWTIME, rowtime_type(), false));
        Arc::new(Schema::new(fields))
    }

    /// Where ROWTIME is among the table columns.
    pub fn rowtime_index(&self) -> usize {
        self.columns.len() + usize::from(self.kind == StreamKind::Source)
    }
}

/// The Arrow schema of named, typed columns (all nullable).
pub fn columns_schema(columns: &[(String, SqlType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(n, t.arrow_type(), true))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub schema: SchemaRef,
}

/// Streams and reference tables by exact (case-sensitive) name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub streams: Vec<StreamDef>,
    pub tables: Vec<TableDef>,
}

impl Catalog {
    pub fn stream(&self, name: &str) -> Option<(usize, &StreamDef)> {
        self.streams
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// All relation names, for "did you mean" style help.
    pub fn relation_names(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter(|s| s.kind != StreamKind::Error)
            .map(|s| s.name.clone())
            .chain(self.tables.iter().map(|t| t.name.clone()))
            .collect()
    }
}

/// A table as DataFusion's planner sees it: a name and a schema.
#[derive(Debug)]
struct NamedRelation {
    schema: SchemaRef,
}

impl TableSource for NamedRelation {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Resolves relation and function names for DataFusion's SQL planner.
pub struct Resolver<'a> {
    catalog: &'a Catalog,
    options: ConfigOptions,
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    windows: HashMap<String, Arc<WindowUDF>>,
    planners: Vec<Arc<dyn ExprPlanner>>,
}

impl<'a> Resolver<'a> {
    pub fn new(catalog: &'a Catalog) -> Resolver<'a> {
        let mut scalars: HashMap<String, Arc<ScalarUDF>> = HashMap::new();
        for f in SessionStateDefaults::default_scalar_functions() {
            for alias in f.aliases() {
                scalars.insert(alias.to_lowercase(), Arc::clone(&f));
            }
            scalars.insert(f.name().to_lowercase(), f);
        }
        for name in [
            crate::exec::stream_join::JOIN_ROWTIME,
            crate::functions::CURRENT_ROW_TIMESTAMP,
        ] {
            scalars.insert(
                name.to_string(),
                Arc::new(crate::functions::RowtimeTyped::udf(name)),
            );
        }
        scalars.insert(
            crate::interval::IntervalTimes::NAME.to_string(),
            Arc::new(crate::interval::IntervalTimes::udf()),
        );
        scalars.insert(
            crate::extract::ExtractSecond::NAME.to_string(),
            Arc::new(crate::extract::ExtractSecond::udf()),
        );
        scalars.insert(
            crate::overlay::Overlay::NAME.to_string(),
            Arc::new(crate::overlay::Overlay::udf()),
        );
        scalars.insert(
            crate::cast::CastText::NAME.to_string(),
            Arc::new(crate::cast::CastText::udf()),
        );
        scalars.insert(
            crate::regex_replace::RegexReplace::NAME.to_string(),
            Arc::new(crate::regex_replace::RegexReplace::udf()),
        );
        for f in crate::log_parse::LogParse::all() {
            scalars.insert(f.name().to_string(), Arc::new(f));
        }
        for f in crate::substring::Substring::all() {
            scalars.insert(f.name().to_string(), Arc::new(f));
        }
        for f in crate::date_format::DateFormatFunction::all() {
            scalars.insert(f.name().to_string(), Arc::new(f));
        }
        let mut aggregates = HashMap::new();
        for f in SessionStateDefaults::default_aggregate_functions() {
            for alias in f.aliases() {
                aggregates.insert(alias.to_lowercase(), Arc::clone(&f));
            }
            aggregates.insert(f.name().to_lowercase(), f);
        }
        let exp_avg = Arc::new(crate::functions::ExpAvg::udaf());
        aggregates.insert(exp_avg.name().to_string(), exp_avg);
        let mut windows = HashMap::new();
        for f in SessionStateDefaults::default_window_functions() {
            for alias in f.aliases() {
                windows.insert(alias.to_lowercase(), Arc::clone(&f));
            }
            windows.insert(f.name().to_lowercase(), f);
        }
        let mut options = ConfigOptions::new();
        options.sql_parser.enable_ident_normalization = false;
        options.sql_parser.collect_spans = true;
        options.sql_parser.map_string_types_to_utf8view = false;
        Resolver {
            catalog,
            options,
            scalars,
            aggregates,
            windows,
            planners: SessionStateDefaults::default_expr_planners(),
        }
    }

    pub fn options(&self) -> &ConfigOptions {
        &self.options
    }
}

impl ContextProvider for Resolver<'_> {
    fn get_table_source(&self, name: TableReference) -> DfResult<Arc<dyn TableSource>> {
        let table = name.table();
        if let Some((_, s)) = self.catalog.stream(table) {
            if s.kind == StreamKind::Error {
                return Err(DataFusionError::Plan(
                    "error_stream cannot be read by application code; configure it as an output instead".into(),
                ));
            }
            return Ok(Arc::new(NamedRelation {
                schema: s.table_schema(),
            }));
        }
        if let Some(t) = self.catalog.table(table) {
            return Ok(Arc::new(NamedRelation {
                schema: Arc::clone(&t.schema),
            }));
        }
        let mut known = self.catalog.relation_names();
        known.sort();
        let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(table)) {
            Some(k) => format!("; names are case-sensitive when quoted: did you mean \"{k}\"?"),
            None => format!("; known streams and tables: {}", known.join(", ")),
        };
        Err(DataFusionError::Plan(format!(
            "{UNKNOWN_RELATION} `{table}`{hint}"
        )))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.planners
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.scalars.get(&name.to_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_lowercase()).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.windows.get(&name.to_lowercase()).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn get_variable_field(&self, _variable_names: &[String]) -> Option<FieldRef> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.scalars.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        vec![]
    }

    fn udaf_names(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.windows.keys().cloned().collect()
    }
}
