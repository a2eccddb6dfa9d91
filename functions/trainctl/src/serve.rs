//! `trainctl serve`: the scheduler loop and the HTTP API, in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use std::collections::HashMap;
use tracing::warn;

use train_core::TrainId;
use train_engine::ports::ListQuery;
use train_engine::{Engine, api};
use train_local::{Clock, LocalMode, Runner, SystemClock};

use crate::local::{load_config, local_actor};
use crate::{page, render};

#[derive(Clone)]
struct App {
    runner: Runner,
}

pub fn run(config_path: &Path, data: &Path, listen: SocketAddr) -> ExitCode {
    let (config, config_dir) = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let local = match LocalMode::open(config, &config_dir, data) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trainctl serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trainctl serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(local, data, listen))
}

async fn serve(local: LocalMode, data: &Path, listen: SocketAddr) -> ExitCode {
    if !listen.ip().is_loopback() {
        eprintln!(
            "trainctl serve: local mode has no authentication, so it listens on loopback only; use 127.0.0.1"
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runner = Runner::new(
        local.engine.clone(),
        clock,
        std::time::Duration::from_secs(1),
    );
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trainctl serve: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(listen);
    // Written whole, then renamed: a reader never sees an empty or half-written file.
    let written = data.join("serve.addr.tmp");
    if std::fs::write(&written, format!("http://{addr}\n")).is_ok() {
        let _ = std::fs::rename(&written, data.join("serve.addr"));
    }
    let zone = local.engine.config().train.zone;
    let next_cut = local
        .engine
        .config()
        .train
        .cut
        .next_after(chrono::Utc::now());
    println!(
        "release-train serving http://{addr} (data in {})",
        data.display()
    );
    if let Some(t) = next_cut {
        println!(
            "next cut: {}",
            t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z")
        );
    }

    let looping = runner.clone();
    tokio::spawn(async move {
        let mut timeline = Timeline::default();
        loop {
            match looping.step().await {
                Ok(step) => {
                    timeline.print_new(looping.engine(), zone).await;
                    looping.wait(&step, None).await;
                }
                Err(e) => {
                    warn!(error = %e, "reconcile pass failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        }
    });

    let app = Router::new().fallback(route).with_state(App { runner });
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("trainctl serve: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints each train's new audit records as they appear, so the terminal shows what the
/// train is doing and why.
#[derive(Default)]
struct Timeline {
    printed: HashMap<TrainId, usize>,
}

impl Timeline {
    async fn print_new(&mut self, engine: &Engine, zone: chrono_tz::Tz) {
        let Ok(trains) = engine
            .list(&ListQuery {
                limit: 10,
                ..ListQuery::default()
            })
            .await
        else {
            return;
        };
        for train in trains.iter().rev() {
            let seen = self.printed.entry(train.id.clone()).or_insert(0);
            for r in train.history.iter().skip(*seen) {
                println!("{}  {}", train.id, render::record(r, zone));
            }
            *seen = train.history.len();
        }
    }
}

/// The status page at `/`; every other request goes through the shared, framework-free
/// API handler.
async fn route(State(app): State<App>, method: Method, uri: Uri, body: Body) -> Response {
    if method == Method::GET && uri.path() == "/" {
        return status_page(&app).await.into_response();
    }
    api_route(&app, method, &uri, body).await.into_response()
}

/// The read-only status page, rendered from the same views the API answers with.
async fn status_page(app: &App) -> (StatusCode, [(header::HeaderName, &'static str); 2], String) {
    let engine = app.runner.engine();
    let now = app.runner.clock().now();
    let zone = engine.config().train.zone;
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Inline style and script only; nothing may load from anywhere else.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        ),
    ];
    let query = ListQuery {
        limit: 20,
        ..ListQuery::default()
    };
    let trains = match engine.list(&query).await {
        Ok(t) => t,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                format!("the train store could not be read: {e}"),
            );
        }
    };
    let views: Vec<api::TrainView> = trains.iter().map(|t| api::TrainView::new(t, now)).collect();
    let schedule = engine
        .schedule_controls()
        .await
        .ok()
        .map(|c| api::ScheduleView::new(engine, c, now));
    let name = engine.config().train.name.to_string();
    let html = page::render(&name, &views, schedule.as_ref(), zone, now);
    (StatusCode::OK, headers, html)
}

async fn api_route(app: &App, method: Method, uri: &Uri, body: Body) -> impl IntoResponse {
    let Ok(bytes) = axum::body::to_bytes(body, api::MAX_BODY).await else {
        let body = json!({"error": {"code": "body_too_large", "message": format!("send at most {} bytes", api::MAX_BODY)}});
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body));
    };
    let req = api::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        body: &bytes,
        actor: Some(local_actor()),
    };
    let engine = app.runner.engine();
    let res = api::handle(engine, req, app.runner.clock().now()).await;
    if method == Method::POST {
        app.runner.waker().notify_one();
    }
    (
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        Json(res.body),
    )
}
