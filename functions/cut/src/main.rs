//! The `cut` function: invoked by the cut schedule, it cuts the train of that firing and
//! starts its staging builds. A repeated delivery finds the train already cut.

use lambda_runtime::Error;
use train_lambda::{Wiring, scheduled};

#[tokio::main]
async fn main() -> Result<(), Error> {
    train_lambda::run_json(&Wiring::CUT, |deployment, event| {
        scheduled::cut(deployment, event, train_lambda::now())
    })
    .await
}
