//! Which adapter each function wires to each engine port. A function links only the SDK
//! clients it calls: each [`Wiring`] names the constructors of its adapters, and a port a
//! function never reaches gets [`Unwired`] instead, so the constructor of that port's
//! adapter (and with it the SDK client's code) is not referenced from that function's `main`
//! and the linker leaves it out. `cut` and `api` carry no CloudWatch client, `widget` no
//! client but DynamoDB's (BENCHMARKS.md, "Deployment zips").
//!
//! The same table decides each function's IAM grants: [`crate::iam::FUNCTIONS`] is held to
//! [`Wiring::ports`] by a test, and the template's roles to `iam::FUNCTIONS` by another.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use train_aws::{
    CallCounter, CloudWatchAlarms, CodeBuildBuilder, DynamoStore, EventBridgeEvents, S3Manifests,
};
use train_core::config::RoleArn;
use train_core::{AlarmName, Announcement, BuildId, BuildRequest, Config, Metric, State, TrainId};
use train_engine::PortError;
use train_engine::ports::{
    Alarms, Builder, EventsOut, Manifests, Metrics, Observed, Started, Written,
};

use crate::{MANIFEST_PREFIX, Settings};

/// Builds one port's adapter from the process's clients.
pub type Wire<T> = fn(&Clients<'_>) -> Arc<T>;

/// The adapters one function wires. The store (DynamoDB) is every function's; the other
/// ports are wired only where the function's handler reaches them (the metrics are EMF
/// lines on stdout: no client, but the table says who emits).
#[derive(Debug, Clone, Copy)]
pub struct Wiring {
    /// The function's name, as its crate under `functions/` and [`crate::iam::FUNCTIONS`].
    pub function: &'static str,
    pub builder: Option<Wire<dyn Builder>>,
    pub manifests: Option<Wire<dyn Manifests>>,
    pub events: Option<Wire<dyn EventsOut>>,
    pub metrics: bool,
    pub alarms: Option<Wire<dyn Alarms>>,
}

impl Wiring {
    /// A cut commits a train and runs its effects (builds, a superseded train's manifest,
    /// events); it never reads an alarm.
    pub const CUT: Self = Self {
        function: "cut",
        builder: Some(codebuild),
        manifests: Some(s3),
        events: Some(eventbridge),
        metrics: true,
        alarms: None,
    };
    /// Promotion and the reconcile pass read the gating alarms before a wave starts.
    pub const PROMOTE: Self = Self {
        function: "promote",
        builder: Some(codebuild),
        manifests: Some(s3),
        events: Some(eventbridge),
        metrics: true,
        alarms: Some(cloudwatch),
    };
    /// A build event reconciles its train, which may start the next wave: alarms too.
    pub const EVENTS: Self = Self {
        function: "events",
        builder: Some(codebuild),
        manifests: Some(s3),
        events: Some(eventbridge),
        metrics: true,
        alarms: Some(cloudwatch),
    };
    /// An operator command commits a decision and runs its effects (a cancel stops the
    /// running builds and writes the manifest); it never reads an alarm.
    pub const API: Self = Self {
        function: "api",
        builder: Some(codebuild),
        manifests: Some(s3),
        events: Some(eventbridge),
        metrics: true,
        alarms: None,
    };
    /// The dashboard's custom widget only reads the store.
    pub const WIDGET: Self = Self {
        function: "widget",
        builder: None,
        manifests: None,
        events: None,
        metrics: false,
        alarms: None,
    };
    /// Every function's wiring. Tests only: a binary that named this would link every
    /// adapter.
    pub const ALL: [Self; 5] = [
        Self::CUT,
        Self::PROMOTE,
        Self::EVENTS,
        Self::API,
        Self::WIDGET,
    ];

    /// The ports this function reaches, by their `train_engine::Ports` field names.
    pub fn ports(&self) -> Vec<&'static str> {
        let mut ports = vec!["store"];
        if self.builder.is_some() {
            ports.push("builder");
        }
        if self.manifests.is_some() {
            ports.push("manifests");
        }
        if self.events.is_some() {
            ports.push("events");
        }
        if self.metrics {
            ports.push("metrics");
        }
        if self.alarms.is_some() {
            ports.push("alarms");
        }
        ports
    }
}

/// What the adapters are built from: the settings, the configuration, the SDK
/// configuration, and the call counter every client reports to.
#[derive(Debug)]
pub struct Clients<'a> {
    pub settings: &'a Settings,
    pub config: &'a Config,
    pub sdk: &'a SdkConfig,
    pub calls: &'a CallCounter,
    /// One configuration per member role, built on first use: the builder and the alarms of
    /// a role share it, so they share one provider and one identity cache (one `AssumeRole`
    /// until the credentials expire).
    members: OnceCell<BTreeMap<RoleArn, SdkConfig>>,
    dynamo: OnceCell<aws_sdk_dynamodb::Client>,
}

/// Builds an SDK client that counts its calls; `$tweak` adjusts its configuration.
macro_rules! client {
    ($calls:expr, $sdk:ident, $conf:expr) => {
        client!($calls, $sdk, $conf, |b| b)
    };
    ($calls:expr, $sdk:ident, $conf:expr, $tweak:expr) => {
        $sdk::Client::from_conf(
            ($tweak)($sdk::config::Builder::from($conf))
                .interceptor($calls.clone())
                .build(),
        )
    };
}

