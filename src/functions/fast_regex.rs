//! `FAST_REGEX_LOG_PARSE(text, 'pattern')` (also spelled `FAST_REGEX_LOG_PARSER`; KDA SQL
//! reference `sql-reference-fast-regex-log-parser.html`; EX-26, EX-27): KDA's fast parser, with
//! its own pattern language and no backtracking.
//!
//! The pattern language is that of dk.brics.automaton's `RegExp`, which KDA's page lists:
//! characters, `\c` for a reserved character (`| & ? * + { } ~ [ ] . # @ " ( ) < > \`), `.` any
//! character, `[a-z]` and `[^…]` classes, `|`, `?` `*` `+` `{n}` `{n,}` `{n,m}`, `"literal"`,
//! `#` (nothing), `@` (any string), `()` (the empty string), `<Alpha>`-style named classes (the
//! POSIX ones, `Lower Upper ASCII Alpha Digit Alnum Punct Graph Print Blank Cntrl XDigit Space`,
//! ASCII as in Java) and `<n-m>` numeric ranges (same digit counts: exactly that many digits,
//! else any leading zeros). There is no `\d`, `^` or `$`: the whole text must match. The
//! intersection `&` and complement `~` of dk.brics are not supported.
//!
//! As the page says, the pattern is cut into expressions, one per top-level group (a column,
//! `COLUMN1` … in order) and one per run between groups; each expression's fixed-length start
//! moves to the end of the expression before it (`x+` starts with one `x`), and an expression
//! that is all fixed length joins the one before. The expressions then match in order, each once,
//! without backtracking: a group's expression takes the shortest text it matches (lazy), one
//! between groups the longest, and the last must reach the end of the text. A text that does not
//! match sends the row to `error_stream` (the page's query selects no row).
//!
//! Each expression is a lazy DFA (regex-automata) asked for every end of its match at once.

use regex_automata::hybrid::dfa::{DFA, OverlappingState};
use regex_automata::{Anchored, Input, MatchKind};

/// A pattern element.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// `()`: the empty string.
    Empty,
    /// `#`: no string at all.
    Nothing,
    /// `@`: any string.
    AnyString,
    /// `.`: any character.
    Any,
    Char(char),
    /// `"…"`.
    Literal(String),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `<Alpha>`: a regex class.
    Named(&'static str),
    /// `<n-m>`: the regex of the range, and its length when fixed.
    Range(String, Option<usize>),
    Concat(Vec<Node>),
    Union(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
    /// `(…)`: a top-level one is a column.
    Group(Box<Node>),
}

impl Node {
    /// Its length in characters when every string it matches has the same one.
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Node::Empty => Some(0),
            Node::Any | Node::Char(_) | Node::Class { .. } | Node::Named(_) => Some(1),
            Node::Literal(s) => Some(s.chars().count()),
            Node::Range(_, len) => *len,
            Node::Nothing | Node::AnyString => None,
            Node::Concat(items) => items.iter().map(Node::fixed_len).sum(),
            Node::Union(items) => {
                let first = items.first()?.fixed_len()?;
                items
                    .iter()
                    .all(|i| i.fixed_len() == Some(first))
                    .then_some(first)
            }
            Node::Repeat { node, min, max } if Some(*min) == *max => {
                Some(node.fixed_len()? * *min as usize)
            }
            Node::Repeat { .. } => None,
            Node::Group(inner) => inner.fixed_len(),
        }
    }

    /// Its regex (regex-syntax).
    fn regex(&self) -> String {
        match self {
            Node::Empty => "(?:)".into(),
            Node::Nothing => r"[^\x00-\x{10FFFF}]".into(),
            Node::AnyString => "(?s:.*)".into(),
            Node::Any => "(?s:.)".into(),
            Node::Char(c) => regex::escape(&c.to_string()),
            Node::Literal(s) => format!("(?:{})", regex::escape(s)),
            Node::Class { negated, ranges } => {
                let mut out = String::from(if *negated { "[^" } else { "[" });
                for (a, b) in ranges {
                    out.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", *a as u32, *b as u32));
                }
                out.push(']');
                out
            }
            Node::Named(class) => (*class).into(),
            Node::Range(regex, _) => regex.clone(),
            Node::Concat(items) => {
                let inner: String = items.iter().map(Node::regex).collect();
                format!("(?:{inner})")
            }
            Node::Union(items) => {
                let inner: Vec<String> = items.iter().map(Node::regex).collect();
                format!("(?:{})", inner.join("|"))
            }
            Node::Repeat { node, min, max } => match max {
                Some(max) => format!("(?:{}){{{min},{max}}}", node.regex()),
                None => format!("(?:{}){{{min},}}", node.regex()),
            },
            Node::Group(inner) => format!("(?:{})", inner.regex()),
        }
    }
}

