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

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
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
        sts: aws_sdk_sts::Client::new(sdk),
    };
    sdk.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// Credentials from one `AssumeRole` call, made with the train's own credentials (`sts`'s).
/// Each client keeps them in its identity cache until shortly before they expire, so this
/// is called once per role and hour, not per call. The same call aws-config's
/// `AssumeRoleProvider` makes; that provider's builder links the SDK's whole default
/// credential chain (its fallback when no configuration is given: profile files, web
/// identity, ECS, instance metadata), a quarter of a megabyte of every function's zip.
#[derive(Debug)]
struct AssumedRole {
    role: String,
    external_id: String,
    sts: aws_sdk_sts::Client,
}

impl AssumedRole {
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let answer = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .external_id(&self.external_id)
            .role_session_name(SESSION_NAME)
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(format!(
                    "sts:AssumeRole into {} failed ({}); check the role's trust policy names this stack's function roles and external id",
                    self.role,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ))
            })?;
        let c = answer.credentials.ok_or_else(|| {
            CredentialsError::unhandled(format!(
                "sts:AssumeRole into {} returned no credentials",
                self.role
            ))
        })?;
        let expires = SystemTime::try_from(c.expiration).map_err(|e| {
            CredentialsError::unhandled(format!("sts:AssumeRole's expiration: {e}"))
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expires),
            "AssumeRole",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}
