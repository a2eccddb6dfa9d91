//! Firings whose delivery never came, made up for by the reconcile schedule's pass (the
//! `promote` function with `detail.action = "reconcile"`), on DynamoDB and CodeBuild in the
//! emulator, with three passes racing each time as three concurrent invocations would:
//!
//! - a cut firing never delivered is cut late exactly once, and a late redelivery of it
//!   afterwards changes nothing;
//! - a promote firing never delivered is treated as delivered, once;
//! - a cut firing found after its window is noted missed exactly once, with no train.
//!
//! Scheduler retries a failed delivery "until either the maximum number of attempts is made
//! or until the duration of the `MaximumEventAgeInSeconds` is reached" (at most 185 attempts
//! and 86,400 s: `RetryPolicy`, EventBridge Scheduler API Reference,
//! <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html>; the
//! template sets an hour), then hands it to the dead-letter queue; what reaches the queue is
//! what this pass makes up for.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Stack, scheduled_event};
use serde_json::{Value, json};
use train_lambda::{Deployment, scheduled};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// Three reconcile passes at `now`, concurrently, each its own function instance.
async fn three_passes(instances: &[Deployment; 3], now: DateTime<Utc>) -> Vec<Value> {
    let pass = |d| {
        Box::pin(scheduled::promote(
            d,
            scheduled_event(now, json!({"action": "reconcile"})),
            now,
        ))
    };
    let (a, b, c) = tokio::join!(
        pass(&instances[0]),
        pass(&instances[1]),
        pass(&instances[2])
    );
    [a, b, c].into_iter().map(|r| r.unwrap()).collect()
}

async fn builds_of(stack: &Stack, project: &str) -> usize {
    stack
        .codebuild()
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .unwrap()
        .ids
        .unwrap_or_default()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)] // three firings, told in order
async fn undelivered_firings_are_made_up_for_once_under_racing_passes() {
    let started = std::time::Instant::now();
    let components = ["api", "web"];
    let stack = Stack::provision(&components, "1s").await;
    let instances = [
        stack.deployment(&stack.sdk),
        stack.deployment(&stack.sdk),
        stack.deployment(&stack.sdk),
    ];
    let engine = &instances[0].engine;
    // The first pass (Sunday) starts watching; the Monday 09:00 Berlin cut is never
    // delivered.
    three_passes(&instances, at("2026-11-22T12:00:00Z")).await;
    let firing = at("2026-11-23T08:00:00Z");
    let answers = three_passes(&instances, firing + Duration::minutes(30)).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter_map(|a| a.pointer("/caught_up/cut"))
        .filter(|c| c["created"] == true)
        .collect();
    assert_eq!(created.len(), 1, "one pass cut it: {answers:#?}");
    assert_eq!(created[0]["train"], "weekly-2026-W48");
    let trains = engine
        .list(&train_engine::ports::ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(trains.len(), 1, "{trains:#?}");
    let train = &trains[0];
    assert_eq!(train.cut_at, firing);
    assert_eq!(
        train.history[0].reason.as_deref(),
        Some("cut late: the firing at Mon 2026-11-23 09:00 CET was not delivered")
    );
    for c in components {
        assert_eq!(
            builds_of(&stack, &stack.project(c, "staging")).await,
            1,
            "{c}"
        );
    }

    // The delivery comes after all (a redrive from the dead-letter queue): nothing new.
    let late = Box::pin(scheduled::cut(
        &instances[1],
        scheduled_event(firing, json!({})),
        firing + Duration::hours(2),
    ))
    .await
    .unwrap();
    assert_eq!(late["outcome"], "already_cut", "{late}");
    for c in components {
        assert_eq!(
            builds_of(&stack, &stack.project(c, "staging")).await,
            1,
            "{c}"
        );
    }
    let controls = engine.schedule_controls().await.unwrap();
    assert!(
        controls
            .history
            .iter()
            .any(|r| r.action == format!("cut at {firing} changed nothing")),
        "{:#?}",
        controls.history
    );

    // Staging goes green; Wednesday's promote firing is never delivered either.
    let id = train.id.clone();
    for (i, run) in train.components.values().enumerate() {
        let build = run.staging.as_ref().unwrap().build_id.clone().unwrap();
        let commit = format!("{:040x}", 0xfeed_u64 + i as u64);
        stack.finish_build(build.as_str(), "SUCCEEDED", Some(&commit));
    }
    engine.reconcile(firing + Duration::hours(3)).await.unwrap();
    assert_eq!(
        engine.train(&id).await.unwrap().unwrap().state(),
        train_core::State::Soaking
    );
    let promote = at("2026-11-25T08:00:00Z");
    let answers = three_passes(&instances, promote + Duration::minutes(15)).await;
    let promoted: Vec<&Value> = answers
        .iter()
        .filter_map(|a| a.pointer("/caught_up/promotions"))
        .filter(|p| p.as_array().is_some_and(|p| !p.is_empty()))
        .collect();
    // Each pass that read the train before another's commit says it delivered the firing;
    // the train heard it once (its history below).
    assert!(!promoted.is_empty(), "{answers:#?}");
    let promoting = engine.train(&id).await.unwrap().unwrap();
    assert_eq!(promoting.state(), train_core::State::Promoting);
    let due = promoting
        .history
        .iter()
        .filter(|r| r.action == "promotion due")
        .collect::<Vec<_>>();
    assert_eq!(due.len(), 1, "{:#?}", promoting.history);
    assert_eq!(
        due[0].reason.as_deref(),
        Some(
            "the promote firing at Wed 2026-11-25 09:00 CET was not delivered; treated as delivered"
        )
    );
    for c in components {
        assert_eq!(
            builds_of(&stack, &stack.project(c, "production")).await,
            1,
            "{c}"
        );
    }

    // The next Monday's cut is never delivered and nobody reconciles until Wednesday
    // 09:30, past its window: it is noted missed once, and no train is cut.
    let next = firing + Duration::days(7);
    let answers = three_passes(&instances, at("2026-12-02T08:30:00Z")).await;
    let noted: Vec<&Value> = answers
        .iter()
        .filter_map(|a| a.pointer("/caught_up/missed"))
        .filter(|m| !m.is_null())
        .collect();
    assert_eq!(noted.len(), 1, "{answers:#?}");
    let controls = engine.schedule_controls().await.unwrap();
    let missed = controls
        .history
        .iter()
        .filter(|r| r.action == format!("cut firing at {next} missed"))
        .count();
    assert_eq!(missed, 1, "{:#?}", controls.history);
    let w49 = train_core::TrainId::parse("weekly-2026-W49").unwrap();
    assert!(engine.train(&w49).await.unwrap().is_none());
    // Later passes owe nothing more for these firings: one read of the controls each.
    let before = instances[0].calls.snapshot();
    Box::pin(scheduled::promote(
        &instances[0],
        scheduled_event(at("2026-12-02T08:35:00Z"), json!({"action": "reconcile"})),
        at("2026-12-02T08:35:00Z"),
    ))
    .await
    .unwrap();
    let calls = instances[0].calls_since(&before);
    assert!(
        !calls.contains("StartBuild") && !calls.contains("PutEvents"),
        "{calls}"
    );
    println!(
        "RELIABILITY catch-up racing_passes=3 firings=3 trains=1 staging_builds_per_component=1 promotion_records=1 missed_notes=1 idle_pass_calls={calls} wall={:.2}s",
        started.elapsed().as_secs_f64()
    );
    stack.teardown().await;
}
