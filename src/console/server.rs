//! The HTTP endpoints (docs/console.md lists them). Everything that reads is open; everything
//! that changes the application needs the console's token in the `X-Rowtime-Token` header.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::broadcast::error::RecvError;

use super::watch::Watch;
use super::{Console, Refused};
use crate::catalog::StreamKind;
use crate::error::{Error, Result};

const PAGE: &str = include_str!("page.html");

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-rowtime-token";

/// Binds `listen` (a socket address) now, so that a bad or taken address is reported before
/// the run starts; `what` names the server in messages (`--listen`, `--metrics`).
pub fn bind(listen: &str, what: &str) -> Result<std::net::TcpListener> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Error::Usage(format!(
            "{what} {listen}: not an address; write IP:PORT, such as 127.0.0.1:8080"
        ))
    })?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        Error::Usage(format!(
            "{what} {listen}: cannot listen there ({e}); pick another port, such as {what} 127.0.0.1:0 for any free one"
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io(listen, e))?;
    Ok(listener)
}

/// Whether a request's `Host` names this machine's loopback (`127.0.0.1`, `[::1]`,
/// `localhost`, any port).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Serves the console (the page, its API and `/metrics`) on `listener`, on a thread of its own.
/// Listening on loopback, it answers only requests addressed to loopback: a web page elsewhere
/// cannot reach it through a name that resolves to 127.0.0.1 (DNS rebinding).
pub fn serve_console(console: Arc<Console>, listener: std::net::TcpListener) {
    let watch = Arc::clone(&console.watch);
    let local_only = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let app = Router::new()
        .route("/", get(page))
        .route("/api/app", get(app_info))
        .route("/api/status", get(status))
        .route("/api/check", post(check))
        .route("/api/save", post(save))
        .route("/api/streams/{name}/events", get(events))
        .route("/api/source", get(source))
        .route("/api/history", get(history))
        .route("/metrics", get(metrics))
        .with_state(console)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                if local_only && !loopback_host(request.headers()) {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "the console listens on this machine only and answers requests for 127.0.0.1 or localhost; open the address rowtime console printed",
                    );
                }
                next.run(request).await
            },
        ));
    serve("rowtime-console", watch, app, listener);
}

/// Serves only `/metrics` (`rowtime run --metrics`).
pub fn serve_metrics(watch: Arc<Watch>, listener: std::net::TcpListener) {
    let app = Router::new()
        .route("/metrics", get(metrics_only))
        .with_state(Arc::clone(&watch));
    serve("rowtime-metrics", watch, app, listener);
}

fn serve(name: &str, watch: Arc<Watch>, app: Router, listener: std::net::TcpListener) {
    crate::runtime::serve(name, async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("rowtime: the server cannot start: {e}");
                return;
            }
        };
        let sampler = async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                watch.sample();
            }
        };
        let server = axum::serve(listener, app);
        tokio::select! {
            r = server => if let Err(e) = r { eprintln!("rowtime: the server stopped: {e}") },
            () = sampler => {}
        }
    });
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

async fn metrics(State(console): State<Arc<Console>>) -> Response {
    metrics_text(&console.watch)
}

async fn metrics_only(State(watch): State<Arc<Watch>>) -> Response {
    metrics_text(&watch)
}

fn metrics_text(watch: &Watch) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        watch.metrics.encode(),
    )
        .into_response()
}

async fn app_info(State(console): State<Arc<Console>>) -> Json<serde_json::Value> {
    let running = console.running();
    Json(json!({
        "name": running.app.name,
        "code": running.app.code.text,
        "file": console.file.as_ref().map(|f| f.path().display().to_string()),
        "input": running.input_location,
        "version": console.version.load(Ordering::Relaxed),
        "explain": running.explain,
        "graph": running.graph,
    }))
}

fn kind_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Source => "source",
        StreamKind::Created => "stream",
        StreamKind::Error => "error",
    }
}

async fn status(State(console): State<Arc<Console>>) -> Json<serde_json::Value> {
    let watch = &console.watch;
    let running = console.running();
    let current: Vec<&str> = running
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind != "pump")
        .map(|n| n.name.as_str())
        .collect();
    let streams: Vec<serde_json::Value> = watch
        .taps()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "kind": kind_name(t.kind()),
                "rows": t.rows(),
                "rate": t.rate(),
                "current": current.contains(&t.name.as_str()),
            })
        })
        .collect();
    let tables: Vec<serde_json::Value> = watch
        .tables()
        .into_iter()
        .map(|(name, rows, at)| json!({"name": name, "rows": rows, "loaded_ms": at}))
        .collect();
    let [input, output, errors] = watch.totals();
    let behind = watch.behind_ms.load(Ordering::Relaxed);
    Json(json!({
        "version": console.version.load(Ordering::Relaxed),
        "ended": console.ended.load(Ordering::Relaxed),
        "note": console.note.lock().expect("the note lock is never poisoned").clone(),
        "records_in": input,
        "rows_out": output,
        "errors": errors,
        "millis_behind_latest": (behind >= 0).then_some(behind),
        "streams": streams,
        "tables": tables,
        "held": watch
            .held()
            .into_iter()
            .map(|(pump, operators)| json!({"pump": pump, "operators": operators}))
            .collect::<Vec<_>>(),
    }))
}

