//! The `events` function: CodeBuild build state changes and CloudWatch alarm state changes,
//! delivered by EventBridge rules.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use train_lambda::{Deployment, events};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per process, outside the handler: clients, configuration, engine.
    let deployment = Deployment::from_env().await?;
    let deployment = &deployment;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let work = events::handle(deployment, event.payload, train_lambda::now());
        train_lambda::respond(deployment.invoke("events", work).await)
    }))
    .await
}
