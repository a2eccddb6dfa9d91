//! The `api` function: API Gateway's HTTP API (payload format 2.0, IAM authorization on
//! every route) in front of the same handler local mode serves, so routes, bodies and
//! answers are identical.
//!
//! The actor is the IAM principal API Gateway authenticated (`requestContext.authorizer.iam
//! .userArn`), never anything the caller writes in the body. A request without one (the
//! route misconfigured without IAM authorization) can read but not act.
//!
//! The request and the response are `aws_lambda_events`' types for payload format 2.0, on
//! the plain runtime ([`crate::run_json`]), as for the other functions: `lambda_http`'s
//! conversion to `http::Request` (its charset decoding, query maps and URL parsing) did
//! nothing this API needs and was 0.1 MB of the function's zip.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::http::header::{CONTENT_TYPE, HeaderValue};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::info;
use train_core::Actor;
use train_engine::api;

use crate::{Deployment, Failure};

/// The authenticated caller, from API Gateway's IAM authorizer context.
pub fn actor(req: &ApiGatewayV2httpRequest) -> Option<Actor> {
    let iam = req.request_context.authorizer.as_ref()?.iam.as_ref()?;
    let principal = iam.user_arn.as_deref().or(iam.caller_id.as_deref())?;
    Actor::parse(principal).ok()
}

/// One request, as API Gateway delivers it, answered as API Gateway expects.
pub async fn handle(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let req: ApiGatewayV2httpRequest = serde_json::from_value(payload).map_err(|e| {
        Failure::Ignored(format!("not an HTTP API request (payload format 2.0): {e}"))
    })?;
    let actor = actor(&req);
    // API Gateway base64-encodes a body it does not take for text.
    let body = match (req.body.as_deref(), req.is_base64_encoded) {
        (Some(b), true) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_else(|_| b.as_bytes().to_vec()),
        (Some(b), false) => b.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    let method = req.request_context.http.method.as_str();
    let path = req
        .raw_path
        .as_deref()
        .or(req.request_context.http.path.as_deref())
        .unwrap_or("/");
    let request = api::Request {
        method,
        path,
        query: req.raw_query_string.as_deref().filter(|q| !q.is_empty()),
        body: &body,
        actor: actor.clone(),
    };
    let response = api::handle(&deployment.engine, request, now).await;
    info!(
        method,
        path,
        actor = actor.as_ref().map_or("-", |a| a.as_str()),
        status = response.status,
        "request"
    );
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(response.status);
    answer.headers = headers;
    answer.body = Some(Body::Text(response.body.to_string()));
    answer.is_base64_encoded = false;
    serde_json::to_value(answer).map_err(|e| Failure::Fault {
        message: format!("cannot write the response: {e}"),
        retryable: false,
    })
}
