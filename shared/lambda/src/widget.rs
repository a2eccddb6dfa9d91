//! The CloudWatch dashboard's custom widget: the current train, drawn by the renderer of the
//! local status page (`train_page`, [`train_page::Frame::Widget`]).
//!
//! CloudWatch invokes the function with the viewer's own credentials whenever the dashboard
//! refreshes, with the widget's `params` and a `widgetContext` (dashboard, size, time
//! range, theme), and shows the string it returns as HTML ("The Lambda function returns a
//! string of HTML, JSON, or Markdown", Amazon CloudWatch User Guide, "Details about custom
//! widgets in CloudWatch"). The widget reads the store and nothing else: its role may only
//! read the table. With `describe` in the params it returns its documentation in Markdown,
//! as that guide recommends.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Deployment, Failure};

/// What the widget shows, for the console's "describe" (Markdown).
pub const DESCRIBE: &str = "## release-train: current train\n\nThe train on its way (or the last one): its state and why it waits, the soak and bake countdowns, each component's pinned commit, its staging and production builds with links to their CodeBuild logs, the changes, the timeline, and the trains before it. Read-only: act with `trainctl` (`trainctl hold ID -r WHY`, `trainctl cancel ID -r WHY`). No parameters.";

/// Answers one widget request: the page's content as HTML, or [`DESCRIBE`].
pub async fn handle(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    if payload
        .get("describe")
        .is_some_and(|d| d != &Value::Bool(false))
    {
        return Ok(Value::String(DESCRIBE.to_owned()));
    }
    let engine = &deployment.engine;
    let (trains, schedule) = train_page::gather(engine, now).await?;
    let config = engine.config();
    let name = config.train.name.to_string();
    let origin = format!("AWS account {}", deployment.accounts.own);
    let view = train_page::View {
        name: &name,
        origin: &origin,
        trains: &trains,
        schedule: schedule.as_ref(),
        zone: config.train.zone,
        now,
    };
    Ok(Value::String(train_page::render(
        &view,
        train_page::Frame::Widget,
    )))
}
