//! A fault-injecting HTTP proxy on loopback between the AWS SDK and the emulator. At a set
//! rate it answers a request itself with a 5xx, with throttling, or not in time (before
//! the emulator saw it), or it forwards the request and then lets the answer time out
//! (the emulator applied it; the caller does not know). It can also "crash" the caller:
//! from the n-th request on, nothing reaches the emulator, as if the function had stopped
//! there.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How long the SDK waits for one attempt behind the proxy; a "timeout" outlasts it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    ServerError,
    Throttled,
    /// No answer in time; the emulator never saw the request.
    TimedOut,
    /// The emulator applied the request; its answer never arrives in time.
    LostAfterApply,
}

const FAULTS: [Fault; 4] = [
    Fault::ServerError,
    Fault::Throttled,
    Fault::TimedOut,
    Fault::LostAfterApply,
];

struct Shared {
    upstream: String,
    /// Faults per thousand requests.
    rate: AtomicU64,
    rng: Mutex<fastrand::Rng>,
    requests: AtomicU64,
    /// From this request on (1-based), nothing reaches the emulator.
    crash_at: AtomicU64,
    /// Whether the request at `crash_at` itself is applied before the crash.
    applied_at_crash: std::sync::atomic::AtomicBool,
    injected: Mutex<BTreeMap<Fault, u64>>,
    /// Told when the crash point is reached: the test drops the invocation there.
    crashed: tokio::sync::Notify,
    agent: ureq::Agent,
}

pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, seed: u64) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rate: AtomicU64::new(0),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            requests: AtomicU64::new(0),
            crash_at: AtomicU64::new(u64::MAX),
            applied_at_crash: std::sync::atomic::AtomicBool::new(false),
            injected: Mutex::new(BTreeMap::new()),
            crashed: tokio::sync::Notify::new(),
            agent,
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            endpoint,
            shared,
            task,
        }
    }

    /// Injects a fault into `per_thousand` of every thousand requests from now on.
    pub fn set_rate(&self, per_thousand: u64) {
        self.shared.rate.store(per_thousand, Ordering::SeqCst);
    }

    /// Stops the caller at its `n`-th request from now (1-based): that request is applied
    /// (`applied`) or not, and every later one fails.
    pub fn crash_at(&self, n: u64, applied: bool) {
        let seen = self.shared.requests.load(Ordering::SeqCst);
        self.shared
            .applied_at_crash
            .store(applied, Ordering::SeqCst);
        self.shared.crash_at.store(seen + n, Ordering::SeqCst);
    }

    /// Completes when the caller reaches its crash point.
    pub async fn crashed(&self) {
        self.shared.crashed.notified().await;
    }

    /// Runs `invocation` until it ends or reaches the crash point, where it is dropped
    /// mid-flight, as a function's process is when it dies. Returns whether it crashed.
    pub async fn run_until_crash<T>(
        &self,
        invocation: impl std::future::Future<Output = T>,
    ) -> bool {
        tokio::select! {
            _ = invocation => false,
            () = self.crashed() => true,
        }
    }

    /// No crash point any more.
    pub fn heal(&self) {
        self.shared.crash_at.store(u64::MAX, Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// The SDK configuration a function has (its retries; an attempt timeout shorter than
    /// a function's, so a test waits less), pointed at this proxy.
    pub async fn sdk(&self) -> SdkConfig {
        let credentials =
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "emulator");
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(train_aws::https_client())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .retry_config(train_aws::retry_config())
            .load()
            .await
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// S3 speaks XML and names throttling `SlowDown`; the JSON services name it in `__type`.
fn fault_answer(fault: Fault, xml: bool) -> Response {
    let (status, code) = match (fault, xml) {
        (Fault::Throttled, true) => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
        (Fault::Throttled, false) => (StatusCode::BAD_REQUEST, "ThrottlingException"),
        (_, true) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        (_, false) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
    };
    let body = if xml {
        format!("<Error><Code>{code}</Code><Message>injected fault</Message></Error>")
    } else {
        format!(r#"{{"__type":"{code}","message":"injected fault"}}"#)
    };
    let content_type = if xml {
        "application/xml"
    } else {
        "application/x-amz-json-1.0"
    };
    (
        status,
        [
            ("content-type", content_type),
            ("x-amzn-errortype", code),
            ("x-amz-request-id", "injected"),
        ],
        body,
    )
        .into_response()
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let xml = !parts.headers.contains_key("x-amz-target");
    let n = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let crash_at = shared.crash_at.load(Ordering::SeqCst);
    if n >= crash_at {
        // The function stops here: the request reaches AWS or not, its answer never
        // arrives, and nothing after it is sent.
        if n == crash_at && shared.applied_at_crash.load(Ordering::SeqCst) {
            let _ = send(&shared, parts.method, &parts.uri, &parts.headers, body).await;
        }
        if n == crash_at {
            // Wakes the waiting test only; a later request of the dying invocation leaves
            // nothing behind for the next one.
            shared.crashed.notify_waiters();
        }
        return fault_answer(Fault::ServerError, xml);
    }
    let fault = {
        let mut rng = shared.rng.lock().unwrap();
        (rng.u64(0..1000) < shared.rate.load(Ordering::SeqCst))
            .then(|| FAULTS[rng.usize(0..FAULTS.len())])
    };
    if let Some(f) = fault {
        *shared.injected.lock().unwrap().entry(f).or_default() += 1;
    }
    match fault {
        None => send(&shared, parts.method, &parts.uri, &parts.headers, body).await,
        Some(Fault::LostAfterApply) => {
            let _ = send(&shared, parts.method, &parts.uri, &parts.headers, body).await;
            tokio::time::sleep(ATTEMPT_TIMEOUT + Duration::from_millis(100)).await;
            fault_answer(Fault::ServerError, xml)
        }
        Some(Fault::TimedOut) => {
            tokio::time::sleep(ATTEMPT_TIMEOUT + Duration::from_millis(100)).await;
            fault_answer(Fault::ServerError, xml)
        }
        Some(f) => fault_answer(f, xml),
    }
}

/// Forwards one request to the emulator and returns its answer.
async fn send(
    shared: &Arc<Shared>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut builder = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(&url);
    for (name, value) in headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let request = builder.body(body.to_vec()).unwrap();
    let agent = shared.agent.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut res = agent.run(request)?;
        let status = res.status().as_u16();
        let headers: Vec<(String, Vec<u8>)> = res
            .headers()
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                )
            })
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let body = res.body_mut().with_config().limit(64 << 20).read_to_vec()?;
        Ok::<_, ureq::Error>((status, headers, body))
    })
    .await
    .unwrap();
    match answer {
        Ok((status, headers, body)) => {
            let mut res = Response::builder().status(status);
            for (n, v) in headers {
                res = res.header(n, v);
            }
            res.body(Body::from(body)).unwrap()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
