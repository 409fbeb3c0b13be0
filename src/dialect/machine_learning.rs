//! KDA's machine-learning table functions in FROM:
//! `TABLE(RANDOM_CUT_FOREST(CURSOR(query) [, numberOfTrees, subSampleSize, timeDecay, shingleSize]))`,
//! `TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(query) [, …, shingleSize, withDirectionality]))`
//! and `TABLE(HOTSPOTS(CURSOR(query), windowSize, scanRadius, minimumNumberOfPointsInAHotspot))`.
//!
//! sqlparser cannot read them, so this token pass checks the arguments (each error at its
//! argument, with the range KDA allows and what to write) and replaces the call with the
//! cursor's query as a subquery, its select list ending with the function's columns as calls of
//! stand-in functions: `TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s)))` becomes
//! `(SELECT STREAM *, "RANDOM_CUT_FOREST$ANOMALY_SCORE"() AS "ANOMALY_SCORE" FROM s) AS
//! TABLE_FUNCTION`. The planner types the stand-ins and puts the function's operator where that
//! SELECT is; a cursor that aggregates stays one query, so its windows work as anywhere else.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use super::KdaDialect;
use super::tokens::{is_code, word_is};
use crate::error::{Result, SourceText};

/// The stand-in for `ANOMALY_SCORE` (DOUBLE) of `RANDOM_CUT_FOREST`.
pub const FOREST_SCORE: &str = "RANDOM_CUT_FOREST$ANOMALY_SCORE";
/// The stand-ins for `ANOMALY_SCORE` and `ANOMALY_EXPLANATION` (VARCHAR) of the explanation form.
pub const EXPLAINED_SCORE: &str = "RANDOM_CUT_FOREST_WITH_EXPLANATION$ANOMALY_SCORE";
pub const EXPLANATION: &str = "RANDOM_CUT_FOREST_WITH_EXPLANATION$ANOMALY_EXPLANATION";
/// The stand-in for `HOTSPOTS_RESULT` (VARCHAR).
pub const HOTSPOTS_RESULT: &str = "HOTSPOTS$HOTSPOTS_RESULT";

/// A forest's numbers, as KDA names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForestArguments {
    pub number_of_trees: usize,
    pub sub_sample_size: usize,
    pub time_decay: u64,
    pub shingle_size: usize,
}

impl Default for ForestArguments {
    /// KDA's defaults (the one-argument form).
    fn default() -> ForestArguments {
        ForestArguments {
            number_of_trees: 100,
            sub_sample_size: 256,
            time_decay: 100_000,
            shingle_size: 1,
        }
    }
}

/// A machine-learning table function call, its arguments checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MachineLearningCall {
    RandomCutForest(ForestArguments),
    RandomCutForestWithExplanation {
        forest: ForestArguments,
        with_directionality: bool,
    },
    Hotspots {
        window_size: usize,
        scan_radius: f64,
        minimum_points: usize,
    },
}

impl MachineLearningCall {
    pub fn name(&self) -> &'static str {
        match self {
            MachineLearningCall::RandomCutForest(_) => "RANDOM_CUT_FOREST",
            MachineLearningCall::RandomCutForestWithExplanation { .. } => {
                "RANDOM_CUT_FOREST_WITH_EXPLANATION"
            }
            MachineLearningCall::Hotspots { .. } => "HOTSPOTS",
        }
    }
}

const FUNCTIONS: [&str; 3] = [
    "RANDOM_CUT_FOREST",
    "RANDOM_CUT_FOREST_WITH_EXPLANATION",
    "HOTSPOTS",
];

/// One argument after the cursor: its tokens' text and where it is.
struct Argument {
    value: Value,
    span: Span,
}

enum Value {
    Number(String),
    Boolean(bool),
    Other(String),
}

fn usage(function: &str) -> &'static str {
    match function {
        "RANDOM_CUT_FOREST" => {
            "write RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s)) for KDA's defaults, or RANDOM_CUT_FOREST(CURSOR(…), numberOfTrees, subSampleSize, timeDecay, shingleSize), e.g. RANDOM_CUT_FOREST(CURSOR(…), 100, 256, 100000, 1)"
        }
        "RANDOM_CUT_FOREST_WITH_EXPLANATION" => {
            "write RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM s)) for KDA's defaults, or RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(…), numberOfTrees, subSampleSize, timeDecay, shingleSize, withDirectionality), e.g. (CURSOR(…), 100, 256, 100000, 1, true)"
        }
        _ => {
            "write HOTSPOTS(CURSOR(SELECT STREAM * FROM s), windowSize, scanRadius, minimumNumberOfPointsInAHotspot), e.g. HOTSPOTS(CURSOR(…), 1000, 0.2, 17)"
        }
    }
}

