//! The name resolver DataFusion's SQL planner asks for tables and functions: relations come from
//! the [`Catalog`], functions from `functions/` (DataFusion's and KDA's).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::common::TableReference;
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::planner::{ContextProvider, ExprPlanner};
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};
use datafusion::sql::planner::ParserOptions;

use crate::catalog::{Catalog, StreamKind};
use crate::functions::{aggregate_udfs, scalar_udfs, window_udfs};

/// The start of the message for a pump that reads `error_stream` (the planner recognises it).
pub const ERROR_STREAM_UNREADABLE: &str = "error_stream cannot be read by application code";

/// How an unknown relation is reported (the planner recognises it).
pub const UNKNOWN_RELATION: &str = "no stream or reference table named";

/// DataFusion's SQL options for KDA: no identifier normalization (KDA folds unquoted names to
/// upper case itself), spans for diagnostics, strings as `Utf8`.
pub fn parser_options() -> ParserOptions {
    let mut options = ParserOptions::new();
    options.enable_ident_normalization = false;
    options.collect_spans = true;
    options.map_string_types_to_utf8view = false;
    options
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
        /// By lower-case name and alias; a later function of the same name wins.
        fn by_name<F: ?Sized>(
            functions: Vec<Arc<F>>,
            name: impl Fn(&F) -> (&str, &[String]),
        ) -> HashMap<String, Arc<F>> {
            let mut map = HashMap::new();
            for f in functions {
                let (n, aliases) = name(&f);
                for alias in aliases {
                    map.insert(alias.to_lowercase(), Arc::clone(&f));
                }
                map.insert(n.to_lowercase(), f);
            }
            map
        }
        let mut scalars = scalar_udfs();
        scalars.extend(super::machine_learning::stand_ins());
        let scalars = by_name(scalars, |f: &ScalarUDF| (f.name(), f.aliases()));
        let aggregates = by_name(aggregate_udfs(), |f: &AggregateUDF| (f.name(), f.aliases()));
        let windows = by_name(window_udfs(), |f: &WindowUDF| (f.name(), f.aliases()));
        let mut options = ConfigOptions::new();
        let sql = parser_options();
        options.sql_parser.enable_ident_normalization = sql.enable_ident_normalization;
        options.sql_parser.collect_spans = sql.collect_spans;
        options.sql_parser.map_string_types_to_utf8view = sql.map_string_types_to_utf8view;
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
                return Err(DataFusionError::Plan(format!(
                    "{ERROR_STREAM_UNREADABLE}; send it to a destination instead: --output error_stream=PATH, or an output of the definition named error_stream"
                )));
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
