//! The `widget` function: CloudWatch calls it, with the viewer's credentials, to draw the
//! dashboard's "Current train" widget; it reads the train store and answers HTML.

use lambda_runtime::Error;
use train_lambda::{Wiring, widget};

#[tokio::main]
async fn main() -> Result<(), Error> {
    train_lambda::run_json(&Wiring::WIDGET, |deployment, event| {
        widget::handle(deployment, event, train_lambda::now())
    })
    .await
}
