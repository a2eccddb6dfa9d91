//! The bill's request profile (`train_core::cost::PROFILES`) held to what the functions do:
//! a week of a 30-component train through the functions' own handlers and every real
//! adapter on the emulator, each invocation's AWS calls counted, and each kind of
//! invocation compared with the profile `trainctl cost` prices. A profile that undercounts
//! what the code now does fails here, with the measured figures to put in it.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::{ALICE, Stack, build_state_change, http_request, scheduled_event};
use serde_json::{Value, json};
use train_core::cost::PROFILES;
use train_lambda::{Deployment, events, http, scheduled, widget};

/// The calls one invocation made, by operation.
fn since(d: &Deployment, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    d.calls
        .snapshot()
        .into_iter()
        .map(|(op, n)| {
            let before = before.get(&op).copied().unwrap_or(0);
            (op, n - before)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[derive(Debug, Default)]
struct Measured {
    invocations: u32,
    dynamodb_reads: u64,
}

async fn measure<F, Fut>(
    d: &Deployment,
    kinds: &mut BTreeMap<&'static str, Measured>,
    kind: &'static str,
    call: F,
) -> Value
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Value, train_lambda::Failure>>,
{
    let before = d.calls.snapshot();
    let answer = call().await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let calls = since(d, &before);
    let m = kinds.entry(kind).or_default();
    m.invocations += 1;
    for (op, n) in calls {
        if matches!(op.as_str(), "GetItem" | "Query") {
            m.dynamodb_reads += n;
        }
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)] // one week, in order
async fn the_bill_s_request_profile_is_what_the_functions_make() {
    let names: Vec<String> = (0..30).map(|i| format!("svc{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let stack = Stack::provision(&refs, "47h").await;
    let d = stack.deployment(&stack.sdk);
    let config = d.engine.config().clone();
    let start = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let cut_at = config.train.cut.upcoming(start).next().unwrap();
    let promote_at = config.train.promote.next_after(cut_at).unwrap();
    let mut kinds = BTreeMap::new();
    let reconcile = |now: DateTime<Utc>| scheduled_event(now, json!({"action": "reconcile"}));

    let cut = measure(&d, &mut kinds, "cut firing", || {
        scheduled::cut(&d, scheduled_event(cut_at, json!({})), cut_at)
    })
    .await;
    let id = cut["train"].as_str().unwrap().to_owned();
    for (stage, now) in [
        ("staging", cut_at + Duration::minutes(10)),
        ("production", promote_at + Duration::minutes(10)),
    ] {
        if stage == "production" {
            measure(&d, &mut kinds, "promote firing", || {
                scheduled::promote(&d, scheduled_event(promote_at, json!({})), promote_at)
            })
            .await;
        }
        let train = d
            .engine
            .train(&train_core::TrainId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let stage_of = if stage == "staging" {
            train_core::Stage::Staging
        } else {
            train_core::Stage::Production
        };
        let builds: Vec<(String, String)> = train
            .active_builds(stage_of)
            .filter_map(|(c, b)| Some((c.to_string(), b.build_id.as_ref()?.to_string())))
            .collect();
        assert_eq!(builds.len(), 30, "{stage}");
        for (_, build) in &builds {
            stack.finish_build(build, "SUCCEEDED", Some(&"ab".repeat(20)));
        }
        for (component, build) in &builds {
            let event = build_state_change(build, "SUCCEEDED", &id, component);
            measure(&d, &mut kinds, "build event", || {
                events::handle(&d, event, now)
            })
            .await;
        }
        if stage == "staging" {
            // Soaking: the reconcile schedule's passes over a train on its way.
            for hour in 1..4 {
                let at = now + Duration::hours(hour);
                measure(&d, &mut kinds, "reconcile pass, a train on its way", || {
                    scheduled::promote(&d, reconcile(at), at)
                })
                .await;
            }
        }
    }
    let released = d
        .engine
        .train(&train_core::TrainId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.state(), train_core::State::Released);
    let after = promote_at + Duration::hours(2);
    for minutes in [0, 5, 10] {
        let at = after + Duration::minutes(minutes);
        measure(&d, &mut kinds, "reconcile pass", || {
            scheduled::promote(&d, reconcile(at), at)
        })
        .await;
    }
    let request = http_request("GET", &format!("/trains/{id}"), None, Some(ALICE));
    measure(&d, &mut kinds, "API call", || {
        http::handle(&d, request, after)
    })
    .await;
    let view =
        serde_json::from_str::<Value>(include_str!("fixtures/custom-widget-event.json")).unwrap();
    measure(&d, &mut kinds, "widget view", || {
        widget::handle(&d, view, after)
    })
    .await;

    let mut wrong = Vec::new();
    println!("| invocation | measured: DynamoDB reads | profile: reads + whole-train reads |");
    println!("| --- | ---: | ---: |");
    for (kind, m) in &kinds {
        let p = PROFILES
            .iter()
            .find(|p| p.kind == *kind)
            .unwrap_or_else(|| panic!("no profile for {kind}"));
        #[allow(clippy::cast_precision_loss)]
        let reads = m.dynamodb_reads as f64 / f64::from(m.invocations);
        // At 30 components a whole train is one Query page; the store holds one train here,
        // so the widget lists one.
        let trains = if *kind == "widget view" {
            1.0
        } else {
            p.train_reads
        };
        let modeled = p.reads + trains;
        println!("| {kind} ({}) | {reads:.1} | {modeled} |", m.invocations);
        // The profile covers what the invocation made, and not by more than twice: the
        // bill stays honest both ways.
        if !(reads <= modeled + 1e-9 && modeled <= 2.0 * reads.max(1.0)) {
            wrong.push(format!(
                "{kind}: {reads:.1} DynamoDB reads an invocation, the profile says {modeled}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "set train_core::cost::PROFILES to what was measured: {wrong:#?}"
    );
    stack.teardown().await;
}
