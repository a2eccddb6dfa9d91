//! What the five Lambda functions share: the deployment they run in (settings, clients and
//! the engine, built once per process), and each function's handler. The `main.rs` of a
//! function only names its handler: [`run_json`] sets up
//! tracing, builds the [`Deployment`] and hands the handler to the runtime, so everything a
//! test needs to reach lives here.
//!
//! # Layout
//! - [`Deployment`]: settings from the environment, `release-train.toml`, SDK clients, engine.
//! - [`scheduled`]: the cut and promote schedules (and the reconcile tick).
//! - [`events`]: CodeBuild build state changes and CloudWatch alarm state changes.
//! - [`http`]: the HTTP API, API Gateway's payload format 2.0 in front of [`train_engine::api`].
//! - [`widget`]: the dashboard's custom widget, the status page's renderer.
//! - [`wiring`]: the adapters each function wires, and so the SDK clients it links.
//! - [`iam`]: the IAM actions the functions need, from the SDK operations they call.
//! - [`Failure`]: what a handler reports, classified retryable or not.

pub mod events;
pub mod http;
pub mod iam;
pub mod scheduled;
pub mod widget;
pub mod wiring;

use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{error, info, warn};
use train_aws::{CallCounter, EmfMetrics};
use train_core::{Config, Stage};
use train_engine::{Engine, EngineError, Ports};
pub use wiring::{Clients, Unwired, Wiring};

/// The environment variables the functions read; the template sets each of them (a test
/// checks both ways).
pub mod env {
    /// The DynamoDB table holding trains, outboxes and build claims.
    pub const TABLE: &str = "TRAIN_TABLE";
    /// The S3 bucket for manifests (versioned, write-once keys).
    pub const BUCKET: &str = "MANIFEST_BUCKET";
    /// The EventBridge bus the train's state changes go to.
    pub const BUS: &str = "EVENT_BUS";
    /// Where `release-train.toml` is: the config layer puts it at `/opt/release-train.toml`.
    pub const CONFIG: &str = "CONFIG_PATH";
    /// The `sts:ExternalId` member roles require (the stack's `ExternalId` output).
    pub const EXTERNAL_ID: &str = "ASSUME_ROLE_EXTERNAL_ID";
    /// The train's own account: its events are accepted beside the member accounts'.
    pub const ACCOUNT: &str = "TRAIN_ACCOUNT_ID";
    pub const ALL: [&str; 6] = [TABLE, BUCKET, BUS, CONFIG, EXTERNAL_ID, ACCOUNT];
}

/// The longest outcome an invocation's log line carries whole (bytes of JSON).
const LOGGED_OUTCOME: usize = 2048;

/// Where manifests go inside the bucket.
pub const MANIFEST_PREFIX: &str = "trains/";

/// A function cannot start: a missing setting or a configuration mistake. Reported to the
/// runtime as an init error, so the deployment fails loudly instead of every invocation.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} is not set; the template sets it on every function")]
    Missing(&'static str),
    #[error("cannot read the configuration at {path}: {error}")]
    ReadConfig { path: PathBuf, error: String },
    #[error("the configuration has mistakes (fix them and redeploy the config layer):\n{0}")]
    Config(String),
}

/// The settings a function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub bus: String,
    pub config_path: PathBuf,
    pub external_id: String,
    pub account: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, SetupError> {
        let get = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(SetupError::Missing(name))
        };
        Ok(Self {
            table: get(env::TABLE)?,
            bucket: get(env::BUCKET)?,
            bus: get(env::BUS)?,
            config_path: PathBuf::from(get(env::CONFIG)?),
            external_id: get(env::EXTERNAL_ID)?,
            account: get(env::ACCOUNT)?,
        })
    }

    pub fn load_config(&self) -> Result<Config, SetupError> {
        let text =
            std::fs::read_to_string(&self.config_path).map_err(|e| SetupError::ReadConfig {
                path: self.config_path.clone(),
                error: e.to_string(),
            })?;
        Config::parse(&text)
            .map_err(|e| SetupError::Config(e.render(&self.config_path.display().to_string())))
    }
}

