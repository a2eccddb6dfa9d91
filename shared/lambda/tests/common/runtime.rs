//! A Lambda Runtime API on loopback, enough for the real function binaries: they poll
//! `GET /2018-06-01/runtime/invocation/next` and answer on `.../{id}/response` or
//! `.../{id}/error`, exactly as they do on Lambda. One instance per function process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What an invocation came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The handler returned an error: Lambda would retry an asynchronous invocation.
    Error(Value),
}

type Waiting = Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

#[derive(Clone)]
struct Api {
    next: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    waiting: Waiting,
    init_error: Arc<std::sync::Mutex<Option<String>>>,
    function: String,
}

/// A function binary running against its own Runtime API.
pub struct Function {
    pub name: String,
    invocations: mpsc::UnboundedSender<(String, Value)>,
    waiting: Waiting,
    init_error: Arc<std::sync::Mutex<Option<String>>>,
    child: tokio::process::Child,
    log: PathBuf,
    ids: AtomicU64,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Function({})", self.name)
    }
}

impl Function {
    /// Starts `binary` with `env` (plus the Lambda runtime's own variables), its output
    /// kept in `dir/<name>.log`.
    pub async fn start(name: &str, binary: &Path, env: &[(String, String)], dir: &Path) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting: Waiting = Arc::default();
        let init_error = Arc::new(std::sync::Mutex::new(None));
        let api = Api {
            next: Arc::new(Mutex::new(rx)),
            waiting: waiting.clone(),
            init_error: init_error.clone(),
            function: name.to_owned(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error_route))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self {
            name: name.to_owned(),
            invocations: tx,
            waiting,
            init_error,
            child,
            log,
            ids: AtomicU64::new(0),
        }
    }

    /// One invocation, as Lambda makes it; waits for the function's answer.
    pub async fn invoke(&self, payload: Value) -> Answer {
        let id = format!("{}-{}", self.name, self.ids.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert(id.clone(), tx);
        self.invocations.send((id, payload)).unwrap();
        match tokio::time::timeout(Duration::from_mins(2), rx).await {
            Ok(Ok(answer)) => answer,
            _ => panic!(
                "{} did not answer in 120 s (init error: {:?}); log:\n{}",
                self.name,
                self.init_error.lock().unwrap(),
                self.log_text()
            ),
        }
    }

    /// Invokes and expects a response, not an error.
    pub async fn ok(&self, payload: Value) -> Value {
        match self.invoke(payload).await {
            Answer::Response(v) => v,
            Answer::Error(e) => panic!("{} failed: {e}\nlog:\n{}", self.name, self.log_text()),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The function's JSON log lines (Lambda's JSON log format).
    pub fn log_lines(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

async fn next(State(api): State<Api>) -> (HeaderMap, Bytes) {
    let Some((id, payload)) = api.next.lock().await.recv().await else {
        // The test is over; the process is about to be killed.
        return std::future::pending().await;
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 120_000;
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).unwrap());
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            api.function
        ),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_owned(),
    );
    (headers, Bytes::from(serde_json::to_vec(&payload).unwrap()))
}

fn answer(api: &Api, id: &str, answer: Answer) -> StatusCode {
    match api.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answer(&api, &id, Answer::Response(value))
}

async fn error(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answer(&api, &id, Answer::Error(value))
}

async fn init_error_route(State(api): State<Api>, body: Bytes) -> StatusCode {
    *api.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