/// Finds a machine-learning table function in a pump's tokens and rewrites it (see the module
/// doc); returns the tokens and the call.
pub(crate) fn machine_learning_functions(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Option<MachineLearningCall>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let tok = |j: usize| code.get(j).map(|i| &tokens[*i]);
    let is_call = |k: usize| {
        tok(k).is_some_and(|t| word_is(t, "TABLE"))
            && tok(k + 1).map(|t| &t.token) == Some(&Token::LParen)
            && tok(k + 2).is_some_and(|t| FUNCTIONS.iter().any(|f| word_is(t, f)))
    };
    let Some(k) = (0..code.len()).find(|&k| is_call(k)) else {
        return Ok((tokens, None));
    };
    let name_token = &tokens[code[k + 2]];
    let function = FUNCTIONS
        .into_iter()
        .find(|f| word_is(name_token, f))
        .expect("a function name");
    let at = name_token.span;
    let err = |span: Span, message: String| {
        src.error_span(span, message)
            .with_help(usage(function))
            .into_error()
    };
    if tok(k + 3).map(|t| &t.token) != Some(&Token::LParen)
        || !tok(k + 4).is_some_and(|t| word_is(t, "CURSOR"))
        || tok(k + 5).map(|t| &t.token) != Some(&Token::LParen)
    {
        return Err(err(
            at,
            format!("{function}'s first argument must be CURSOR(SELECT STREAM …)"),
        ));
    }
    // The parenthesis that closes the token at `open`, as an index into `code`.
    let closing = |open: usize| {
        let mut depth = 0;
        for j in open..code.len() {
            match tokens[code[j]].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j);
                    }
                }
                _ => {}
            }
        }
        None
    };
    let cursor_end = closing(k + 5).ok_or_else(|| {
        err(
            at,
            format!("{function}'s CURSOR( has no closing parenthesis"),
        )
    })?;
    let call_end =
        closing(k + 3).ok_or_else(|| err(at, format!("{function}( has no closing parenthesis")))?;
    let table_end = closing(k + 1)
        .filter(|e| *e == call_end + 1)
        .ok_or_else(|| {
            err(
                at,
                format!("TABLE( must hold only the {function}(…) call and close after it"),
            )
        })?;
    // The arguments after the cursor, split at commas.
    let mut arguments: Vec<Argument> = Vec::new();
    let mut j = cursor_end + 1;
    while j < call_end {
        let comma = &tokens[code[j]];
        if comma.token != Token::Comma {
            return Err(err(
                comma.span,
                format!("unexpected `{}` in the call of {function}", comma.token),
            ));
        }
        let start = j + 1;
        let mut end = start;
        while end < call_end && tokens[code[end]].token != Token::Comma {
            end += 1;
        }
        if start == end {
            return Err(err(
                comma.span,
                format!("an argument of {function} is missing after this comma"),
            ));
        }
        let parts: Vec<&TokenWithSpan> = (start..end).map(|i| &tokens[code[i]]).collect();
        let span = parts[0].span.union(&parts[parts.len() - 1].span);
        let text: String = parts.iter().map(|t| t.token.to_string()).collect();
        let value = match parts.as_slice() {
            [t] if matches!(&t.token, Token::Number(_, _)) => Value::Number(text),
            [sign, t]
                if matches!(sign.token, Token::Minus | Token::Plus)
                    && matches!(&t.token, Token::Number(_, _)) =>
            {
                Value::Number(text)
            }
            [t] if word_is(t, "TRUE") => Value::Boolean(true),
            [t] if word_is(t, "FALSE") => Value::Boolean(false),
            _ => Value::Other(text),
        };
        arguments.push(Argument { value, span });
        j = end;
    }
    let call = checked_call(function, &arguments, at, &err)?;
    // A second call in the same pump is not supported.
    if let Some(again) = (table_end + 1..code.len()).find(|&k| is_call(k)) {
        let t = &tokens[code[again + 2]];
        return Err(src
            .error_span(
                t.span,
                "a pump can call one machine-learning table function; this is the second",
            )
            .with_help("give each call its own pump, writing into its own stream")
            .into_error());
    }
    // The end of the cursor's select list: its first FROM outside parentheses.
    let mut depth = 0;
    let mut from = None;
    for j in k + 6..cursor_end {
        match &tokens[code[j]].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if depth == 0 && w.quote_style.is_none() => {
                if w.value == "UNION" || w.value == "EXCEPT" || w.value == "INTERSECT" {
                    return Err(src
                        .error_span(
                            tokens[code[j]].span,
                            format!("{function}'s CURSOR cannot hold a {}", w.value),
                        )
                        .with_help("write the UNION ALL in a pump of its own and read its stream in the CURSOR")
                        .into_error());
                }
                if w.value == "FROM" && from.is_none() {
                    from = Some(j);
                }
            }
            _ => {}
        }
    }
    let from = from.ok_or_else(|| {
        err(
            at,
            format!("{function}'s CURSOR must read a stream: CURSOR(SELECT STREAM … FROM s)"),
        )
    })?;
    let aliased = tok(table_end + 1).is_some_and(|t| {
        word_is(t, "AS")
            || matches!(&t.token, Token::Word(w) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some())
    });
    let tail = if aliased { ")" } else { ") AS TABLE_FUNCTION" };
    let lex = |text: &str| -> Vec<TokenWithSpan> {
        Tokenizer::new(&KdaDialect, text)
            .tokenize()
            .expect("generated SQL tokenizes")
            .into_iter()
            .map(|token| TokenWithSpan { token, span: at })
            .collect()
    };
    let mut out = Vec::with_capacity(tokens.len() + 16);
    for (i, t) in tokens.into_iter().enumerate() {
        match code.iter().position(|c| *c == i) {
            Some(j) if j == k => out.extend(lex("(")),
            Some(j) if j == from => {
                out.extend(lex(&stand_ins(function)));
                out.push(t);
            }
            Some(j) if j == table_end => out.extend(lex(tail)),
            // The cursor's query stays; TABLE ( NAME ( CURSOR ( and the arguments go.
            Some(j) if (k + 6..cursor_end).contains(&j) => out.push(t),
            Some(j) if (k..=table_end).contains(&j) => {}
            _ => out.push(t),
        }
    }
    Ok((out, Some(call)))
}