async fn check(State(console): State<Arc<Console>>, code: String) -> Json<serde_json::Value> {
    let problems = console.check(&code);
    Json(json!({ "ok": problems.is_empty(), "diagnostics": problems }))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "ok": false, "error": message }))).into_response()
}

async fn save(State(console): State<Arc<Console>>, headers: HeaderMap, code: String) -> Response {
    let given = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if given != Some(console.token.as_str()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            if given.is_none() {
                "changing the application needs the console's token (the X-Rowtime-Token header): open the address rowtime console printed on its terminal, which carries it"
            } else {
                "the token is not this console's: open the address rowtime console printed on its terminal"
            },
        );
    }
    // Planning and binding block (reference data, output connections): off this thread.
    let (reply, answer) = tokio::sync::oneshot::channel();
    let worker = Arc::clone(&console);
    crate::runtime::spawn_named("rowtime-console-save", move || {
        let _ = reply.send(worker.save_and_run(&code));
    });
    match answer.await {
        Ok(Ok(note)) => Json(json!({
            "ok": true,
            "note": note,
            "version": console.version.load(Ordering::Relaxed),
        }))
        .into_response(),
        Ok(Err(Refused::Invalid(problems))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "ok": false,
                "error": "the code does not check; the run keeps the code it had",
                "diagnostics": problems,
            })),
        )
            .into_response(),
        Ok(Err(Refused::Failed(why))) => refuse(
            StatusCode::CONFLICT,
            &format!("the new code could not be started, so the run keeps the code it had: {why}"),
        ),
        Ok(Err(Refused::Busy)) => refuse(
            StatusCode::CONFLICT,
            "another Save and run is under way; try again when it is done",
        ),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Save and run stopped without an answer; the run keeps the code it had",
        ),
    }
}

async fn events(State(console): State<Arc<Console>>, Path(name): Path<String>) -> Response {
    let Some(tap) = console.watch.tap(&name) else {
        let names: Vec<String> = console
            .watch
            .taps()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("no stream named `{name}`; streams are {}", names.join(", ")),
        );
    };
    // Subscribe before taking the kept rows, so that no row falls in between.
    let live = tap.subscribe();
    let first = Event::default().event("recent").data(tap.recent_event());
    let live = futures::stream::unfold(live, |mut live| async move {
        let event = match live.recv().await {
            Ok(rows) => Event::default().event("rows").data(rows.as_str()),
            Err(RecvError::Lagged(n)) => Event::default().event("skipped").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<Event, Infallible>(event), live))
    });
    let all = futures::stream::once(async move { Ok::<Event, Infallible>(first) }).chain(live);
    Sse::new(all)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn source(State(console): State<Arc<Console>>) -> Json<Source> {
    let running = console.running();
    // As written for `rowtime discover`, in KDA's order of keys.
    let schema = format!(
        "{{\"InputSchema\": {}}}",
        running.schema.to_input_schema_json()
    );
    let sources: Vec<SourceRows> = console
        .watch
        .taps()
        .iter()
        .filter(|t| t.kind() == StreamKind::Source)
        .map(|t| {
            // The rows as formatted, so that their columns keep their order.
            let rows: Vec<Box<RawValue>> = t
                .recent_rows(50)
                .into_iter()
                .filter_map(|r| RawValue::from_string(r).ok())
                .collect();
            SourceRows {
                stream: t.name.clone(),
                rows,
            }
        })
        .collect();
    let raw: Vec<String> = console.watch.raw_records();
    Json(Source {
        input: running.input_location,
        discovered: running.discovered,
        input_schema: RawValue::from_string(schema)
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON")),
        streams: sources,
        raw,
    })
}

#[derive(serde::Serialize)]
struct SourceRows {
    stream: String,
    rows: Vec<Box<RawValue>>,
}

#[derive(serde::Serialize)]
struct Source {
    input: String,
    discovered: bool,
    input_schema: Box<RawValue>,
    streams: Vec<SourceRows>,
    raw: Vec<String>,
}

async fn history(State(console): State<Arc<Console>>) -> Json<serde_json::Value> {
    Json(json!({ "samples": console.watch.history() }))
}
