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

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

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

/// The SDK configuration for the functions: the standard chain for region and credentials,
/// [`retry_config`] and short timeouts.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retry_config())
        .load()
        .await
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
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .timeout_config(patient)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}
