//! Connector tests: rowtime against real protocol-compatible servers on 127.0.0.1 (ministack for
//! Kinesis, Firehose, Lambda and S3; kinesis-local for resharding), with producers and checkers
//! using boto3. `support.rs` installs, starts and stops the servers and runs the binary. One
//! module per connector (`kinesis.rs` is the source, through the binary), then the whole:
//! `connect.rs` (a definition's every connection with `--connect`), `toll.rs` (the toll
//! architecture against file runs and the records put) and `example.rs`
//! (`examples/toll-architecture.sh`).

mod connect;
mod deliver;
mod example;
mod kinesis;
mod metrics;
mod objects;
mod preprocess;
mod reference;
mod state;
mod support;
mod toll;

#[test]
fn the_harness_starts_a_server_and_boto3_talks_to_it() {
    let server = support::Server::ministack();
    let made = support::aws(&server.endpoint(), &["create-bucket", "harness"]);
    assert!(made.to_string().contains("harness"), "{made}");
    let listed = support::aws(&server.endpoint(), &["list-objects", "harness"]);
    assert!(listed.to_string().contains("[]"), "{listed}");
}