/// The POSIX classes, with Java's ASCII meaning.
fn named_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "[a-z]",
        "Upper" => "[A-Z]",
        "ASCII" => r"[\x00-\x7F]",
        "Alpha" => "[a-zA-Z]",
        "Digit" => "[0-9]",
        "Alnum" => "[a-zA-Z0-9]",
        "Punct" => r"[!-/:-@\[-`{-~]",
        "Graph" => "[!-~]",
        "Print" => "[ -~]",
        "Blank" => r"[ \t]",
        "Cntrl" => r"[\x00-\x1F\x7F]",
        "XDigit" => "[0-9a-fA-F]",
        "Space" => r"[ \t\n\x0B\x0C\r]",
        _ => return None,
    })
}

/// The regex of the decimal numbers `lo..=hi` written with exactly `lo.len()` digits (zero
/// padded); `lo` and `hi` have the same length.
fn fixed_width_range(lo: &[u8], hi: &[u8]) -> String {
    let Some((&l, lo_rest)) = lo.split_first() else {
        return String::new();
    };
    let (&h, hi_rest) = hi.split_first().expect("same length");
    if l == h {
        return format!("{}{}", l as char, fixed_width_range(lo_rest, hi_rest));
    }
    let nines = vec![b'9'; lo_rest.len()];
    let zeros = vec![b'0'; lo_rest.len()];
    let mut parts = vec![format!(
        "{}{}",
        l as char,
        fixed_width_range(lo_rest, &nines)
    )];
    if h - l > 1 {
        parts.push(format!(
            "[{}-{}][0-9]{{{}}}",
            (l + 1) as char,
            (h - 1) as char,
            lo_rest.len()
        ));
    }
    parts.push(format!(
        "{}{}",
        h as char,
        fixed_width_range(&zeros, hi_rest)
    ));
    format!("(?:{})", parts.join("|"))
}

/// `<n-m>`: the regex and, when n and m have the same number of digits, the fixed length.
fn numeric_range(n: &str, m: &str) -> Result<(String, Option<usize>), String> {
    let bad = || format!("<{n}-{m}> is not a range of numbers: write <1-12> or <01-31>");
    let lo: u128 = n.parse().map_err(|_| bad())?;
    let hi: u128 = m.parse().map_err(|_| bad())?;
    if lo > hi || n.len() > 38 || m.len() > 38 {
        return Err(bad());
    }
    if n.len() == m.len() {
        let width = n.len();
        let lo = format!("{lo:0width$}");
        let hi = format!("{hi:0width$}");
        return Ok((
            format!("(?:{})", fixed_width_range(lo.as_bytes(), hi.as_bytes())),
            Some(width),
        ));
    }
    // Any number of leading zeros, then the number itself.
    let digits = |v: u128| v.to_string().len();
    let mut parts = Vec::new();
    for d in digits(lo)..=digits(hi) {
        let floor = if d == 1 { 0 } else { 10u128.pow(d as u32 - 1) };
        let ceiling = 10u128.pow(d as u32) - 1;
        let (a, b) = (lo.max(floor), hi.min(ceiling));
        if a <= b {
            parts.push(fixed_width_range(
                a.to_string().as_bytes(),
                b.to_string().as_bytes(),
            ));
        }
    }
    Ok((format!("(?:0*(?:{}))", parts.join("|")), None))
}

