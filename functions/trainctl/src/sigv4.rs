//! Signing requests to the deployed API (API Gateway with IAM authorization) with SigV4,
//! from the standard AWS credential chain: environment, profiles, SSO, credential process.

use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::identity::Identity;

/// API Gateway's signing name.
const SERVICE: &str = "execute-api";

#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
    region: String,
}

impl Signer {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    /// Credentials and region from the standard chain; `region` overrides the chain's.
    pub fn from_environment(region: Option<&str>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        runtime.block_on(async {
            // rustls on ring, as the functions' clients (the workspace leaves the SDK's
            // default HTTPS client out): the SSO and STS providers call AWS through it.
            let https = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https();
            let config = aws_config::defaults(BehaviorVersion::latest())
                .http_client(https)
                .load()
                .await;
            let region = region
                .map(str::to_owned)
                .or_else(|| config.region().map(ToString::to_string))
                .ok_or("no AWS region: set AWS_REGION, a profile region or --region")?;
            let provider = config
                .credentials_provider()
                .ok_or("no AWS credentials provider is configured")?;
            let credentials = provider.provide_credentials().await.map_err(|e| {
                format!(
                    "no AWS credentials ({e}); log in (aws sso login, a profile or AWS_* variables)"
                )
            })?;
            Ok(Self::new(credentials, region))
        })
    }

    /// The headers that sign `method url` with `body` at `time` (host, x-amz-date,
    /// x-amz-content-sha256 where needed, x-amz-security-token, authorization).
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, String> {
        let identity: Identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let host = host_of(url).ok_or_else(|| format!("{url} has no host"))?;
        let mut headers = vec![("host", host.as_str())];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let request =
            SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| format!("cannot sign {url}: {e}"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| format!("cannot sign {url}: {e}"))?
            .into_parts();
        let (signed, _) = instructions.into_parts();
        Ok(signed
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect())
    }
}

/// `host[:port]` of an http(s) URL.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    (!authority.is_empty()).then(|| authority.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_adds_a_v4_authorization_for_execute_api_in_the_region() {
        let signer = Signer::new(
            Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test"),
            "eu-central-1",
        );
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let headers = signer
            .headers(
                "POST",
                "https://abc.execute-api.eu-central-1.amazonaws.com/trains/x/cancel",
                Some("application/json"),
                b"{}",
                time,
            )
            .unwrap();
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(
            auth.contains("/eu-central-1/execute-api/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(get("x-amz-security-token"), Some("token"));
        assert_eq!(
            host_of("http://127.0.0.1:8080/trains?x=1").as_deref(),
            Some("127.0.0.1:8080")
        );
    }
}