/// The function's columns, added at the end of the cursor's select list.
fn stand_ins(function: &str) -> String {
    match function {
        "RANDOM_CUT_FOREST" => format!(", \"{FOREST_SCORE}\"() AS \"ANOMALY_SCORE\" "),
        "RANDOM_CUT_FOREST_WITH_EXPLANATION" => format!(
            ", \"{EXPLAINED_SCORE}\"() AS \"ANOMALY_SCORE\", \"{EXPLANATION}\"() AS \"ANOMALY_EXPLANATION\" "
        ),
        _ => format!(", \"{HOTSPOTS_RESULT}\"() AS \"HOTSPOTS_RESULT\" "),
    }
}

/// A whole number argument within `range`.
fn whole(
    function: &str,
    name: &str,
    position: usize,
    argument: &Argument,
    range: std::ops::RangeInclusive<i64>,
    example: &str,
    err: &dyn Fn(Span, String) -> crate::error::Error,
) -> Result<i64> {
    let expected = format!(
        "{function}'s {name} (argument {position}) must be a whole number from {} to {} ({example})",
        range.start(),
        range.end()
    );
    match &argument.value {
        Value::Number(text) => match text.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(err(argument.span, format!("{expected}, not {text}"))),
        },
        Value::Boolean(b) => Err(err(argument.span, format!("{expected}, not {b}"))),
        Value::Other(text) => Err(err(argument.span, format!("{expected}, not {text}"))),
    }
}

