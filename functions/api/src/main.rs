//! The `api` function: the HTTP API behind API Gateway with IAM authorization, serving the
//! same routes and answers as `trainctl serve`.

use lambda_http::{Error, Request, service_fn};
use train_lambda::{Deployment, http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per process, outside the handler: clients, configuration, engine.
    let deployment = Deployment::from_env().await?;
    let deployment = &deployment;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(http::handle(deployment, req, train_lambda::now()).await)
    }))
    .await
}
