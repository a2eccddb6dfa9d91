//! The scheduled functions. EventBridge Scheduler invokes them with the shape of an
//! EventBridge "Scheduled Event" (the template's input puts the schedule's own
//! `<aws.scheduler.scheduled-time>` in `time`), so a repeated delivery carries the same
//! time and maps to the same train.
//!
//! The time is matched against `release-train.toml`'s schedule, not trusted as is: a
//! template deployed with other expressions than the configuration's is reported, never
//! turned into a train at an unplanned time.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use train_core::Schedule;
use train_engine::service::Cut;

use crate::{Deployment, Failure};

/// How far a delivery's time may lie after the firing it belongs to (a manual re-run of a
/// missed firing, a late retry). Scheduler's own time is exact.
const LATE: i64 = 15;

/// The `detail.action` of the frequent reconcile schedule, which targets the promote
/// function: it checks builds and timers without being a promotion firing.
pub const RECONCILE: &str = "reconcile";

/// The `cut` function: cuts the train of the firing and starts its staging builds.
pub async fn cut(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let time = scheduled_time(&payload)?;
    let config = deployment.engine.config();
    let at = firing(&config.train.cut, time, "cut")?;
    let (outcome, train) = match deployment.engine.cut(at, now).await? {
        Cut::Created(t) => ("created", t),
        Cut::AlreadyCut(t) => ("already_cut", t),
    };
    Ok(json!({
        "outcome": outcome,
        "train": train.id,
        "state": train.state(),
        "firing": at,
    }))
}

/// The `promote` function: makes up for firings that were never delivered
/// (`Engine::catch_up`), promotes every train whose gates pass at this firing, then
/// reconciles every unsettled train (builds whose event was lost, timers, leftover
/// effects). With `detail.action = "reconcile"` it catches up and reconciles.
pub async fn promote(
    deployment: &Deployment,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let time = scheduled_time(&payload)?;
    let action = payload
        .pointer("/detail/action")
        .and_then(Value::as_str)
        .unwrap_or("promote");
    let engine = &deployment.engine;
    let mut answer = serde_json::Map::new();
    // Firings whose delivery never came (past Scheduler's retries), made up for first.
    let caught_up = engine.catch_up(now).await?;
    if caught_up != train_engine::CaughtUp::default() {
        answer.insert(
            "caught_up".into(),
            json!({
                "cut": caught_up.cut.as_ref().map(|(id, by_this_pass)| json!({ "train": id, "created": by_this_pass })),
                "missed": caught_up.missed,
                "promotions": caught_up.promotions,
            }),
        );
    }
    match action {
        RECONCILE => {}
        "promote" => {
            let at = firing(&engine.config().train.promote, time, "promote")?;
            let trains = engine.promotion_due(at, now).await?;
            answer.insert("firing".into(), json!(at));
            answer.insert(
                "trains".into(),
                trains
                    .iter()
                    .map(|t| json!({ "train": t.id, "state": t.state() }))
                    .collect(),
            );
        }
        other => {
            return Err(Failure::Ignored(format!(
                "unknown detail.action {other:?}; expected \"promote\" (or none) or \"{RECONCILE}\""
            )));
        }
    }
    let seen = engine.reconcile(now).await?;
    if action == RECONCILE {
        // The 5-minute pass measures how long each unsettled train has been in its state.
        engine.gauge(&seen, now).await?;
    }
    answer.insert(
        "reconciled".into(),
        json!({
            "trains": seen.trains,
            "builds_finished": seen.builds_finished,
            "effects_run": seen.effects_run,
            "effects_failed": seen.effects_failed,
            "builds_in_flight": seen.builds_in_flight,
        }),
    );
    Ok(Value::Object(answer))
}

pub fn scheduled_time(payload: &Value) -> Result<DateTime<Utc>, Failure> {
    let event: CloudWatchEvent = serde_json::from_value(payload.clone()).map_err(|e| {
        Failure::Ignored(format!(
            "not a scheduled event ({e}); the schedule's input must carry \"time\": \"<aws.scheduler.scheduled-time>\""
        ))
    })?;
    Ok(event.time)
}

/// The configured firing a delivery at `time` belongs to.
fn firing(schedule: &Schedule, time: DateTime<Utc>, which: &str) -> Result<DateTime<Utc>, Failure> {
    // A delivery a few seconds early (clock skew) still belongs to its firing.
    let probe = time + Duration::minutes(1);
    schedule
        .last_at_or_before(probe, Duration::minutes(LATE) + Duration::minutes(1))
        .ok_or_else(|| {
            let next = schedule
                .next_after(time)
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
            Failure::Fault {
                message: format!(
                    "the {which} schedule fired at {time}, which is not a firing of `{schedule}` in release-train.toml (next: {next}); deploy the template with the schedules `trainctl infra-params` prints"
                ),
                retryable: false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_delivery_maps_to_its_configured_firing_or_is_refused() {
        let monday_9_berlin =
            Schedule::parse("cron(0 9 ? * MON *)", chrono_tz::Europe::Berlin).unwrap();
        let firing_time = at("2026-11-23T08:00:00Z");
        for delivered in [
            "2026-11-23T08:00:00Z",
            "2026-11-23T07:59:30Z",
            "2026-11-23T08:14:00Z",
        ] {
            assert_eq!(
                firing(&monday_9_berlin, at(delivered), "cut").unwrap(),
                firing_time
            );
        }
        for off in [
            "2026-11-23T09:00:00Z",
            "2026-11-24T08:00:00Z",
            "2026-11-23T07:00:00Z",
        ] {
            let err = firing(&monday_9_berlin, at(off), "cut").unwrap_err();
            assert!(
                matches!(&err, Failure::Fault { retryable: false, message } if message.contains("trainctl infra-params")),
                "{off}: {err:?}"
            );
        }
    }

    #[test]
    fn a_payload_without_a_time_is_acknowledged_not_retried() {
        let err = scheduled_time(&json!({"detail": {}})).unwrap_err();
        assert!(matches!(err, Failure::Ignored(m) if m.contains("aws.scheduler.scheduled-time")));
    }
}