struct Reader<'a> {
    chars: Vec<char>,
    at: usize,
    pattern: &'a str,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn error(&self, what: impl std::fmt::Display) -> String {
        format!(
            "the pattern {:?} {what} at character {}",
            self.pattern,
            self.at + 1
        )
    }

    fn union(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.at += 1;
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().expect("one")
        } else {
            Node::Union(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '&' => return Err(self.error("uses `&` (intersection), which is not supported")),
                _ => items.push(self.repeat()?),
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::Concat(items)
        })
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn repeat(&mut self) -> Result<Node, String> {
        let mut node = self.simple()?;
        loop {
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    self.at += 1;
                    let min = self
                        .number()
                        .ok_or_else(|| self.error("has `{` without a count"))?;
                    let max = if self.peek() == Some(',') {
                        self.at += 1;
                        if self.peek() == Some('}') {
                            None
                        } else {
                            Some(
                                self.number()
                                    .ok_or_else(|| self.error("has a bad `{n,m}`"))?,
                            )
                        }
                    } else {
                        Some(min)
                    };
                    if self.peek() != Some('}') {
                        return Err(self.error("has a `{` without its `}`"));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err(self.error("has a `{n,m}` with m below n"));
                    }
                    (min, max)
                }
                _ => return Ok(node),
            };
            self.at += 1;
            node = Node::Repeat {
                node: Box::new(node),
                min,
                max,
            };
        }
    }

    fn escaped(&mut self) -> Result<char, String> {
        match self.peek() {
            Some('\\') => {
                self.at += 1;
                let c = self.peek().ok_or_else(|| self.error("ends with a `\\`"))?;
                self.at += 1;
                Ok(c)
            }
            Some(c) => {
                self.at += 1;
                Ok(c)
            }
            None => Err(self.error("ends too early")),
        }
    }

    fn simple(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err(self.error("ends too early"));
        };
        match c {
            '.' => {
                self.at += 1;
                Ok(Node::Any)
            }
            '#' => {
                self.at += 1;
                Ok(Node::Nothing)
            }
            '@' => {
                self.at += 1;
                Ok(Node::AnyString)
            }
            '~' => Err(self.error("uses `~` (complement), which is not supported")),
            '"' => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(|c| c != '"') {
                    self.at += 1;
                }
                if self.peek().is_none() {
                    return Err(self.error("has a `\"` without its closing `\"`"));
                }
                let text: String = self.chars[start..self.at].iter().collect();
                self.at += 1;
                Ok(Node::Literal(text))
            }
            '(' => {
                self.at += 1;
                if self.peek() == Some(')') {
                    self.at += 1;
                    return Ok(Node::Group(Box::new(Node::Empty)));
                }
                let inner = self.union()?;
                if self.peek() != Some(')') {
                    return Err(self.error("has a `(` without its `)`"));
                }
                self.at += 1;
                Ok(Node::Group(Box::new(inner)))
            }
            '[' => {
                self.at += 1;
                let negated = self.peek() == Some('^');
                if negated {
                    self.at += 1;
                }
                let mut ranges = Vec::new();
                while self.peek() != Some(']') {
                    if self.peek().is_none() {
                        return Err(self.error("has a `[` without its `]`"));
                    }
                    let a = self.escaped()?;
                    let b = if self.peek() == Some('-') && self.chars.get(self.at + 1) != Some(&']')
                    {
                        self.at += 1;
                        self.escaped()?
                    } else {
                        a
                    };
                    if b < a {
                        return Err(self.error(format!("has the class range {a}-{b} backwards")));
                    }
                    ranges.push((a, b));
                }
                self.at += 1;
                Ok(Node::Class { negated, ranges })
            }
            '<' => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(|c| c != '>') {
                    self.at += 1;
                }
                if self.peek().is_none() {
                    return Err(self.error("has a `<` without its `>`"));
                }
                let name: String = self.chars[start..self.at].iter().collect();
                self.at += 1;
                if let Some((n, m)) = name.split_once('-')
                    && n.chars().all(|c| c.is_ascii_digit())
                {
                    let (regex, len) = numeric_range(n, m)?;
                    return Ok(Node::Range(regex, len));
                }
                named_class(&name).map(Node::Named).ok_or_else(|| {
                    format!(
                        "the pattern {:?} names <{name}>, which is no class: use Lower, Upper, \
                         ASCII, Alpha, Digit, Alnum, Punct, Graph, Print, Blank, Cntrl, XDigit, \
                         Space or a range <n-m>",
                        self.pattern
                    )
                })
            }
            ')' | '|' | '?' | '*' | '+' | '{' | '}' | ']' | '>' | '&' => {
                Err(self.error(format!("has `{c}` where a character belongs (write \\{c})")))
            }
            _ => Ok(Node::Char(self.escaped()?)),
        }
    }
}

