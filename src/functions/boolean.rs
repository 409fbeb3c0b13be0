//! KDA's boolean aggregates (KDA SQL reference `sql-reference-boolean-functions.html`):
//! `ANY(b)` is TRUE when some row's `b` is TRUE, `EVERY(b)` when every row's is; NULLs are
//! ignored, and a group of only NULLs gives NULL. They are DataFusion's `bool_or` and `bool_and`.

/// DataFusion's name for KDA's boolean aggregate `name`, if it is one.
pub fn aggregate_name(name: &str) -> Option<&'static str> {
    match name {
        "ANY" => Some("bool_or"),
        "EVERY" => Some("bool_and"),
        _ => None,
    }
}