/// Everything a function needs, built once per process (outside the handler) and shared by
/// every invocation of that process.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub engine: Engine,
    /// The accounts whose events are the train's: its own and each member role's.
    pub accounts: EventAccounts,
    /// SDK calls by operation since the process started; each invocation logs its own.
    pub calls: CallCounter,
}

impl Deployment {
    /// Settings from the environment, the configuration file, and clients from the standard
    /// credential chain.
    pub fn from_env(wiring: &Wiring) -> Result<Self, SetupError> {
        let settings = Settings::from_env()?;
        let config = settings.load_config()?;
        let sdk = train_aws::sdk_config();
        Ok(Self::new(&settings, Arc::new(config), &sdk, wiring))
    }

    /// The deployment of one function: its [`Wiring`] names the adapters it builds; the
    /// ports it never reaches get [`wiring::Unwired`], and no client for them.
    pub fn new(settings: &Settings, config: Arc<Config>, sdk: &SdkConfig, wiring: &Wiring) -> Self {
        let calls = CallCounter::default();
        let clients = Clients::new(settings, &config, sdk, &calls);
        let unwired = |port| {
            Arc::new(Unwired {
                function: wiring.function,
                port,
            })
        };
        let ports = Ports {
            store: wiring::dynamo_store(&clients),
            builder: wiring
                .builder
                .map_or_else(|| unwired("builder") as _, |w| w(&clients)),
            manifests: wiring
                .manifests
                .map_or_else(|| unwired("manifests") as _, |w| w(&clients)),
            events: wiring
                .events
                .map_or_else(|| unwired("events") as _, |w| w(&clients)),
            metrics: if wiring.metrics {
                Arc::new(EmfMetrics)
            } else {
                unwired("metrics")
            },
            alarms: wiring
                .alarms
                .map_or_else(|| unwired("alarms") as _, |w| w(&clients)),
        };
        drop(clients);
        let accounts = EventAccounts::of(&settings.account, &config);
        Self {
            engine: Engine::new(ports, config),
            accounts,
            calls,
        }
    }

    /// The SDK calls by operation since `before`, as a JSON object for the log.
    pub fn calls_since(&self, before: &std::collections::BTreeMap<String, u64>) -> String {
        let calls: serde_json::Map<String, Value> = self
            .calls
            .snapshot()
            .into_iter()
            .filter_map(|(op, n)| {
                let n = n - before.get(&op).copied().unwrap_or(0);
                (n > 0).then(|| (op, Value::from(n)))
            })
            .collect();
        Value::Object(calls).to_string()
    }

    /// Runs one invocation's work and logs its outcome with the SDK calls it made, so a
    /// function's log says what it did and what it cost.
    pub async fn invoke<F>(&self, what: &'static str, work: F) -> Result<Value, Failure>
    where
        F: Future<Output = Result<Value, Failure>>,
    {
        let before = self.calls.snapshot();
        let result = work.await;
        let calls = self.calls_since(&before);
        match &result {
            // An answer a person reads elsewhere (the API's train views, the widget's
            // HTML) is not copied into the log: its size is enough there.
            Ok(outcome) => match outcome.to_string() {
                text if text.len() <= LOGGED_OUTCOME => {
                    info!(invocation = what, outcome = %text, aws_calls = %calls, "handled");
                }
                text => {
                    info!(invocation = what, outcome_bytes = text.len(), aws_calls = %calls, "handled");
                }
            },
            Err(Failure::Ignored(why)) => {
                warn!(invocation = what, reason = %why, aws_calls = %calls, "ignored");
            }
            Err(Failure::Fault { message, retryable }) => {
                error!(invocation = what, error = %message, retryable, aws_calls = %calls, "failed");
            }
        }
        result
    }
}

/// Which accounts' events are the train's, and the stages each member account serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventAccounts {
    /// The train's own account (`TRAIN_ACCOUNT_ID`).
    pub own: String,
    /// Member accounts, each with the stages `[accounts]` gives it (for a `staging:` or
    /// `production:` alarm); an account only a component's own role names has none.
    pub members: std::collections::BTreeMap<String, Vec<Stage>>,
}