/// What a piece of a step belongs to.
#[derive(Debug, Clone)]
struct Piece {
    /// The column (group) it is part of, if any.
    column: Option<usize>,
    /// Its length in characters; None for the one variable piece of a step.
    len: Option<usize>,
    regex: String,
}

#[derive(Debug)]
struct Step {
    pieces: Vec<Piece>,
    /// The shortest match (a group's expression) or the longest (text between groups).
    lazy: bool,
    dfa: DFA,
}

/// A compiled fast-regex pattern.
#[derive(Debug)]
pub struct FastRegex {
    steps: Vec<Step>,
    columns: usize,
}

/// An expression of the pattern: a group (column) or the run between two.
struct Expression {
    column: Option<usize>,
    items: Vec<Node>,
}

/// The items of an expression split into a fixed-length start and the rest; `x+` and
/// `x{n,m}` give their first n copies to the start.
fn split_fixed(items: Vec<Node>) -> (Vec<Node>, Vec<Node>) {
    let mut fixed = Vec::new();
    let mut iter = items.into_iter();
    for item in iter.by_ref() {
        if item.fixed_len().is_some() {
            fixed.push(item);
            continue;
        }
        let mut rest = Vec::new();
        match item {
            Node::Repeat { node, min, max } if min > 0 && node.fixed_len().is_some() => {
                fixed.extend(std::iter::repeat_n((*node).clone(), min as usize));
                rest.push(Node::Repeat {
                    node,
                    min: 0,
                    max: max.map(|m| m - min),
                });
            }
            other => rest.push(other),
        }
        rest.extend(iter);
        return (fixed, rest);
    }
    (fixed, Vec::new())
}

fn piece(column: Option<usize>, nodes: &[Node], variable: bool) -> Piece {
    Piece {
        column,
        len: if variable {
            None
        } else {
            Some(nodes.iter().map(|n| n.fixed_len().unwrap_or(0)).sum())
        },
        regex: nodes.iter().map(Node::regex).collect(),
    }
}

