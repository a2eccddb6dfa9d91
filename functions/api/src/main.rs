//! The `api` function: the HTTP API behind API Gateway with IAM authorization, serving the
//! same routes and answers as `trainctl serve`.

use lambda_runtime::Error;
use train_lambda::{Wiring, http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    train_lambda::run_json(&Wiring::API, |deployment, request| {
        http::handle(deployment, request, train_lambda::now())
    })
    .await
}
