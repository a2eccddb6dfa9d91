//! The `api` function: API Gateway's HTTP API (payload format 2.0, IAM authorization on
//! every route) in front of the same handler local mode serves, so routes, bodies and
//! answers are identical.
//!
//! The actor is the IAM principal API Gateway authenticated (`requestContext.authorizer.iam
//! .userArn`), never anything the caller writes in the body. A request without one (the
//! route misconfigured without IAM authorization) can read but not act.

use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use tracing::info;
use train_core::Actor;
use train_engine::api;

use crate::Deployment;

/// The authenticated caller, from API Gateway's IAM authorizer context.
pub fn actor(req: &lambda_http::Request) -> Option<Actor> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let iam = ctx.authorizer.as_ref()?.iam.as_ref()?;
    let principal = iam.user_arn.as_deref().or(iam.caller_id.as_deref())?;
    Actor::parse(principal).ok()
}

pub async fn handle(
    deployment: &Deployment,
    req: lambda_http::Request,
    now: DateTime<Utc>,
) -> lambda_http::Response<Body> {
    let before = deployment.calls.snapshot();
    let actor = actor(&req);
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let request = api::Request {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        body,
        actor: actor.clone(),
    };
    let response = api::handle(&deployment.engine, request, now).await;
    let calls = deployment.calls_since(&before);
    info!(
        method = %req.method(),
        path = req.uri().path(),
        actor = actor.as_ref().map_or("-", |a| a.as_str()),
        status = response.status,
        aws_calls = %calls,
        "handled"
    );
    lambda_http::Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .body(Body::Text(response.body.to_string()))
        .unwrap_or_else(|_| lambda_http::Response::new(Body::Empty))
}
