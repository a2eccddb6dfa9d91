//! The promises under duplicates, reordering, races, injected AWS faults and crashes: the
//! functions' own handlers and engine, with the real SDK clients, against the emulator.
//! The handlers run in this process (the Runtime API adds nothing to these questions; the
//! end-to-end tests cover it), so one test can be several concurrent invocations.
//!
//! `RELIABILITY_LONG=1` runs the long variants; RELIABILITY.md has the figures of both.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use common::proxy::FaultProxy;
use common::{Stack, build_state_change, scheduled_event};
use serde_json::{Value, json};
use train_core::{BuildStatus, Stage, State, Train, TrainId};
use train_lambda::{Deployment, Failure, events, scheduled};

/// `short` trials in the test command, `long` with `RELIABILITY_LONG=1`, or exactly
/// `RELIABILITY_TRIALS`.
fn trials(short: usize, long: usize) -> usize {
    if let Some(n) = std::env::var("RELIABILITY_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        n
    } else if std::env::var_os("RELIABILITY_LONG").is_some() {
        long
    } else {
        short
    }
}

/// The cut firings of the test configuration, one per trial.
fn cut_firings(stack: &Stack, n: usize) -> Vec<DateTime<Utc>> {
    let d = stack.observer();
    let start = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    d.engine
        .config()
        .train
        .cut
        .upcoming(start)
        .take(n)
        .collect()
}

/// One invocation, as Lambda makes it: the handler with the payload. A fault is what
/// Lambda would retry; `Ignored` would be a test bug.
#[derive(Clone, Copy, Debug)]
enum Invoke {
    Cut,
    Promote,
    Events,
}

async fn invoke(
    d: &Deployment,
    what: Invoke,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let result = match what {
        Invoke::Cut => scheduled::cut(d, payload, now).await,
        Invoke::Promote => scheduled::promote(d, payload, now).await,
        Invoke::Events => events::handle(d, payload, now).await,
    };
    match result {
        Ok(v) => Ok(v),
        Err(Failure::Fault { message, .. }) => Err(message),
        Err(Failure::Ignored(why)) => panic!("the payload was ignored: {why}"),
    }
}

/// Invokes until the handler succeeds, as Lambda's retries and then the next schedule do;
/// returns the answer and how many invocations it took.
async fn until_ok(
    d: &Deployment,
    what: Invoke,
    payload: &Value,
    now: DateTime<Utc>,
) -> (Value, u32) {
    for attempt in 1..=30 {
        if let Ok(v) = invoke(d, what, payload.clone(), now).await {
            return (v, attempt);
        }
    }
    panic!("30 invocations in a row failed")
}

fn commit(component: &str) -> String {
    let n = component.bytes().map(u64::from).sum::<u64>();
    format!("{n:040x}")
}

/// The commit a green build of `component` ends at: the pin in production, the branch
/// head (`commit`) in staging.
fn built_at(component: &str, build: &train_core::Build) -> String {
    build
        .commit
        .as_ref()
        .map_or_else(|| commit(component), ToString::to_string)
}

/// The train as stored, read without faults.
async fn stored(stack: &Stack, id: &TrainId) -> Train {
    stack
        .observer()
        .engine
        .train(id)
        .await
        .unwrap()
        .expect("the train is stored")
}

/// Plays CodeBuild and EventBridge until the train reaches a state in `until`: finishes
/// each build it started (green, at the component's commit or the pin), delivers each
/// build's state change, and runs the reconcile schedule, all through `d`.
async fn drive(
    stack: &Stack,
    d: &Deployment,
    id: &TrainId,
    now: DateTime<Utc>,
    until: &[State],
) -> (Train, u32) {
    let mut invocations = 0;
    for _ in 0..40 {
        let train = stored(stack, id).await;
        if until.contains(&train.state()) {
            return (train, invocations);
        }
        for stage in [Stage::Staging, Stage::Production] {
            for (component, build) in train.active_builds(stage) {
                let Some(build_id) = &build.build_id else {
                    continue;
                };
                if build.status == BuildStatus::Running || build.status == BuildStatus::Requested {
                    let at = built_at(component.as_str(), build);
                    stack.finish_build(build_id.as_str(), "SUCCEEDED", Some(&at));
                    let event = build_state_change(
                        build_id.as_str(),
                        "SUCCEEDED",
                        id.as_str(),
                        component.as_str(),
                    );
                    invocations += until_ok(d, Invoke::Events, &event, now).await.1;
                }
            }
        }
        let reconcile = scheduled_event(now, json!({ "action": scheduled::RECONCILE }));
        invocations += until_ok(d, Invoke::Promote, &reconcile, now).await.1;
    }
    panic!(
        "train {id} did not reach {until:?}: {:?}",
        stored(stack, id).await.state()
    )
}