fn checked_call(
    function: &str,
    arguments: &[Argument],
    at: Span,
    err: &dyn Fn(Span, String) -> crate::error::Error,
) -> Result<MachineLearningCall> {
    let count = arguments.len() + 1;
    let forest = |arguments: &[Argument]| -> Result<ForestArguments> {
        let trees = whole(
            function,
            "numberOfTrees",
            2,
            &arguments[0],
            1..=1000,
            "KDA's default is 100",
            err,
        )?;
        let sample = whole(
            function,
            "subSampleSize",
            3,
            &arguments[1],
            10..=1000,
            "KDA's default is 256",
            err,
        )?;
        let decay = whole(
            function,
            "timeDecay",
            4,
            &arguments[2],
            1..=i32::MAX as i64,
            "KDA's default is 100000",
            err,
        )?;
        let shingle = whole(
            function,
            "shingleSize",
            5,
            &arguments[3],
            1..=30,
            "KDA's default is 1",
            err,
        )?;
        if sample >= decay {
            return Err(err(
                arguments[2].span,
                format!(
                    "{function}'s timeDecay (argument 4) must be larger than subSampleSize ({sample}), not {decay}"
                ),
            ));
        }
        Ok(ForestArguments {
            number_of_trees: trees as usize,
            sub_sample_size: sample as usize,
            time_decay: decay as u64,
            shingle_size: shingle as usize,
        })
    };
    let wrong_count = |allowed: &str| {
        err(
            at,
            format!("{function} takes {allowed}; this call has {count}"),
        )
    };
    match function {
        "RANDOM_CUT_FOREST" => match arguments.len() {
            0 => Ok(MachineLearningCall::RandomCutForest(
                ForestArguments::default(),
            )),
            4 => Ok(MachineLearningCall::RandomCutForest(forest(arguments)?)),
            _ => Err(wrong_count("1 argument (the CURSOR) or 5")),
        },
        "RANDOM_CUT_FOREST_WITH_EXPLANATION" => match arguments.len() {
            0 => Ok(MachineLearningCall::RandomCutForestWithExplanation {
                forest: ForestArguments::default(),
                with_directionality: false,
            }),
            5 => {
                let forest = forest(&arguments[..4])?;
                let with_directionality = match arguments[4].value {
                    Value::Boolean(b) => b,
                    _ => {
                        return Err(err(
                            arguments[4].span,
                            format!(
                                "{function}'s withDirectionality (argument 6) must be true or false"
                            ),
                        ));
                    }
                };
                Ok(MachineLearningCall::RandomCutForestWithExplanation {
                    forest,
                    with_directionality,
                })
            }
            _ => Err(wrong_count("1 argument (the CURSOR) or 6")),
        },
        _ => {
            if arguments.len() != 3 {
                return Err(wrong_count("4 arguments"));
            }
            let window = whole(
                function,
                "windowSize",
                2,
                &arguments[0],
                100..=1000,
                "for example 1000",
                err,
            )?;
            let radius = match &arguments[1].value {
                Value::Number(t) => t.parse::<f64>().ok().filter(|r| *r > 0.0 && r.is_finite()),
                _ => None,
            };
            let Some(radius) = radius else {
                return Err(err(
                    arguments[1].span,
                    format!(
                        "{function}'s scanRadius (argument 3) must be a number above 0 (the distance between a hotspot's points and their neighbours, for example 0.2)"
                    ),
                ));
            };
            let minimum = whole(
                function,
                "minimumNumberOfPointsInAHotspot",
                4,
                &arguments[2],
                2..=i32::MAX as i64,
                "for example 17",
                err,
            )?;
            Ok(MachineLearningCall::Hotspots {
                window_size: window as usize,
                scan_radius: radius,
                minimum_points: minimum as usize,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::tokens::fold_case;

    fn rewrite(sql: &str) -> Result<(String, Option<MachineLearningCall>)> {
        let src = SourceText::new("t.sql", sql);
        let tokens = Tokenizer::new(&KdaDialect, sql)
            .tokenize_with_location()
            .unwrap();
        let (tokens, call) = machine_learning_functions(&src, fold_case(tokens))?;
        // Without whitespace: the generated tokens carry their own spacing.
        let text: String = tokens
            .iter()
            .map(|t| t.token.to_string())
            .collect::<String>()
            .split_whitespace()
            .collect();
        Ok((text, call))
    }

    fn squeezed(text: &str) -> String {
        text.split_whitespace().collect()
    }

    #[test]
    fn the_one_argument_form_has_kda_defaults_and_becomes_a_subquery() {
        let (text, call) = rewrite(
            "SELECT STREAM \"heartRate\", ANOMALY_SCORE FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM \"S\")))",
        )
        .unwrap();
        assert_eq!(
            call,
            Some(MachineLearningCall::RandomCutForest(ForestArguments {
                number_of_trees: 100,
                sub_sample_size: 256,
                time_decay: 100000,
                shingle_size: 1
            }))
        );
        assert!(
            text.ends_with(&squeezed("FROM (SELECT STREAM *, \"RANDOM_CUT_FOREST$ANOMALY_SCORE\"() AS \"ANOMALY_SCORE\" FROM \"S\") AS TABLE_FUNCTION")),
            "{text}"
        );
    }

    #[test]
    fn all_arguments_are_read_and_an_alias_is_kept() {
        let (text, call) = rewrite(
            "SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM a FROM s), 50, 128, 1000, 2, true)) AS t",
        )
        .unwrap();
        assert_eq!(
            call,
            Some(MachineLearningCall::RandomCutForestWithExplanation {
                forest: ForestArguments {
                    number_of_trees: 50,
                    sub_sample_size: 128,
                    time_decay: 1000,
                    shingle_size: 2
                },
                with_directionality: true
            })
        );
        assert!(
            text.ends_with(&squeezed("(SELECT STREAM A, \"RANDOM_CUT_FOREST_WITH_EXPLANATION$ANOMALY_SCORE\"() AS \"ANOMALY_SCORE\", \"RANDOM_CUT_FOREST_WITH_EXPLANATION$ANOMALY_EXPLANATION\"() AS \"ANOMALY_EXPLANATION\" FROM S) AS T")),
            "{text}"
        );
        // The select list ends at the FROM outside parentheses.
        let (text, _) = rewrite(
            "SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM (SELECT 1 FROM T) AS a, EXTRACT(HOUR FROM ROWTIME) AS h FROM S)))",
        )
        .unwrap();
        assert!(
            text.contains(&squeezed("EXTRACT(HOUR FROM ROWTIME) AS H, \"RANDOM_CUT_FOREST$ANOMALY_SCORE\"() AS \"ANOMALY_SCORE\" FROM S)")),
            "{text}"
        );
        let (_, call) = rewrite(
            "SELECT STREAM * FROM TABLE (HOTSPOTS(CURSOR(SELECT STREAM x, y FROM s), 1000, 0.2, 17))",
        )
        .unwrap();
        assert_eq!(
            call,
            Some(MachineLearningCall::Hotspots {
                window_size: 1000,
                scan_radius: 0.2,
                minimum_points: 17
            })
        );
    }

    #[test]
    fn bad_arguments_name_the_parameter_and_its_range() {
        let cases = [
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 0, 256, 100000, 1)",
                "RANDOM_CUT_FOREST's numberOfTrees (argument 2) must be a whole number from 1 to 1000 (KDA's default is 100), not 0",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 1001, 256, 100000, 1)",
                "numberOfTrees (argument 2) must be a whole number from 1 to 1000",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 100, 5, 100000, 1)",
                "subSampleSize (argument 3) must be a whole number from 10 to 1000 (KDA's default is 256), not 5",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 100, 256, 100, 1)",
                "timeDecay (argument 4) must be larger than subSampleSize (256), not 100",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 100, 256, 100000, 31)",
                "shingleSize (argument 5) must be a whole number from 1 to 30",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 100, 256.5, 100000, 1)",
                "subSampleSize (argument 3) must be a whole number from 10 to 1000 (KDA's default is 256), not 256.5",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s), 100, 256)",
                "RANDOM_CUT_FOREST takes 1 argument (the CURSOR) or 5; this call has 3",
            ),
            (
                "RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM s), 100, 256, 100000, 1, 1)",
                "withDirectionality (argument 6) must be true or false",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM s), 99, 0.2, 17)",
                "HOTSPOTS's windowSize (argument 2) must be a whole number from 100 to 1000 (for example 1000), not 99",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM s), 1000, 0, 17)",
                "HOTSPOTS's scanRadius (argument 3) must be a number above 0",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM s), 1000, 0.2, 1)",
                "minimumNumberOfPointsInAHotspot (argument 4) must be a whole number from 2",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM s), 1000, 0.2)",
                "HOTSPOTS takes 4 arguments; this call has 3",
            ),
            (
                "HOTSPOTS(SELECT STREAM * FROM s, 1000, 0.2, 17)",
                "HOTSPOTS's first argument must be CURSOR(SELECT STREAM …)",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM 1), 1000, 0.2, 17)",
                "HOTSPOTS's CURSOR must read a stream",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM a UNION ALL SELECT STREAM * FROM b))",
                "RANDOM_CUT_FOREST's CURSOR cannot hold a UNION",
            ),
        ];
        for (call, message) in cases {
            let sql = format!("SELECT STREAM * FROM TABLE({call})");
            let e = rewrite(&sql).expect_err(call).to_string();
            assert!(e.contains(message), "{call}:\n{e}");
            assert!(e.contains("write "), "{call}: no help\n{e}");
        }
    }

    #[test]
    fn other_queries_are_left_alone() {
        let sql = "SELECT STREAM * FROM S";
        assert_eq!(rewrite(sql).unwrap(), (squeezed(sql), None));
    }
}
