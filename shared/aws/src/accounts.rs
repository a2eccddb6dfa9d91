//! Calls into member accounts: an [`SdkConfig`] whose credentials come from `sts:AssumeRole`
//! into the role `release-train.toml` names for a stage, with the external id the member
//! stack requires.
//!
//! "If the administrator of the account to which the role belongs provided you with an
//! external ID, then provide that value in the `ExternalId` parameter" (`AssumeRole`, AWS STS
//! API Reference, <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>):
//! the member role's trust policy checks it with the `sts:ExternalId` condition key, and both
//! stacks share it (the train stack derives it from its stack id unless one is given). The
//! credentials are the SDK's to keep: every client built from the returned configuration
//! caches them in its identity cache until shortly before they expire (one `AssumeRole`
//! per client per hour, the default session length), and the SDK's `Credentials` print
//! their secret parts redacted, so no log line carries them.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use train_core::config::RoleArn;

/// The session name the member accounts' `CloudTrail` shows for the train's calls:
/// "alphanumeric characters with no spaces. You can also include underscores or any of the
/// following characters: +=,.@-" (`AssumeRole`, `RoleSessionName`).
pub const SESSION_NAME: &str = "release-train";

/// The configuration of `sdk` (region, endpoint, timeouts, retries), with credentials for
/// `role`, assumed with the train's own credentials on first use.
pub fn assumed(sdk: &SdkConfig, role: &RoleArn, external_id: &str) -> SdkConfig {
    let provider = AssumedRole {
        role: role.as_str().to_owned(),
        external_id: external_id.to_owned(),
        base: sdk.clone(),
        provider: Arc::default(),
    };
    sdk.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// `AssumeRoleProvider`, built on first use (its builder is async, and the functions build
/// their clients once, before the first invocation, without a runtime at hand).
#[derive(Debug)]
struct AssumedRole {
    role: String,
    external_id: String,
    base: SdkConfig,
    provider: Arc<tokio::sync::OnceCell<AssumeRoleProvider>>,
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let provider = self
                .provider
                .get_or_init(|| {
                    AssumeRoleProvider::builder(&self.role)
                        .external_id(&self.external_id)
                        .session_name(SESSION_NAME)
                        .configure(&self.base)
                        .build()
                })
                .await;
            provider.provide_credentials().await
        })
    }
}