/// Asserts that every CodeBuild project of the stack ran exactly `builds` builds.
async fn assert_each_project_ran(stack: &Stack, builds: usize, what: &str) {
    let ran = builds_per_project(stack).await;
    assert!(ran.values().all(|b| *b == builds), "{what}: {ran:?}");
}

/// How many builds each CodeBuild project of the stack has run.
async fn builds_per_project(stack: &Stack) -> BTreeMap<String, usize> {
    let cb = stack.codebuild();
    let mut out = BTreeMap::new();
    for (label, project) in stack.all_projects() {
        let mut count = 0;
        let mut next: Option<String> = None;
        loop {
            let page = cb
                .list_builds_for_project()
                .project_name(&project)
                .set_next_token(next.clone())
                .send()
                .await
                .unwrap();
            count += page.ids().len();
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        out.insert(label, count);
    }
    out
}

/// A whole train: cut at `firing`, staging green, soaked, promoted at the promote firing
/// two days later, released. Every trigger goes through `d`.
async fn whole_train(stack: &Stack, d: &Deployment, firing: DateTime<Utc>) -> (Train, u32) {
    let (cut, mut invocations) =
        until_ok(d, Invoke::Cut, &scheduled_event(firing, json!({})), firing).await;
    let id = TrainId::parse(cut["train"].as_str().unwrap()).unwrap();
    let (_, n) = drive(
        stack,
        d,
        &id,
        firing + Duration::minutes(5),
        &[State::Soaking],
    )
    .await;
    invocations += n;
    let promote_at = firing + Duration::days(2);
    let (_, n) = until_ok(
        d,
        Invoke::Promote,
        &scheduled_event(promote_at, json!({})),
        promote_at,
    )
    .await;
    invocations += n;
    let (train, n) = drive(
        stack,
        d,
        &id,
        promote_at + Duration::minutes(5),
        &[State::Released],
    )
    .await;
    (train, invocations + n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_cut_delivered_three_times_at_once_makes_one_train_and_one_build_per_component() {
    let n = trials(40, 1000);
    let per_stack = 25;
    let started = Instant::now();
    let (mut created, mut repeats, mut start_calls) = (0, 0, 0);
    for chunk in 0..n.div_ceil(per_stack) {
        // A stack per 25 trials: the emulator slows down as a table fills up.
        let stack = Stack::provision(&["api", "web"], "47h").await;
        // Three function instances, each with its own clients, as three invocations are.
        let fns: Vec<Deployment> = (0..3).map(|_| stack.deployment(&stack.sdk)).collect();
        let firings = cut_firings(&stack, per_stack.min(n - chunk * per_stack));
        for firing in &firings {
            let payload = scheduled_event(*firing, json!({}));
            let now = *firing + Duration::seconds(20);
            let (a, b, c) = tokio::join!(
                invoke(&fns[0], Invoke::Cut, payload.clone(), now),
                invoke(&fns[1], Invoke::Cut, payload.clone(), now),
                invoke(&fns[2], Invoke::Cut, payload.clone(), now),
            );
            let answers: Vec<Value> = [a, b, c].into_iter().map(|r| r.unwrap()).collect();
            let trains: Vec<&str> = answers
                .iter()
                .map(|a| a["train"].as_str().unwrap())
                .collect();
            assert!(trains.iter().all(|t| *t == trains[0]), "{answers:?}");
            let outcomes: Vec<&str> = answers
                .iter()
                .map(|a| a["outcome"].as_str().unwrap())
                .collect();
            assert_eq!(
                outcomes.iter().filter(|o| **o == "created").count(),
                1,
                "exactly one delivery creates the train: {outcomes:?}"
            );
            created += 1;
            repeats += 2;
        }
        // A delivery that finds another's claim without a build yet starts it again with the
        // same idempotency token, so CodeBuild answers with the first build: more calls than
        // builds is by design; more builds than components would be the bug.
        start_calls += fns.iter().map(|f| f.calls.get("StartBuild")).sum::<u64>();
        if std::env::var_os("RELIABILITY_CALLS").is_some() {
            for f in &fns {
                println!("{:?}", f.calls.snapshot());
            }
        }
        let builds = builds_per_project(&stack).await;
        for c in ["api", "web"] {
            assert_eq!(builds[&format!("{c}/staging")], firings.len(), "{builds:?}");
            assert_eq!(builds[&format!("{c}/production")], 0);
        }
        stack.teardown().await;
    }
    println!(
        "RELIABILITY triple-delivery trials={n} trains={created} repeats_answered_already_cut={repeats} builds={} start_build_calls={start_calls} wall={:.1}s",
        2 * created,
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn build_events_shuffled_and_duplicated_end_where_in_order_delivery_ends() {
    let n = trials(6, 50);
    let components = ["api", "web", "worker", "jobs"];
    let stack = Stack::provision(&components, "47h").await;
    let fns: Vec<Deployment> = (0..2).map(|_| stack.deployment(&stack.sdk)).collect();
    let mut rng = fastrand::Rng::with_seed(7);
    let firings = cut_firings(&stack, 2 * n);
    let started = Instant::now();
    for trial in 0..n {
        // One build of the four fails in some trials: the train must fail the same way.
        let failing = (trial % 3 == 0).then(|| components[rng.usize(0..components.len())]);
        let mut ends = Vec::new();
        for (k, shuffled) in [(0, false), (1, true)] {
            let firing = firings[2 * trial + k];
            let now = firing + Duration::minutes(5);
            let (cut, _) = until_ok(
                &fns[0],
                Invoke::Cut,
                &scheduled_event(firing, json!({})),
                firing,
            )
            .await;
            let id = TrainId::parse(cut["train"].as_str().unwrap()).unwrap();
            let train = stored(&stack, &id).await;
            let mut deliveries = Vec::new();
            for (component, build) in train.active_builds(Stage::Staging) {
                let build_id = build.build_id.clone().unwrap();
                let status = if Some(component.as_str()) == failing {
                    "FAILED"
                } else {
                    "SUCCEEDED"
                };
                stack.finish_build(build_id.as_str(), status, Some(&commit(component.as_str())));
                let event =
                    build_state_change(build_id.as_str(), status, id.as_str(), component.as_str());
                let copies = if shuffled { rng.usize(1..=3) } else { 1 };
                deliveries.extend(std::iter::repeat_n(event, copies));
            }
            if shuffled {
                rng.shuffle(&mut deliveries);
                // Two at a time, to two instances, as EventBridge may deliver them.
                for pair in deliveries.chunks(2) {
                    let (a, b) = tokio::join!(
                        invoke(&fns[0], Invoke::Events, pair[0].clone(), now),
                        async {
                            match pair.get(1) {
                                Some(p) => invoke(&fns[1], Invoke::Events, p.clone(), now).await,
                                None => Ok(Value::Null),
                            }
                        }
                    );
                    a.unwrap();
                    b.unwrap();
                }
            } else {
                for e in &deliveries {
                    invoke(&fns[0], Invoke::Events, e.clone(), now)
                        .await
                        .unwrap();
                }
            }
            let end = stored(&stack, &id).await;
            let projection: Vec<(String, Option<String>, Option<BuildStatus>)> = end
                .components
                .iter()
                .map(|(n, r)| {
                    (
                        n.to_string(),
                        r.pinned.as_ref().map(ToString::to_string),
                        r.staging.as_ref().map(|b| b.status),
                    )
                })
                .collect();
            ends.push((end.state(), projection));
        }
        assert_eq!(
            ends[0], ends[1],
            "trial {trial}: in order vs shuffled and duplicated"
        );
        let expected = if failing.is_some() {
            State::Failed
        } else {
            State::Soaking
        };
        assert_eq!(ends[0].0, expected, "trial {trial}");
    }
    stack.teardown().await;
    println!(
        "RELIABILITY shuffled-events trials={n} wall={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trains_complete_under_twenty_percent_injected_faults_with_nothing_duplicated_or_lost() {
    let n = trials(3, 20);
    let stack = Stack::provision(&["api", "web", "worker"], "47h").await;
    let proxy = FaultProxy::start(&stack.endpoint, 20_261_122).await;
    let rate = std::env::var("RELIABILITY_FAULT_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    proxy.set_rate(rate);
    let d = stack.deployment(&proxy.sdk().await);
    let started = Instant::now();
    let mut invocations = 0;
    for (week, firing) in cut_firings(&stack, n).into_iter().enumerate() {
        let (train, calls) = whole_train(&stack, &d, firing).await;
        invocations += calls;
        assert_eq!(train.state(), State::Released, "{:?}", train.history);
        for (name, run) in &train.components {
            assert_eq!(run.staging.as_ref().unwrap().attempt, 1, "{name}");
            assert_eq!(
                run.production
                    .as_ref()
                    .unwrap()
                    .commit
                    .as_ref()
                    .map(ToString::to_string),
                Some(commit(name.as_str())),
                "{name} shipped what soaked"
            );
        }
        // Nothing recorded twice: each milestone once in the history.
        for action in ["cut", "soak started", "released"] {
            let count = train.history.iter().filter(|r| r.action == action).count();
            assert_eq!(count, 1, "{action} in {:#?}", train.history);
        }
        // Nothing lost: the manifest of each milestone is in S3.
        for state in ["soaking", "released"] {
            let key = format!("{}{}/{state}.json", train_lambda::MANIFEST_PREFIX, train.id);
            stack
                .s3()
                .head_object()
                .bucket(&stack.bucket)
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("manifest {key}: {e:?}"));
        }
        assert_each_project_ran(&stack, week + 1, "one build per project and train").await;
    }
    stack.teardown().await;
    let injected = proxy.injected();
    let total: u64 = injected.values().sum();
    assert!(total > 0, "faults were injected");
    println!(
        "RELIABILITY faults trains={n} requests={} injected={total} {injected:?} invocations={invocations} wall={:.1}s",
        proxy.requests(),
        started.elapsed().as_secs_f64()
    );
}

/// How many requests `what` makes when nothing fails, so every crash point is tried.
async fn requests_of(proxy: &FaultProxy, run: impl std::future::Future<Output = ()>) -> u64 {
    let before = proxy.requests();
    run.await;
    proxy.requests() - before
}

/// Where a crash point is: the invocation, its call (1-based), and whether that call
/// reached AWS before the function stopped.
#[derive(Clone, Copy, Debug)]
struct CrashPoint {
    invocation: Invoke,
    call: u64,
    applied: bool,
}

/// One week on `stack` with the function stopped at `point`, recovered by `healthy` (the
/// invocation Lambda retries, then the schedules). Returns whether the crash point was
/// reached (a later train may make fewer calls than the one they were counted on).
async fn crashed_week(
    stack: &Stack,
    proxy: &FaultProxy,
    crashing: &Deployment,
    healthy: &Deployment,
    firing: DateTime<Utc>,
    point: CrashPoint,
) -> bool {
    let promote_at = firing + Duration::days(2);
    let cut = scheduled_event(firing, json!({}));
    let promote = scheduled_event(promote_at, json!({}));
    let mut reached = false;
    let crash = |what: Invoke, payload: &Value, now| {
        proxy.crash_at(point.call, point.applied);
        let run = invoke(crashing, what, payload.clone(), now);
        async move {
            let crashed = proxy.run_until_crash(run).await;
            proxy.heal();
            crashed
        }
    };
    if let Invoke::Cut = point.invocation {
        reached = Box::pin(crash(Invoke::Cut, &cut, firing)).await;
    }
    let (answer, _) = until_ok(healthy, Invoke::Cut, &cut, firing).await;
    let id = TrainId::parse(answer["train"].as_str().unwrap()).unwrap();
    let soak = firing + Duration::minutes(5);
    drive(stack, healthy, &id, soak, &[State::Soaking]).await;
    if let Invoke::Promote = point.invocation {
        reached = Box::pin(crash(Invoke::Promote, &promote, promote_at)).await;
    }
    until_ok(healthy, Invoke::Promote, &promote, promote_at).await;
    let end = promote_at + Duration::minutes(5);
    let (train, _) = drive(stack, healthy, &id, end, &[State::Released]).await;
    for (name, run) in &train.components {
        assert_eq!(
            run.production.as_ref().and_then(|b| b.commit.as_ref()),
            run.pinned.as_ref(),
            "{point:?}: {name} shipped its pin"
        );
    }
    reached
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_stopped_after_any_of_its_calls_recovers_with_no_duplicate_build() {
    let proxy = FaultProxy::start(&common::endpoint(), 1).await;
    let proxied = proxy.sdk().await;
    let started = Instant::now();

    // A clean cut and a clean promotion through the proxy, to count their calls.
    let stack = Stack::provision(&["api", "web"], "47h").await;
    let d = stack.deployment(&proxied);
    let firing = cut_firings(&stack, 1)[0];
    let cut = scheduled_event(firing, json!({}));
    let cut_calls = requests_of(&proxy, async {
        until_ok(&d, Invoke::Cut, &cut, firing).await;
    })
    .await;
    let id = stored_latest(&stack).await.id;
    drive(
        &stack,
        &d,
        &id,
        firing + Duration::minutes(5),
        &[State::Soaking],
    )
    .await;
    let promote_at = firing + Duration::days(2);
    let promote = scheduled_event(promote_at, json!({}));
    let promote_calls = requests_of(&proxy, async {
        until_ok(&d, Invoke::Promote, &promote, promote_at).await;
    })
    .await;
    assert!(
        cut_calls >= 5 && promote_calls >= 5,
        "{cut_calls} {promote_calls}"
    );
    stack.teardown().await;

    let points: Vec<CrashPoint> = [(Invoke::Cut, cut_calls), (Invoke::Promote, promote_calls)]
        .into_iter()
        .flat_map(|(invocation, calls)| {
            (1..=calls).flat_map(move |call| {
                [false, true].map(|applied| CrashPoint {
                    invocation,
                    call,
                    applied,
                })
            })
        })
        .collect();
    let mut reached = 0;
    // A stack per ten weeks: the emulator slows down as its tables fill up.
    for chunk in points.chunks(10) {
        let stack = Stack::provision(&["api", "web"], "47h").await;
        let crashing = stack.deployment(&proxied);
        let healthy = stack.deployment(&stack.sdk);
        for (week, (point, firing)) in chunk
            .iter()
            .zip(cut_firings(&stack, chunk.len()))
            .enumerate()
        {
            reached += usize::from(
                Box::pin(crashed_week(
                    &stack, &proxy, &crashing, &healthy, firing, *point,
                ))
                .await,
            );
            let what = format!("{point:?}: one build per project and week");
            assert_each_project_ran(&stack, week + 1, &what).await;
        }
        stack.teardown().await;
    }
    println!(
        "RELIABILITY crash-points cut_calls={cut_calls} promote_calls={promote_calls} points={} reached={reached} wall={:.1}s",
        points.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        reached * 10 >= points.len() * 9,
        "most crash points are reached: {reached}"
    );
}

/// The newest train in the store.
async fn stored_latest(stack: &Stack) -> Train {
    let d = stack.observer();
    let query = train_engine::ports::ListQuery {
        limit: 1,
        ..Default::default()
    };
    d.engine.list(&query).await.unwrap().remove(0)
}

/// `SCALE_COMPONENTS`, or 20 in the test command.
fn scale_components() -> usize {
    std::env::var("SCALE_COMPONENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// Plays CodeBuild for a whole stage at once: every running build of `stage` finishes
/// green (at the pin in production), then each build's state change is delivered, in
/// order, as EventBridge would after a burst of finished builds.
async fn finish_stage(
    stack: &Stack,
    d: &Deployment,
    id: &TrainId,
    stage: Stage,
    now: DateTime<Utc>,
) {
    let train = stored(stack, id).await;
    let running: Vec<(String, String, String)> = train
        .active_builds(stage)
        .filter_map(|(component, build)| {
            let at = built_at(component.as_str(), build);
            Some((
                component.to_string(),
                build.build_id.as_ref()?.to_string(),
                at,
            ))
        })
        .collect();
    let finishing = Instant::now();
    for (_, build, at) in &running {
        stack.finish_build(build, "SUCCEEDED", Some(at));
    }
    println!(
        "SCALE the test finished {} builds on the emulator in {:.1}s",
        running.len(),
        finishing.elapsed().as_secs_f64()
    );
    for (component, build, _) in &running {
        let event = build_state_change(build, "SUCCEEDED", id.as_str(), component);
        until_ok(d, Invoke::Events, &event, now).await;
    }
}

/// The scale budget, through the functions' own handlers and every real adapter
/// (DynamoDB, CodeBuild, S3, EventBridge on the emulator): a train of N components from
/// cut to release makes at most 2N `StartBuild` calls and, in each phase, at most
/// N/25 + 20 DynamoDB writes and a few reads of the whole train. 200 components in the
/// test command; `SCALE_COMPONENTS=1000` is the benchmark in BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_train_through_the_functions_stays_within_its_call_budget() {
    let n = scale_components();
    let names: Vec<String> = (0..n).map(|i| format!("c{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let started = Instant::now();
    let stack = Stack::provision(&refs, "47h").await;
    let provisioned = started.elapsed();
    let d = stack.deployment(&stack.sdk);
    let firing = cut_firings(&stack, 1)[0];
    let promote_at = firing + Duration::days(2);
    let budget = u64::try_from(n / 25 + 20).unwrap();
    let mut total_starts = 0;
    let mut id = None;
    let train_started = Instant::now();
    for phase in ["cut", "staging results", "promotion", "production results"] {
        d.calls.reset();
        let at = Instant::now();
        match phase {
            "cut" => {
                let (cut, _) =
                    until_ok(&d, Invoke::Cut, &scheduled_event(firing, json!({})), firing).await;
                id = Some(TrainId::parse(cut["train"].as_str().unwrap()).unwrap());
            }
            "promotion" => {
                let promote = scheduled_event(promote_at, json!({}));
                until_ok(&d, Invoke::Promote, &promote, promote_at).await;
            }
            results => {
                let (stage, now) = if results == "staging results" {
                    (Stage::Staging, firing + Duration::minutes(30))
                } else {
                    (Stage::Production, promote_at + Duration::minutes(30))
                };
                finish_stage(&stack, &d, id.as_ref().unwrap(), stage, now).await;
            }
        }
        let calls = d.calls.snapshot();
        let w = train_aws::calls::dynamodb_writes(&calls);
        total_starts += calls.get("StartBuild").copied().unwrap_or(0);
        // Where the phase's time went: in the functions' AWS calls (the emulator), the rest
        // in the functions' own work and the test's (finishing builds on the emulator).
        let in_calls: std::time::Duration = d.calls.time_spent().values().sum();
        let spent: BTreeMap<String, String> = d
            .calls
            .time_spent()
            .into_iter()
            .map(|(op, t)| (op, format!("{:.1}s", t.as_secs_f64())))
            .collect();
        println!(
            "SCALE {n} components, {phase}: {w} DynamoDB writes, {:.1}s ({:.1}s in the functions' AWS calls: {spent:?}), {calls:?}",
            at.elapsed().as_secs_f64(),
            in_calls.as_secs_f64()
        );
        assert!(
            w <= budget,
            "{phase}: {w} DynamoDB writes; the budget is N/25 + 20 = {budget}: {calls:?}"
        );
        // A burst of N events reads the whole train a few times (each read one Query page
        // per MB), not once per event: the events after the first read their component.
        let queries = calls.get("Query").copied().unwrap_or(0);
        assert!(
            queries <= 12 + n as u64 / 25,
            "{phase}: {queries} queries for {n} components: {calls:?}"
        );
    }
    let cut_to_release = train_started.elapsed();
    let train = stored(&stack, id.as_ref().unwrap()).await;
    assert_eq!(train.state(), State::Released, "{:?}", train.history);
    for (name, run) in &train.components {
        let production = run.production.as_ref().expect("every component shipped");
        assert_eq!(
            production.commit, run.pinned,
            "{name}: production built the commit that soaked"
        );
    }
    assert!(
        total_starts <= 2 * n as u64,
        "{total_starts} StartBuild calls for {n} components"
    );
    assert_each_project_ran(&stack, 1, "one build per project").await;
    stack.teardown().await;
    println!(
        "SCALE {n} components cut to release: {total_starts} StartBuild, {:.1}s cut to release (the four phases), provisioning {:.1}s, wall with the checks {:.1}s",
        cut_to_release.as_secs_f64(),
        provisioned.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
