//! The `cut` function: invoked by the cut schedule, it cuts the train of that firing and
//! starts its staging builds. A repeated delivery finds the train already cut.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use train_lambda::{Deployment, scheduled};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per process, outside the handler: clients, configuration, engine.
    let deployment = Deployment::from_env().await?;
    let deployment = &deployment;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let work = scheduled::cut(deployment, event.payload, train_lambda::now());
        train_lambda::respond(deployment.invoke("cut", work).await)
    }))
    .await
}
