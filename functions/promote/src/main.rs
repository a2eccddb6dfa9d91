//! The `promote` function: invoked by the promote schedule (promote, then reconcile) and by
//! the frequent reconcile schedule (builds in flight, soak timers, leftover effects).

use lambda_runtime::Error;
use train_lambda::{Wiring, scheduled};

#[tokio::main]
async fn main() -> Result<(), Error> {
    train_lambda::run_json(&Wiring::PROMOTE, |deployment, event| {
        scheduled::promote(deployment, event, train_lambda::now())
    })
    .await
}
