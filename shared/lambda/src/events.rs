//! The `events` function: EventBridge rules deliver CodeBuild build state changes and
//! CloudWatch alarm state changes here.
//!
//! A build event only says which train to look at (its `RELEASE_TRAIN_ID` variable); the
//! train's builds are then read from CodeBuild (`BatchGetBuilds`), which also reports the
//! commit a staging build resolved, something the event does not carry. So a repeated, late
//! or out-of-order event changes nothing, and a lost one is made up by the next reconcile.
//!
//! Events are read tolerantly, as JSON: only `detail.build-id`, `detail.build-status` and
//! `detail.project-name` (and, for alarms, `detail.alarmName` and `detail.state.value`) are
//! required; the rest may be missing or shaped differently (the documented sample's
//! `build-start-time` is "Sep 1, 2017 4:12:29 PM", not a timestamp) and is ignored. Whether
//! a build event carries the overridden `RELEASE_*` variables is not documented: when it
//! does they name the train, and when it does not every unsettled train is reconciled.

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
    // The train bus accepts member accounts' events (its policy names them); the account
    // is checked here too, so a rule or a policy wider than the configuration changes nothing.
    let account = payload.get("account").and_then(Value::as_str);
    if !deployment.accounts.accepts(account) {
        return Err(Failure::Ignored(format!(
            "an event from account {}, which is neither the train's ({}) nor one a role in release-train.toml is in; add the account's role to [accounts] (or a component's staging/production role) and redeploy",
            account.unwrap_or("(none)"),
            deployment.accounts.own
        )));
    }
    match payload.get("detail-type").and_then(Value::as_str) {
        Some(BUILD_STATE_CHANGE) => build_state_change(deployment, payload, now).await,
        Some(ALARM_STATE_CHANGE) => alarm_state_change(deployment, &payload, now).await,
        other => Err(Failure::Ignored(format!(
            "detail-type {other:?} is neither \"{BUILD_STATE_CHANGE}\" nor \"{ALARM_STATE_CHANGE}\"; check the rule's event pattern"
        ))),
    }
}

/// What the function needs from a CodeBuild Build State Change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildChange {
    pub build: String,
    pub status: String,
    pub project: String,
    /// `RELEASE_TRAIN_ID` and `RELEASE_COMPONENT`, when the event carries the variables.
    pub train: Option<String>,
    pub component: Option<String>,
}

/// Reads a build state change, requiring only the three fields the function uses.
pub fn read_build_change(payload: &Value) -> Result<BuildChange, String> {
    let field = |name: &str| {
        payload
            .pointer(&format!("/detail/{name}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("not a CodeBuild build state change: no detail.{name}"))
    };
    let variables = payload
        .pointer("/detail/additional-information/environment/environment-variables")
        .and_then(Value::as_array);
    let variable = |name: &str| {
        variables?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|v| v.get("value").and_then(Value::as_str))
            .map(str::to_owned)
    };
    Ok(BuildChange {
        build: field("build-id")?,
        status: field("build-status")?,
        project: field("project-name")?,
        train: variable(TRAIN_VARIABLE),
        component: variable(COMPONENT_VARIABLE),
    })
}

/// What the function needs from a CloudWatch Alarm State Change (metric or composite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmChange {
    pub alarm: String,
    pub state: String,
}

pub fn read_alarm_change(payload: &Value) -> Result<AlarmChange, String> {
    let alarm = payload
        .pointer("/detail/alarmName")
        .and_then(Value::as_str)
        .ok_or("alarm state change without detail.alarmName")?;
    let state = payload
        .pointer("/detail/state/value")
        .and_then(Value::as_str)
        .ok_or("alarm state change without detail.state.value")?;
    Ok(AlarmChange {
        alarm: alarm.to_owned(),
        state: state.to_owned(),
    })
}

async fn build_state_change(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let change = read_build_change(&payload).map_err(Failure::Ignored)?;
    let build = change.build.clone();
    // Only a finished build changes a train ("IN_PROGRESS" is sent when a build starts).
    if change.status == "IN_PROGRESS" {
        return Ok(json!({
            "build": build,
            "build_status": change.status,
            "project": change.project,
            "effect": "none: the build has not finished",
        }));
    }
    let engine = &deployment.engine;
    let Some(train) = change.train.clone() else {
        // The variables are not in the event: the builds of every unsettled train are read.
        let seen = engine.reconcile(now).await?;
        return Ok(json!({
            "build": build,
            "build_status": change.status,
            "project": change.project,
            "trains": seen.trains,
            "builds_finished": seen.builds_finished,
        }));
    };
    let id = TrainId::parse(&train)
        .map_err(|e| Failure::Ignored(format!("build {build}: {TRAIN_VARIABLE}={train:?}: {e}")))?;
    // After a burst of builds ends, the first event's pass records them all: each later
    // event reads its own component (one item, not the train) and finds its build
    // recorded. The event names the build by its ARN (`arn:...:build/<project>:<uuid>`);
    // the train stores the id CodeBuild answered StartBuild with (`<project>:<uuid>`).
    let short = build
        .rsplit_once(":build/")
        .map_or(build.as_str(), |(_, id)| id);
    if let Ok(build_id) = BuildId::parse(short)
        && let Some(component) = change.component.as_deref()
        && let Ok(component) = ComponentName::parse(component)
        && let Some(run) = engine.component(&id, &component).await?
        && let Some((stage, recorded)) = run.find_build(&build_id)
        && recorded.status.is_finished()
    {
        return Ok(json!({
            "train": id,
            "build": build,
            "build_status": change.status,
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
        "build_status": change.status,
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
    let change = read_alarm_change(payload).map_err(Failure::Ignored)?;
    let (alarm, state) = (change.alarm.as_str(), change.state.as_str());
    let engine = &deployment.engine;
    // The name release-train.toml knows the alarm by: `production:NAME` for an alarm of the
    // production account, the bare name for the train's own.
    let account = payload
        .get("account")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut names = Vec::new();
    if let Some(stages) = deployment.accounts.members.get(account) {
        names.extend(stages.iter().map(|stage| format!("{stage}:{alarm}")));
    }
    if account == deployment.accounts.own {
        names.push(alarm.to_owned());
    }
    let gating = engine
        .config()
        .train
        .alarms
        .iter()
        .find(|a| names.iter().any(|n| n == a.as_str()));
    let Some(gating) = gating else {
        return Ok(json!({
            "alarm": alarm,
            "state": state,
            "gating": false,
            "account": account,
            "effect": "none: release-train.toml does not name this alarm in train.alarms (an alarm of a member account is named with its stage, e.g. \"production:NAME\")",
        }));
    };
    // INSUFFICIENT_DATA is not a reason to hold; the check before promotion reads the
    // alarm again anyway.
    let trains = engine.alarm_changed(gating, state == "ALARM", now).await?;
    Ok(json!({
        "alarm": gating,
        "state": state,
        "gating": true,
        "trains": trains.iter().map(|t| json!({"train": t.id, "state": t.state()})).collect::<Vec<_>>(),
    }))
}