impl<'a> Clients<'a> {
    pub fn new(
        settings: &'a Settings,
        config: &'a Config,
        sdk: &'a SdkConfig,
        calls: &'a CallCounter,
    ) -> Self {
        Self {
            settings,
            config,
            sdk,
            calls,
            members: OnceCell::new(),
            dynamo: OnceCell::new(),
        }
    }

    /// The DynamoDB client: the store's, and the builder's for its start claims.
    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        self.dynamo
            .get_or_init(|| client!(self.calls, aws_sdk_dynamodb, self.sdk))
            .clone()
    }

    /// A member account's configuration: its role, assumed with the functions' own
    /// credentials and the stack's external id.
    fn member(&self, role: &RoleArn) -> &SdkConfig {
        let members = self.members.get_or_init(|| {
            self.config
                .member_roles()
                .into_iter()
                .map(|role| {
                    let assumed =
                        train_aws::accounts::assumed(self.sdk, role, &self.settings.external_id);
                    (role.clone(), assumed)
                })
                .collect()
        });
        &members[role]
    }
}

/// The store, every function's.
pub fn dynamo_store(c: &Clients<'_>) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(c.dynamo(), &c.settings.table))
}

fn codebuild(c: &Clients<'_>) -> Arc<dyn Builder> {
    let own = client!(c.calls, aws_sdk_codebuild, c.sdk);
    let builder = CodeBuildBuilder::new(own, c.dynamo(), &c.settings.table)
        .with_accounts(c.config, |role| {
            client!(c.calls, aws_sdk_codebuild, c.member(role))
        });
    Arc::new(builder)
}

fn s3(c: &Clients<'_>) -> Arc<dyn Manifests> {
    // An endpoint override means an emulator or an S3-compatible store: those address
    // buckets by path, not by host name.
    let path_style = c.sdk.endpoint_url().is_some();
    let s3 = client!(
        c.calls,
        aws_sdk_s3,
        c.sdk,
        |b: aws_sdk_s3::config::Builder| b.force_path_style(path_style)
    );
    Arc::new(S3Manifests::new(s3, &c.settings.bucket, MANIFEST_PREFIX))
}

fn eventbridge(c: &Clients<'_>) -> Arc<dyn EventsOut> {
    let client = client!(c.calls, aws_sdk_eventbridge, c.sdk);
    Arc::new(EventBridgeEvents::new(client, &c.settings.bus))
}

fn cloudwatch(c: &Clients<'_>) -> Arc<dyn Alarms> {
    let own = client!(c.calls, aws_sdk_cloudwatch, c.sdk);
    let alarms = CloudWatchAlarms::new(own).with_accounts(&c.config.accounts, |role| {
        client!(c.calls, aws_sdk_cloudwatch, c.member(role))
    });
    Arc::new(alarms)
}

/// A port the function does not wire. Reaching it is a bug in [`Wiring`] (the function's
/// handler reaches a port its table says it never does, and its role would not allow the
/// call either): the error says so, and is fatal, so the invocation fails loudly instead of
/// retrying.
#[derive(Debug, Clone, Copy)]
pub struct Unwired {
    pub function: &'static str,
    pub port: &'static str,
}

impl Unwired {
    fn error(&self) -> PortError {
        PortError::fatal(format!(
            "the {} function has no {} port: its handler reached a port shared/lambda/src/wiring.rs does not wire for it (and its role does not grant); wire it there and in iam::FUNCTIONS",
            self.function, self.port
        ))
    }
}

#[async_trait]
impl Builder for Unwired {
    async fn start(&self, _: &BuildRequest) -> Result<Started, PortError> {
        Err(self.error())
    }
    async fn poll(&self, _: &[BuildId]) -> Result<Vec<(BuildId, Observed)>, PortError> {
        Err(self.error())
    }
    async fn stop(&self, _: &BuildId) -> Result<(), PortError> {
        Err(self.error())
    }
}

#[async_trait]
impl Manifests for Unwired {
    async fn put(&self, _: &TrainId, _: State, _: &[u8]) -> Result<Written, PortError> {
        Err(self.error())
    }
}

#[async_trait]
impl EventsOut for Unwired {
    async fn publish(&self, _: &Announcement) -> Result<(), PortError> {
        Err(self.error())
    }
}

#[async_trait]
impl Metrics for Unwired {
    async fn emit(&self, _: &TrainId, _: &Metric, _: DateTime<Utc>) -> Result<(), PortError> {
        Err(self.error())
    }
}

#[async_trait]
impl Alarms for Unwired {
    async fn firing(&self, _: &[AlarmName]) -> Result<Vec<AlarmName>, PortError> {
        Err(self.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_s_wiring_is_its_iam_table() {
        for wiring in Wiring::ALL {
            let (_, table) = crate::iam::FUNCTIONS
                .iter()
                .find(|(f, _)| *f == wiring.function)
                .unwrap_or_else(|| panic!("iam::FUNCTIONS lacks {}", wiring.function));
            let mut table = table.to_vec();
            let mut wired = wiring.ports();
            table.sort_unstable();
            wired.sort_unstable();
            assert_eq!(wired, table, "{}", wiring.function);
        }
        assert_eq!(Wiring::ALL.len(), crate::iam::FUNCTIONS.len());
    }
}
