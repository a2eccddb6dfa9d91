//! The `events` function: CodeBuild build state changes and CloudWatch alarm state changes,
//! delivered by EventBridge rules.

use lambda_runtime::Error;
use train_lambda::{Wiring, events};

#[tokio::main]
async fn main() -> Result<(), Error> {
    train_lambda::run_json(&Wiring::EVENTS, |deployment, event| {
        events::handle(deployment, event, train_lambda::now())
    })
    .await
}
