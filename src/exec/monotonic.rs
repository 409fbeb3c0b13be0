//! Monotonic keys: how the rows of a stream fall into the groups of a monotonic expression, for
//! the operators that finish a group when that expression moves on (a tumbling `GROUP BY`,
//! `SELECT STREAM DISTINCT`, a streaming `ORDER BY`).
//!
//! KDA knows that ROWTIME only goes up, and so do `STEP`, `FLOOR` and `CEIL` of it, and it plus
//! or minus an interval (SQLREF sql-reference-monotonic-expressions-operators.html);
//! `MONOTONIC(x)` asserts that any other expression does (sql-reference-monotonic.html). A group
//! is complete when the expression changes value ("it is not the value of the grouping
//! expression that determines row completion, it's when that expression changes value",
//! sql-reference-select-all-distinct.html):
//!
//! - For a step function of ROWTIME ([`Steps`]) that moment follows from ROWTIME alone: a group
//!   is a window of ROWTIMEs ([`Span`]), complete once the ROWTIME bound has passed its last
//!   millisecond. Its output rows get the window's end as their ROWTIME: the first millisecond
//!   after a `[start, end)` window (FLOOR, STEP: "the earliest time that row is complete"), or the
//!   last millisecond of a window that includes its end (CEIL, a bare ROWTIME).
//! - For a declared expression ([`MonotonicKey::Declared`]) only a row with another value, or
//!   the end of the input, finishes a group; its output rows get the ROWTIME of its last row.

use std::fmt;

use crate::time::{MS_PER_DAY, WindowWidth};

/// How rows fall into groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonotonicKey {
    /// A step function of ROWTIME.
    Rowtime(Steps),
    /// `MONOTONIC(x)` of an expression that is not a function of ROWTIME: a group is a run of
    /// consecutive rows with equal values (NULL equal to NULL).
    Declared,
}

impl fmt::Display for MonotonicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonotonicKey::Rowtime(s) => s.fmt(f),
            MonotonicKey::Declared => write!(f, "runs of equal values"),
        }
    }
}

/// The windows of a step function of ROWTIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub kind: StepKind,
    /// The window boundaries are the width's own (multiples of it after the epoch, or month
    /// starts) moved by this many milliseconds: `FLOOR(ROWTIME + INTERVAL '30' SECOND TO
    /// MINUTE)` has windows from second 30 of each minute, a shift of -30 s.
    pub shift: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `[start, end)`: `FLOOR`, `STEP`, `CAST(… AS DATE)`.
    Floor(WindowWidth),
    /// `(start, end]`: `CEIL`.
    Ceil(WindowWidth),
    /// One ROWTIME: ROWTIME itself, or plus or minus an interval.
    Point,
}

/// One window of ROWTIMEs: `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: i64,
    pub last: i64,
}

impl Span {
    pub fn contains(&self, t: i64) -> bool {
        self.first <= t && t <= self.last
    }

    /// Whether no row with a ROWTIME at or after `bound` can fall in the window.
    pub fn complete_at(&self, bound: i64) -> bool {
        bound > self.last
    }
}

impl Steps {
    /// A window per ROWTIME.
    pub const POINT: Steps = Steps {
        kind: StepKind::Point,
        shift: 0,
    };

    /// The window that holds ROWTIME `t`.
    pub fn span(&self, t: i64) -> Span {
        let u = t.saturating_sub(self.shift);
        let (first, last) = match self.kind {
            StepKind::Point => (u, u),
            StepKind::Floor(w) => {
                let start = w.floor(u);
                (start, w.end(start).saturating_sub(1))
            }
            StepKind::Ceil(w) => {
                let start = w.floor(u);
                if start == u {
                    // On a boundary: the window that ends here.
                    (previous(w, start).saturating_add(1), u)
                } else {
                    (start.saturating_add(1), w.end(start))
                }
            }
        };
        Span {
            first: first.saturating_add(self.shift),
            last: last.saturating_add(self.shift),
        }
    }

    /// The ROWTIME of a window's output rows: its end (see the module doc).
    pub fn stamp(&self, span: &Span) -> i64 {
        match self.kind {
            StepKind::Floor(_) => span.last.saturating_add(1),
            StepKind::Ceil(_) | StepKind::Point => span.last,
        }
    }
}

