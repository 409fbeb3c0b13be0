//! Locations: where a stream's records come from or go, as the command line and a KDA definition
//! name them.
//!
//! | written | meaning |
//! |---|---|
//! | `-` | stdin (input) or stdout (output) |
//! | `PATH` | a file: JSON lines, or CSV when it ends in `.csv` |
//! | `DIR/` (ends in `/`) | a folder of Firehose-style objects (output) |
//! | `kinesis://STREAM` | a Kinesis data stream (input or output) |
//! | `firehose://DELIVERY_STREAM` | a Firehose delivery stream (output) |
//! | `lambda://FUNCTION[:QUALIFIER]` | a Lambda function, with KDA's Lambda output contract |
//! | `s3://BUCKET/KEY` | an S3 object (a reference table) |
//! | `s3://BUCKET/PREFIX/` (ends in `/`) | Firehose-style objects under a prefix (output) |
//!
//! ARNs name the same things: `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`,
//! `arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME`,
//! `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, `arn:aws:s3:::BUCKET[/KEY]`.

use std::fmt;
use std::path::PathBuf;

/// A parsed location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `-`: stdin or stdout.
    Standard,
    File(PathBuf),
    /// A folder for Firehose-style objects.
    Dir(PathBuf),
    Kinesis {
        stream: String,
        /// The ARN when one was given (KDA's `streamArn` in Lambda requests).
        arn: Option<String>,
    },
    Firehose {
        name: String,
    },
    Lambda {
        /// Name, or name with `:QUALIFIER`, as Lambda's Invoke takes it.
        function: String,
        arn: Option<String>,
    },
    S3Object {
        bucket: String,
        key: String,
    },
    S3Prefix {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    /// Parses a location; the error says which forms there are.
    pub fn parse(text: &str) -> Result<Location, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("an empty location; write a path, `-`, or kinesis://, firehose://, lambda://, s3://".into());
        }
        if t == "-" {
            return Ok(Location::Standard);
        }
        if let Some(rest) = t.strip_prefix("arn:") {
            return parse_arn(t, rest);
        }
        let named = |rest: &str, what: &str| -> Result<String, String> {
            let name = rest.trim_end_matches('/');
            if name.is_empty() || name.contains('/') {
                Err(format!("`{t}`: write {what}"))
            } else {
                Ok(name.to_string())
            }
        };
        if let Some(rest) = t.strip_prefix("kinesis://") {
            return Ok(Location::Kinesis {
                stream: named(rest, "kinesis://STREAM")?,
                arn: None,
            });
        }
        if let Some(rest) = t.strip_prefix("firehose://") {
            return Ok(Location::Firehose {
                name: named(rest, "firehose://DELIVERY_STREAM")?,
            });
        }
        if let Some(rest) = t.strip_prefix("lambda://") {
            return Ok(Location::Lambda {
                function: named(rest, "lambda://FUNCTION")?,
                arn: None,
            });
        }
        if let Some(rest) = t.strip_prefix("s3://") {
            return s3(t, rest);
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(format!(
                "`{t}`: `{scheme}://` is not a location rowtime knows; use a path, kinesis://, firehose://, lambda:// or s3://"
            ));
        }
        if t.ends_with('/') || t.ends_with(std::path::MAIN_SEPARATOR) {
            return Ok(Location::Dir(PathBuf::from(t)));
        }
        Ok(Location::File(PathBuf::from(t)))
    }

    /// Whether records are CSV (a `.csv` file); everything else is JSON.
    pub fn is_csv_file(&self) -> bool {
        matches!(self, Location::File(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
    }
}

fn s3(text: &str, rest: &str) -> Result<Location, String> {
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "`{text}`: write s3://BUCKET/KEY or s3://BUCKET/PREFIX/"
        ));
    }
    Ok(if key.is_empty() || key.ends_with('/') {
        Location::S3Prefix {
            bucket: bucket.to_string(),
            prefix: key.to_string(),
        }
    } else {
        Location::S3Object {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }
    })
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
fn parse_arn(text: &str, rest: &str) -> Result<Location, String> {
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [_partition, service, _region, _account, resource] = parts[..] else {
        return Err(format!(
            "`{text}` is not an ARN: arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE"
        ));
    };
    let arn = Some(text.to_string());
    let bad = |what: &str| format!("`{text}`: expected {what}");
    match service {
        "kinesis" => match resource.strip_prefix("stream/") {
            Some(name) if !name.is_empty() => Ok(Location::Kinesis {
                stream: name.to_string(),
                arn,
            }),
            _ => Err(bad("arn:aws:kinesis:REGION:ACCOUNT:stream/NAME")),
        },
        "firehose" => match resource.strip_prefix("deliverystream/") {
            Some(name) if !name.is_empty() => Ok(Location::Firehose {
                name: name.to_string(),
            }),
            _ => Err(bad("arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME")),
        },
        "lambda" => match resource.strip_prefix("function:") {
            // KDA's examples write `:$LATEST`; Invoke takes the name and qualifier that way.
            Some(name) if !name.is_empty() => Ok(Location::Lambda {
                function: name.trim_end_matches(":$LATEST").to_string(),
                arn,
            }),
            _ => Err(bad("arn:aws:lambda:REGION:ACCOUNT:function:NAME")),
        },
        "s3" => s3(text, resource),
        other => Err(format!(
            "`{text}`: rowtime does not connect to `{other}`; it reads Kinesis and S3 and writes Kinesis, Firehose, Lambda and S3"
        )),
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Standard => write!(f, "-"),
            Location::File(p) | Location::Dir(p) => write!(f, "{}", p.display()),
            Location::Kinesis { stream, .. } => write!(f, "kinesis://{stream}"),
            Location::Firehose { name } => write!(f, "firehose://{name}"),
            Location::Lambda { function, .. } => write!(f, "lambda://{function}"),
            Location::S3Object { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Location::S3Prefix { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_arns_and_paths() {
        let k = |s: &str| Location::parse(s).unwrap();
        assert_eq!(
            k("kinesis://tolls"),
            Location::Kinesis {
                stream: "tolls".into(),
                arn: None
            }
        );
        assert_eq!(
            k("arn:aws:kinesis:us-east-1:123456789012:stream/tolls"),
            Location::Kinesis {
                stream: "tolls".into(),
                arn: Some("arn:aws:kinesis:us-east-1:123456789012:stream/tolls".into())
            }
        );
        assert_eq!(
            k("arn:aws:firehose:us-east-1:1:deliverystream/billing"),
            Location::Firehose {
                name: "billing".into()
            }
        );
        assert_eq!(
            k("arn:aws:lambda:us-east-1:1:function:alerts:$LATEST"),
            Location::Lambda {
                function: "alerts".into(),
                arn: Some("arn:aws:lambda:us-east-1:1:function:alerts:$LATEST".into())
            }
        );
        assert_eq!(
            k("lambda://alerts:prod"),
            Location::Lambda {
                function: "alerts:prod".into(),
                arn: None
            }
        );
        assert_eq!(
            k("s3://toll-reference/booth_thresholds.csv"),
            Location::S3Object {
                bucket: "toll-reference".into(),
                key: "booth_thresholds.csv".into()
            }
        );
        assert_eq!(
            k("arn:aws:s3:::billing/out/"),
            Location::S3Prefix {
                bucket: "billing".into(),
                prefix: "out/".into()
            }
        );
        assert_eq!(
            k("s3://billing"),
            Location::S3Prefix {
                bucket: "billing".into(),
                prefix: String::new()
            }
        );
        assert_eq!(k("out/"), Location::Dir("out/".into()));
        assert_eq!(k("b.csv"), Location::File("b.csv".into()));
        assert!(k("b.CSV").is_csv_file());
        assert_eq!(k("-"), Location::Standard);
        assert_eq!(k("kinesis://tolls").to_string(), "kinesis://tolls");
    }

    #[test]
    fn bad_locations_say_what_to_write() {
        let e = |s: &str| Location::parse(s).unwrap_err();
        assert!(
            e("kinesis://").contains("kinesis://STREAM"),
            "{}",
            e("kinesis://")
        );
        assert!(e("kafka://x").contains("not a location rowtime knows"));
        assert!(e("arn:aws:sqs:us-east-1:1:queue").contains("does not connect to `sqs`"));
        assert!(e("arn:aws:kinesis:us-east-1:1:table/x").contains("stream/NAME"));
        assert!(e("arn:nope").contains("is not an ARN"));
        assert!(e("s3:///key").contains("s3://BUCKET/KEY"));
    }
}