impl EventAccounts {
    pub fn of(own: &str, config: &Config) -> Self {
        let mut members: std::collections::BTreeMap<String, Vec<Stage>> = config
            .member_roles()
            .into_iter()
            .map(|r| (r.account().to_owned(), Vec::new()))
            .collect();
        for stage in [Stage::Staging, Stage::Production] {
            if let Some(role) = config.accounts.role(stage) {
                members
                    .entry(role.account().to_owned())
                    .or_default()
                    .push(stage);
            }
        }
        Self {
            own: own.to_owned(),
            members,
        }
    }

    /// Whether an event from `account` may change a train: the train's own account or one
    /// a role in `release-train.toml` is in. EventBridge sets `account` on every event
    /// ("account: The 12-digit number identifying an AWS account", Amazon EventBridge User
    /// Guide, "Amazon EventBridge event structure"), so an event without one is refused.
    pub fn accepts(&self, account: Option<&str>) -> bool {
        account.is_some_and(|a| a == self.own || self.members.contains_key(a))
    }
}

/// Why an invocation did not do its work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The payload is not for us or cannot be used; a retry would see the same payload, so
    /// the invocation is acknowledged (and logged) rather than retried.
    #[error("ignored: {0}")]
    Ignored(String),
    /// A fault. Lambda retries the invocation, then sends it to the dead-letter queue;
    /// `retryable: false` marks faults a retry is unlikely to fix (permissions, a missing
    /// table), which the log and the DLQ alarm bring to a person.
    #[error("{message}")]
    Fault { message: String, retryable: bool },
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Fault {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// The whole `main` of a function whose events are JSON (a schedule's firings, EventBridge's
/// events): tracing, the [`Deployment`] built once per process outside the handler, then
/// each event's payload through `handle`, logged with its AWS calls ([`Deployment::invoke`])
/// and answered as the runtime expects ([`respond`]).
///
/// # Errors
/// The deployment cannot be built from the environment, or the runtime API fails.
pub async fn run_json<H, F>(wiring: &Wiring, handle: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(&'static Deployment, Value) -> F,
    F: Future<Output = Result<Value, Failure>>,
{
    init_tracing();
    let what = wiring.function;
    // One per process, alive until the process ends: every invocation borrows it.
    let deployment: &'static Deployment = Box::leak(Box::new(Deployment::from_env(wiring)?));
    let handler = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
        let work = handle(deployment, event.payload);
        async move { respond(deployment.invoke(what, work).await) }
    });
    Box::pin(lambda_runtime::run(handler)).await
}

/// What a handler returns to the runtime: acknowledged payloads as a JSON answer, faults as
/// an error so Lambda retries.
pub fn respond(result: Result<Value, Failure>) -> Result<Value, lambda_runtime::Error> {
    match result {
        Ok(v) => Ok(v),
        Err(Failure::Ignored(why)) => Ok(serde_json::json!({ "ignored": why })),
        Err(fault @ Failure::Fault { .. }) => Err(fault.into()),
    }
}

/// Logging as Lambda's advanced logging controls ask: JSON lines when `AWS_LAMBDA_LOG_FORMAT`
/// is `JSON` (the template sets it), at the level of `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`,
/// else INFO). The same as `lambda_runtime::tracing::init_default_subscriber`, but with a
/// level instead of an `EnvFilter`, whose regular expression engine would be a quarter of
/// a megabyte of every function's binary for per-module filters no function uses.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json {
        fmt.json().init();
    } else {
        fmt.init();
    }
}

/// The current time: the one clock the functions read, passed into the engine.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}
