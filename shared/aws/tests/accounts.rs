//! A member account's credentials against STS's documented contract. The emulator assumes
//! any role for anyone and checks no external id, so what AWS checks is tested here on the
//! request the functions send, with STS's documented answer replayed (`StaticReplayClient`):
//!
//! - `AssumeRole` carries the role, the external id the member role's trust policy demands
//!   (`sts:ExternalId`) and the session name (Query API parameters `RoleArn`, `ExternalId`,
//!   `RoleSessionName`: `AssumeRole`, AWS STS API Reference,
//!   <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>);
//! - the calls that follow are signed with the returned credentials, the session token in
//!   the `X-Amz-Security-Token` header, as Signature Version 4 takes temporary credentials
//!   (AWS General Reference, "Signature Version 4 signing process", temporary security
//!   credentials);
//! - the credentials are assumed once and reused while they are valid, by every client of
//!   the same configuration.

use aws_sdk_codebuild::config::Credentials;
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use train_core::config::RoleArn;

/// The example response of the `AssumeRole` API reference, with an expiry in the future (the
/// document's is in 2019, which the SDK would refresh at once).
const ASSUME_ROLE_RESPONSE: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::222222222222:assumed-role/release-train-builds/release-train</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:release-train</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>IQoJb3JpZ2luX2VjEXAMPLETOKEN</SessionToken>
      <Expiration>2099-11-09T13:34:41Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;

fn event(body: &'static str) -> ReplayEvent {
    ReplayEvent::new(
        Request::new(SdkBody::empty()),
        Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body)),
    )
}

#[tokio::test]
async fn a_member_role_is_assumed_once_with_the_external_id_and_its_credentials_sign_the_calls() {
    let no_builds = r#"{"builds":[],"buildsNotFound":["api-production:1"]}"#;
    let http = StaticReplayClient::new(vec![
        event(ASSUME_ROLE_RESPONSE),
        event(no_builds),
        event(no_builds),
        event(no_builds),
    ]);
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDTRAIN",
            "train-secret",
            None,
            None,
            "test",
        ))
        .http_client(http.clone())
        .load()
        .await;
    let role = RoleArn::parse("arn:aws:iam::222222222222:role/release-train-builds").unwrap();
    let member = train_aws::accounts::assumed(&base, &role, "8f2c4a1e-external-id");
    // Two clients of one configuration, as a function builds them for a role.
    let first = aws_sdk_codebuild::Client::new(&member);
    let second = aws_sdk_codebuild::Client::new(&member);
    for client in [&first, &first, &second] {
        client
            .batch_get_builds()
            .ids("api-production:1")
            .send()
            .await
            .unwrap();
    }

    let requests: Vec<_> = http.actual_requests().collect();
    assert_eq!(
        requests.len(),
        4,
        "one AssumeRole, then three CodeBuild calls"
    );
    let sts = std::str::from_utf8(requests[0].body().bytes().unwrap()).unwrap();
    for part in [
        "Action=AssumeRole",
        "RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Frelease-train-builds",
        "ExternalId=8f2c4a1e-external-id",
        "RoleSessionName=release-train",
    ] {
        assert!(sts.contains(part), "{part} in {sts}");
    }
    let signed_by = |r: &Request| {
        r.headers()
            .get("authorization")
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        signed_by(requests[0]).contains("Credential=AKIDTRAIN/"),
        "STS with the function's own"
    );
    for r in &requests[1..] {
        assert!(
            signed_by(r).contains("Credential=ASIAIOSFODNN7EXAMPLE/"),
            "{}",
            signed_by(r)
        );
        assert_eq!(
            r.headers().get("x-amz-security-token"),
            Some("IQoJb3JpZ2luX2VjEXAMPLETOKEN")
        );
    }
    // Nothing secret in what a log line would print.
    let shown = format!("{member:?}");
    assert!(
        !shown.contains("train-secret") && !shown.contains("wJalrXUtnFEMI"),
        "{shown}"
    );
}