impl FastRegex {
    pub fn new(pattern: &str) -> Result<FastRegex, String> {
        let mut reader = Reader {
            chars: pattern.chars().collect(),
            at: 0,
            pattern,
        };
        let top = reader.union()?;
        if reader.peek().is_some() {
            return Err(reader.error("has a `)` without its `(`"));
        }
        let items = match top {
            Node::Concat(items) => items,
            Node::Union(branches) => {
                if branches.iter().any(|b| matches!(b, Node::Group(_)) || matches!(b, Node::Concat(i) if i.iter().any(|n| matches!(n, Node::Group(_))))) {
                    return Err(format!(
                        "the pattern {pattern:?} has a `|` outside its groups: put the alternatives in parentheses"
                    ));
                }
                vec![Node::Union(branches)]
            }
            other => vec![other],
        };
        let mut expressions: Vec<Expression> = Vec::new();
        let mut columns = 0;
        for item in items {
            match item {
                Node::Group(inner) => {
                    let items = match *inner {
                        Node::Concat(items) => items,
                        other => vec![other],
                    };
                    expressions.push(Expression {
                        column: Some(columns),
                        items,
                    });
                    columns += 1;
                }
                other => match expressions.last_mut() {
                    Some(e) if e.column.is_none() => e.items.push(other),
                    _ => expressions.push(Expression {
                        column: None,
                        items: vec![other],
                    }),
                },
            }
        }
        // Build the steps: each expression's fixed start ends the step before.
        let mut plans: Vec<(Vec<Piece>, bool)> = Vec::new();
        for e in expressions {
            let (fixed, rest) = split_fixed(e.items);
            let lazy = e.column.is_some();
            match plans.last_mut() {
                Some((pieces, _)) => {
                    if !fixed.is_empty() {
                        pieces.push(piece(e.column, &fixed, false));
                    }
                    if !rest.is_empty() {
                        plans.push((vec![piece(e.column, &rest, true)], lazy));
                    }
                }
                None => {
                    let mut pieces = Vec::new();
                    if !fixed.is_empty() || rest.is_empty() {
                        pieces.push(piece(e.column, &fixed, false));
                    }
                    if !rest.is_empty() {
                        pieces.push(piece(e.column, &rest, true));
                    }
                    plans.push((pieces, lazy));
                }
            }
        }
        let mut steps = Vec::with_capacity(plans.len());
        for (pieces, lazy) in plans {
            let regex: String = pieces.iter().map(|p| format!("(?:{})", p.regex)).collect();
            let dfa = DFA::builder()
                .configure(DFA::config().match_kind(MatchKind::All))
                .build(&regex)
                .map_err(|e| format!("the pattern {pattern:?} cannot be compiled: {e}"))?;
            steps.push(Step { pieces, lazy, dfa });
        }
        Ok(FastRegex { steps, columns })
    }

    /// How many columns (top-level groups) the pattern has.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The columns of `text`, or None when the pattern does not account for all of it.
    pub fn parse(&self, text: &str) -> Result<Option<Vec<String>>, String> {
        let mut spans: Vec<Option<(usize, usize)>> = vec![None; self.columns];
        let mut at = 0;
        for (k, step) in self.steps.iter().enumerate() {
            let last = k + 1 == self.steps.len();
            let ends = match_ends(step, text, at, step.lazy && !last)?;
            let end = if last {
                ends.into_iter().find(|e| *e == text.len())
            } else if step.lazy {
                ends.first().copied()
            } else {
                ends.last().copied()
            };
            let Some(end) = end else {
                return Ok(None);
            };
            // Piece boundaries: fixed pieces before the variable one from the start, after it
            // from the end, in characters.
            let matched = &text[at..end];
            let char_offsets: Vec<usize> = matched
                .char_indices()
                .map(|(i, _)| at + i)
                .chain(std::iter::once(end))
                .collect();
            let total = char_offsets.len() - 1;
            let variable = step.pieces.iter().position(|p| p.len.is_none());
            let mut bounds = vec![(0usize, 0usize); step.pieces.len()];
            let mut from = 0;
            for (i, p) in step.pieces.iter().enumerate() {
                if Some(i) == variable {
                    break;
                }
                let len = p.len.unwrap_or(0);
                bounds[i] = (from, from + len);
                from += len;
            }
            if let Some(v) = variable {
                let mut to = total;
                for i in (v + 1..step.pieces.len()).rev() {
                    let len = step.pieces[i].len.unwrap_or(0);
                    bounds[i] = (to - len, to);
                    to -= len;
                }
                bounds[v] = (from, to);
            }
            for (p, (a, b)) in step.pieces.iter().zip(bounds) {
                if let Some(c) = p.column {
                    let (a, b) = (char_offsets[a], char_offsets[b]);
                    spans[c] = Some(match spans[c] {
                        Some((start, _)) => (start, b),
                        None => (a, b),
                    });
                }
            }
            at = end;
        }
        if at != text.len() {
            return Ok(None);
        }
        Ok(Some(
            spans
                .into_iter()
                .map(|s| s.map_or(String::new(), |(a, b)| text[a..b].to_string()))
                .collect(),
        ))
    }
}