/// The start of the window before the one that starts at `start`.
fn previous(w: WindowWidth, start: i64) -> i64 {
    match w {
        WindowWidth::Millis(ms) => start.saturating_sub(ms),
        WindowWidth::Months(_) => w.floor(start.saturating_sub(1)),
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StepKind::Floor(w) => write!(f, "{w}")?,
            StepKind::Ceil(w) => write!(f, "{w}, each ending at and including its end (CEIL)")?,
            StepKind::Point => write!(f, "one ROWTIME")?,
        }
        let shift = match self.kind {
            // Weeks start on Mondays (1970-01-05), which is no shift worth showing.
            StepKind::Floor(WindowWidth::Millis(w)) | StepKind::Ceil(WindowWidth::Millis(w))
                if w == 7 * MS_PER_DAY =>
            {
                (self.shift - 4 * MS_PER_DAY).rem_euclid(w)
            }
            StepKind::Floor(WindowWidth::Millis(w)) | StepKind::Ceil(WindowWidth::Millis(w)) => {
                self.shift.rem_euclid(w)
            }
            StepKind::Point => 0,
            _ => self.shift,
        };
        if shift != 0 {
            write!(f, ", shifted by {}", WindowWidth::Millis(shift))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_util::ts;

    fn span(steps: Steps, t: &str) -> (String, String, String) {
        let s = steps.span(ts(t));
        let text = crate::time::timestamp_text;
        (text(s.first), text(s.last), text(steps.stamp(&s)))
    }

    fn owned(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn floor_windows_end_at_the_next_start() {
        let minute = Steps {
            kind: StepKind::Floor(WindowWidth::Millis(60_000)),
            shift: 0,
        };
        assert_eq!(
            span(minute, "2024-01-01 10:00:59.999"),
            owned(
                "2024-01-01 10:00:00.000",
                "2024-01-01 10:00:59.999",
                "2024-01-01 10:01:00.000"
            )
        );
        // FLOOR(ROWTIME + INTERVAL '30' SECOND TO MINUTE): windows from second 30.
        let shifted = Steps {
            shift: -30_000,
            ..minute
        };
        assert_eq!(
            span(shifted, "2024-01-01 10:00:29.000"),
            owned(
                "2024-01-01 09:59:30.000",
                "2024-01-01 10:00:29.999",
                "2024-01-01 10:00:30.000"
            )
        );
        let month = Steps {
            kind: StepKind::Floor(WindowWidth::Months(1)),
            shift: 0,
        };
        assert_eq!(
            span(month, "2024-02-29 23:00:00"),
            owned(
                "2024-02-01 00:00:00.000",
                "2024-02-29 23:59:59.999",
                "2024-03-01 00:00:00.000"
            )
        );
    }

    #[test]
    fn ceil_windows_include_their_end() {
        let minute = Steps {
            kind: StepKind::Ceil(WindowWidth::Millis(60_000)),
            shift: 0,
        };
        // SQLREF's example: 22:49:10 and 22:49:15 come out at 22:50:00, as with FLOOR.
        assert_eq!(
            span(minute, "2024-01-01 22:49:10"),
            owned(
                "2024-01-01 22:49:00.001",
                "2024-01-01 22:50:00.000",
                "2024-01-01 22:50:00.000"
            )
        );
        // A row at exactly 22:50:00 is in the same window: CEIL gives 22:50:00 too.
        assert_eq!(
            span(minute, "2024-01-01 22:50:00"),
            owned(
                "2024-01-01 22:49:00.001",
                "2024-01-01 22:50:00.000",
                "2024-01-01 22:50:00.000"
            )
        );
        let month = Steps {
            kind: StepKind::Ceil(WindowWidth::Months(1)),
            shift: 0,
        };
        assert_eq!(
            span(month, "2024-03-01 00:00:00"),
            owned(
                "2024-02-01 00:00:00.001",
                "2024-03-01 00:00:00.000",
                "2024-03-01 00:00:00.000"
            )
        );
    }

    #[test]
    fn a_point_is_one_rowtime() {
        assert_eq!(
            span(Steps::POINT, "2024-01-01 10:00:00.123"),
            owned(
                "2024-01-01 10:00:00.123",
                "2024-01-01 10:00:00.123",
                "2024-01-01 10:00:00.123"
            )
        );
        let s = Steps::POINT.span(5);
        assert!(!s.complete_at(5) && s.complete_at(6));
    }

    #[test]
    fn windows_print_their_width_and_shift() {
        let week = Steps {
            kind: StepKind::Floor(WindowWidth::Millis(7 * MS_PER_DAY)),
            shift: 4 * MS_PER_DAY,
        };
        assert_eq!(week.to_string(), "7 day(s)");
        let shifted = Steps {
            kind: StepKind::Floor(WindowWidth::Millis(60_000)),
            shift: -30_000,
        };
        assert_eq!(shifted.to_string(), "1 minute(s), shifted by 30 second(s)");
        assert_eq!(MonotonicKey::Declared.to_string(), "runs of equal values");
    }
}
