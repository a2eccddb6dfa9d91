//! The AWS side of the release train's ports, on the official AWS SDK for Rust.
//!
//! Each adapter keeps its wire format to itself: the train's items are [`dynamo`]'s, and
//! [`codebuild`] writes only its own claim items (`BUILD#<key>`) to the same table. Clients are built once per process from one [`aws_config::SdkConfig`]:
//! region and credentials from the standard chain, an endpoint override for emulators
//! (`AWS_ENDPOINT_URL`, the SDK's own variable), and deliberate timeouts and retries.
//!
//! # Layout
//! - [`accounts`]: credentials for a member account, assumed through the role the config names.
//! - [`dynamo`]: `DynamoStore`, the train store (items per component, journaled large commits).
//! - [`codebuild`]: `CodeBuildBuilder`, builds at the pinned commit, at most one per key.
//! - [`s3`]: `S3Manifests`, write-once manifests in a versioned bucket.
//! - [`events`]: `EventBridgeEvents`, one event per state change on the train's bus.
//! - [`alarms`]: `CloudWatchAlarms`, which gating alarms are in ALARM.
//! - [`metrics`]: `EmfMetrics`, metrics as Embedded Metric Format lines in the function's log.
//! - [`faults`]: which AWS errors are retried, from the documented error codes (one table),
//!   and the conditional-write helpers every adapter shares.
//! - [`calls`]: an interceptor that counts SDK calls by operation, for tests and benchmarks.

pub mod accounts;
pub mod alarms;
pub mod calls;
pub mod codebuild;
pub mod dynamo;
pub mod events;
pub mod faults;
pub mod metrics;
pub mod s3;

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use alarms::CloudWatchAlarms;
pub use calls::CallCounter;
pub use codebuild::CodeBuildBuilder;
pub use dynamo::DynamoStore;
pub use events::EventBridgeEvents;
pub use metrics::EmfMetrics;
pub use s3::S3Manifests;

/// Timeouts for a Lambda function's calls: short enough to retry within one invocation.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

/// The functions' retries: three attempts with exponential backoff and jitter, then the
/// error goes back to the engine, which leaves the effect in the outbox for the next pass.
/// Not adaptive mode: its client-side rate limiter, fed by throttling, held each call back
/// for about a second under the reliability suite's 20% injected faults (three trains took
/// 477 s instead of 18 s), which in a function with a 60 s timeout turns throttling into
/// timed-out invocations (RELIABILITY.md).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The HTTPS client every SDK client uses: hyper with rustls on ring, trusting the system's
/// certificates (the smithy client's documented `tls_provider` choice; its default would
/// use aws-lc, see the workspace `Cargo.toml`).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK configuration for the functions, from what the Lambda runtime puts in every
/// function's environment: the region (`AWS_REGION`) and the execution role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: "The access keys
/// obtained from the function's execution role", AWS Lambda Developer Guide, "Defined
/// runtime environment variables"), and `AWS_ENDPOINT_URL` when set (an emulator); then
/// [`retry_config`], short timeouts and [`https_client`]. Not the SDK's whole default chain:
/// its other providers (profile files, web identity, ECS, instance metadata) never apply in
/// Lambda, and their code was a tenth of a megabyte of every function's zip.
pub fn sdk_config() -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(env("AWS_REGION").map(Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https_client())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::default())
        .timeout_config(timeouts())
        .retry_config(retry_config());
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The SDK configuration for tests against an emulator on loopback: static credentials,
/// us-east-1, no retries (a test must see every failure), and patient timeouts (the
/// emulator serves one request at a time, so a busy one answers late, not wrongly).
pub async fn emulator_config(endpoint: &str) -> SdkConfig {
    let patient = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_mins(2))
        .build();
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "emulator");
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .timeout_config(patient)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}