/// Every end of a match of `step` that starts at `at`, in order (only the first when `first`).
fn match_ends(step: &Step, text: &str, at: usize, first: bool) -> Result<Vec<usize>, String> {
    let mut cache = step.dfa.create_cache();
    let input = Input::new(text).range(at..).anchored(Anchored::Yes);
    let mut state = OverlappingState::start();
    let mut ends = Vec::new();
    loop {
        step.dfa
            .try_search_overlapping_fwd(&mut cache, &input, &mut state)
            .map_err(|e| format!("the text could not be matched: {e}"))?;
        match state.get_match() {
            None => break,
            Some(m) => {
                if ends.last() != Some(&m.offset()) {
                    ends.push(m.offset());
                }
                if first {
                    break;
                }
            }
        }
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str, text: &str) -> Option<Vec<String>> {
        FastRegex::new(pattern).unwrap().parse(text).unwrap()
    }

    #[test]
    fn documented_examples() {
        // EX-26 with the pattern whose result the page prints (its own pattern's trailing `_.*`
        // leaves "lamb" out of COLUMN2, as any matching would).
        assert_eq!(
            parse("(.*)_(._.*)", "Mary_had_a_little_lamb").unwrap(),
            ["Mary_had", "a_little_lamb"]
        );
        assert_eq!(
            parse("(.*)_(._.*)_.*", "Mary_had_a_little_lamb").unwrap(),
            ["Mary_had", "a_little"]
        );
        // EX-27: no backtracking, no match.
        assert_eq!(parse("(.*)_+(._.*)", "Mary_had_a_little_lamb"), None);
        // Examples B and C.
        assert_eq!(
            parse("(.*)_+(.*)", "Mary____had_a_little_lamb").unwrap(),
            ["Mary", "had_a_little_lamb"]
        );
        assert_eq!(
            parse("(.*)_+(<Alpha>.*)", "Mary____had_a_little_lamb").unwrap(),
            ["Mary", "had_a_little_lamb"]
        );
    }

    #[test]
    fn lazy_groups_and_whole_text() {
        assert_eq!(parse("(.*)_(.*)", "a_b_c").unwrap(), ["a", "b_c"]);
        let apache = r#"([0-9.]+) - - \[([^\]]+)\] \"([^\"]*)\" (<Digit>+) (<Digit>+)"#;
        assert_eq!(
            parse(
                apache,
                r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326"#
            )
            .unwrap(),
            [
                "127.0.0.1",
                "10/Oct/2000:13:55:36 -0700",
                "GET /a.gif HTTP/1.0",
                "200",
                "2326"
            ]
        );
        assert_eq!(parse("(a)(b)", "ab").unwrap(), ["a", "b"]);
        assert_eq!(parse("(a)(b)", "abc"), None);
        assert_eq!(
            parse("(\"GET\"|\"POST\") (@)", "POST /x").unwrap(),
            ["POST", "/x"]
        );
        assert_eq!(parse("x()y", "xy").unwrap(), [""]);
        assert_eq!(parse("(é+)-(.)", "éé-ü").unwrap(), ["éé", "ü"]);
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(
            parse(r"(<01-12>)\-(<01-31>)", "12-07").unwrap(),
            ["12", "07"]
        );
        assert_eq!(parse(r"(<01-12>)\-(<01-31>)", "12-7"), None);
        assert_eq!(parse(r"(<1-12>)", "007").unwrap(), ["007"]);
        assert_eq!(parse(r"(<1-12>)", "13"), None);
        assert_eq!(parse(r"(<0-255>)", "0").unwrap(), ["0"]);
        assert_eq!(parse(r"(<100-250>)", "199").unwrap(), ["199"]);
        assert_eq!(parse(r"(<100-250>)", "251"), None);
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let err = |p: &str| FastRegex::new(p).unwrap_err();
        assert!(err("(a").contains("without its `)`"), "{}", err("(a"));
        assert!(err("(<Nope>)").contains("<Nope>, which is no class"));
        assert!(err("a&b").contains("intersection"));
        assert!(err("~a").contains("complement"));
        assert!(err("(a)|(b)").contains("outside its groups"));
        assert!(err("a)").contains("without its `(`"));
    }
}
