//! The `events` function: EventBridge rules deliver CodeBuild build state changes and
//! CloudWatch alarm state changes here.
//!
//! A build event only says which train to look at (its `RELEASE_TRAIN_ID` variable); the
//! train's builds are then read from CodeBuild (`BatchGetBuilds`), which also reports the
//! commit a staging build resolved, something the event does not carry. So a repeated, late
//! or out-of-order event changes nothing, and a lost one is made up by the next reconcile.

use aws_lambda_events::codebuild::CodeBuildEvent;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use train_core::{BuildId, ComponentName, TrainId};

use crate::{Deployment, Failure};

pub const BUILD_STATE_CHANGE: &str = "CodeBuild Build State Change";
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";

/// The build variables naming the train and the component (set by the builder on every
/// build it starts).
const TRAIN_VARIABLE: &str = "RELEASE_TRAIN_ID";
const COMPONENT_VARIABLE: &str = "RELEASE_COMPONENT";

pub async fn handle(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    match payload.get("detail-type").and_then(Value::as_str) {
        Some(BUILD_STATE_CHANGE) => build_state_change(deployment, payload, now).await,
        Some(ALARM_STATE_CHANGE) => alarm_state_change(deployment, &payload, now).await,
        other => Err(Failure::Ignored(format!(
            "detail-type {other:?} is neither \"{BUILD_STATE_CHANGE}\" nor \"{ALARM_STATE_CHANGE}\"; check the rule's event pattern"
        ))),
    }
}

async fn build_state_change(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let event: CodeBuildEvent = serde_json::from_value(payload)
        .map_err(|e| Failure::Ignored(format!("not a CodeBuild build state change: {e}")))?;
    let build = event.detail.build_id.clone().unwrap_or_default();
    let variable = |name: &str| {
        event
            .detail
            .additional_information
            .environment
            .environment_variables
            .iter()
            .find(|v| v.name.as_deref() == Some(name))
            .and_then(|v| v.value.clone())
    };
    let train = variable(TRAIN_VARIABLE).ok_or_else(|| {
        Failure::Ignored(format!(
            "build {build} has no {TRAIN_VARIABLE}: not started by a release train"
        ))
    })?;
    let id = TrainId::parse(&train)
        .map_err(|e| Failure::Ignored(format!("build {build}: {TRAIN_VARIABLE}={train:?}: {e}")))?;
    let engine = &deployment.engine;
    // After a burst of builds ends, the first event's pass records them all: each later
    // event reads its own component (one item, not the train) and finds its build
    // recorded. The event names the build by its ARN (`arn:...:build/<project>:<uuid>`);
    // the train stores the id CodeBuild answered StartBuild with (`<project>:<uuid>`).
    let short = build
        .rsplit_once(":build/")
        .map_or(build.as_str(), |(_, id)| id);
    if let Ok(build_id) = BuildId::parse(short)
        && let Some(component) = variable(COMPONENT_VARIABLE)
        && let Ok(component) = ComponentName::parse(&component)
        && let Some(run) = engine.component(&id, &component).await?
        && let Some((stage, recorded)) = run.find_build(&build_id)
        && recorded.status.is_finished()
    {
        return Ok(json!({
            "train": id,
            "build": build,
            "build_status": event.detail.build_status,
            "builds_finished": 0,
            "already_recorded": true,
            "component": component,
            "stage": stage,
            "recorded_status": recorded.status,
        }));
    }
    let seen = engine.reconcile_train(&id, now).await?;
    if seen.trains == 0 {
        return Err(Failure::Ignored(format!(
            "build {build} belongs to train {id}, which this deployment does not know"
        )));
    }
    let state = engine.train(&id).await?.map(|t| t.state());
    Ok(json!({
        "train": id,
        "build": build,
        "build_status": event.detail.build_status,
        "builds_finished": seen.builds_finished,
        "state": state,
    }))
}

/// A gating alarm (one `release-train.toml` names) holds or cancels trains that have not
/// started promoting, or lifts its hold when OK again; any other alarm is acknowledged.
async fn alarm_state_change(
    deployment: &Deployment,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let alarm = payload
        .pointer("/detail/alarmName")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Ignored("alarm state change without detail.alarmName".into()))?;
    let state = payload
        .pointer("/detail/state/value")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let engine = &deployment.engine;
    if !engine.config().train.alarms.iter().any(|a| a == alarm) {
        return Ok(json!({
            "alarm": alarm,
            "state": state,
            "gating": false,
            "effect": "none: release-train.toml does not name this alarm in train.alarms",
        }));
    }
    // INSUFFICIENT_DATA is not a reason to hold; the check before promotion reads the
    // alarm again anyway.
    let trains = engine.alarm_changed(alarm, state == "ALARM", now).await?;
    Ok(json!({
        "alarm": alarm,
        "state": state,
        "gating": true,
        "trains": trains.iter().map(|t| json!({"train": t.id, "state": t.state()})).collect::<Vec<_>>(),
    }))
}
