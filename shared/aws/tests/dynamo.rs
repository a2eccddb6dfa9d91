//! The DynamoDB store against the emulator: its port semantics, the same trains as the
//! SQLite store, a cancel racing a promotion, and a train of a thousand components.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::*;
use train_core::{Actor, Event, Reason, Stage, State, Train};
use train_engine::ports::{Inserted, ListQuery, Saved};
use train_engine::{Applied, Cut, Outbox, Store, TrainStore};
use train_local::SqliteStore;

#[tokio::test]
async fn insert_is_once_commit_is_conditional_and_a_lost_race_is_an_outcome() {
    let (store, _) = dynamo().await;
    let config = config(3);
    let cut = Train::cut(&config, monday(), monday());
    assert_eq!(store.insert(&cut).await.unwrap(), Inserted::Created);
    assert_eq!(store.insert(&cut).await.unwrap(), Inserted::AlreadyExists);
    let stored = store.load(&cut.train.id).await.unwrap().unwrap();
    assert_eq!(stored.train, cut.train, "the train reads back whole");
    assert_eq!(stored.version, 1);
    assert_eq!(store.pending(&cut.train.id).await.unwrap(), cut.effects);

    let hold = Event::Hold {
        by: Actor::parse("local:a").unwrap(),
        reason: Reason::parse("x").unwrap(),
    };
    let next = stored.train.on(&hold, monday()).unwrap();
    assert_eq!(
        store.commit(&stored, &next).await.unwrap(),
        Saved::Committed(2)
    );
    assert_eq!(
        store.commit(&stored, &next).await.unwrap(),
        Saved::Conflict,
        "a stale version loses"
    );
    assert_eq!(
        store.load(&cut.train.id).await.unwrap().unwrap().train,
        next.train
    );
    // One component reads back alone, as committed; an unknown one is absent.
    let (name, run) = next.train.components.iter().next().unwrap();
    assert_eq!(
        store.component(&cut.train.id, name).await.unwrap().as_ref(),
        Some(run)
    );
    let unknown = train_core::ComponentName::parse("not-in-this-train").unwrap();
    assert_eq!(
        store.component(&cut.train.id, &unknown).await.unwrap(),
        None
    );

    // Each commit's effects are one outbox page (the cut's five, the hold's); each mark is
    // one done marker, and marking an effect twice leaves the others pending, in order.
    let outbox = sort_keys(&store, &format!("T#{}", cut.train.id)).await;
    let count = |prefix: &str| outbox.iter().filter(|k| k.starts_with(prefix)).count();
    assert!(cut.effects.len() > 3, "{} effects", cut.effects.len());
    assert_eq!(count("O#"), 2, "one page per commit: {outbox:?}");
    let first = cut.effects[0].id;
    store.mark_done(&cut.train.id, &[first]).await.unwrap();
    store.mark_done(&cut.train.id, &[first]).await.unwrap();
    store.mark_done(&cut.train.id, &[]).await.unwrap();
    let left: Vec<_> = cut.effects[1..]
        .iter()
        .chain(&next.effects)
        .cloned()
        .collect();
    assert_eq!(
        store.pending(&cut.train.id).await.unwrap(),
        left,
        "only the marked effect left the outbox"
    );
    let marked = sort_keys(&store, &format!("T#{}", cut.train.id)).await;
    assert_eq!(
        marked.iter().filter(|k| k.starts_with("D#")).count(),
        2,
        "one marker per call that named effects: {marked:?}"
    );
    assert_eq!(
        store.unsettled().await.unwrap(),
        std::slice::from_ref(&cut.train.id)
    );
}

/// Both stores keep a train name's schedule controls behind a version: the first write
/// creates them once, and a writer holding an old version loses.
#[tokio::test]
async fn schedule_controls_are_conditional_on_their_version_in_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("t.sqlite")).unwrap());
    let dynamo: Arc<dyn Store> = Arc::new(common::dynamo().await.0);
    let name = train_core::TrainName::parse("weekly").unwrap();
    let alice = Actor::parse("local:alice").unwrap();
    let why = Reason::parse("holiday").unwrap();
    for store in [sqlite, dynamo] {
        let (fresh, v0) = store.controls(&name).await.unwrap();
        assert_eq!((fresh.paused.is_none(), v0), (true, 0));
        let paused = fresh.pause(&alice, &why, common::monday()).unwrap();
        assert_eq!(
            store.set_controls(&name, &paused, 0).await.unwrap(),
            Saved::Committed(1)
        );
        assert_eq!(
            store.set_controls(&name, &paused, 0).await.unwrap(),
            Saved::Conflict,
            "a second first write loses"
        );
        let (read, v1) = store.controls(&name).await.unwrap();
        assert_eq!((read.clone(), v1), (paused, 1));
        let resumed = read.resume(&alice, &why, common::monday()).unwrap();
        assert_eq!(
            store.set_controls(&name, &resumed, 1).await.unwrap(),
            Saved::Committed(2)
        );
        assert_eq!(
            store.set_controls(&name, &read, 1).await.unwrap(),
            Saved::Conflict,
            "a stale writer loses"
        );
        assert!(store.controls(&name).await.unwrap().0.paused.is_none());
    }
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_state() {
    let (store, _) = dynamo().await;
    let config = config(1);
    for week in 0..3 {
        let at = monday() + Duration::weeks(week);
        store.insert(&Train::cut(&config, at, at)).await.unwrap();
    }
    let q = ListQuery {
        name: Some(config.train.name.clone()),
        state: None,
        limit: 2,
    };
    let ids: Vec<String> = store
        .list(&q)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ids, ["weekly-2026-W50", "weekly-2026-W49"]);
    let q = ListQuery {
        state: Some(State::Released),
        limit: 10,
        ..q
    };
    assert!(store.list(&q).await.unwrap().is_empty());
}

async fn store_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&train_aws::emulator_config(&endpoint()).await)
}

/// The sort keys of one partition, as stored.
async fn sort_keys(store: &train_aws::DynamoStore, pk: &str) -> Vec<String> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let out = store_client()
        .await
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", S(pk.into()))
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .filter_map(|i| i.get("sk").and_then(|k| k.as_s().ok()).cloned())
        .collect()
}

#[tokio::test]
async fn the_table_expires_items_by_their_ttl_attribute() {
    let (store, _) = dynamo().await;
    let ttl = store_client()
        .await
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let desc = ttl.time_to_live_description().unwrap();
    assert_eq!(desc.attribute_name(), Some(train_aws::dynamo::EXPIRES_AT));
    assert_eq!(
        desc.time_to_live_status()
            .map(aws_sdk_dynamodb::types::TimeToLiveStatus::as_str),
        Some("ENABLED")
    );
}

/// Runs a whole train through the engine on `store` and returns it with its effects.
async fn whole_train(store: Arc<dyn Store>, cancel: bool) -> (Train, Vec<String>) {
    let rig = engine(store, config(4));
    let Cut::Created(train) = rig.engine.cut(monday(), monday()).await.unwrap() else {
        panic!("new train")
    };
    let mut now = monday() + Duration::minutes(5);
    rig.engine.reconcile(now).await.unwrap();
    if cancel {
        let event = Event::Cancel {
            by: Actor::parse("local:alice").unwrap(),
            reason: Reason::parse("checkout errors").unwrap(),
        };
        rig.engine
            .apply(&train.id, &event, now + Duration::hours(20))
            .await
            .unwrap();
    }
    now += Duration::hours(48);
    rig.engine.promotion_due(now, now).await.unwrap();
    for _ in 0..4 {
        now += Duration::minutes(10);
        rig.engine.reconcile(now).await.unwrap();
    }
    let end = rig.engine.train(&train.id).await.unwrap().unwrap();
    let events = rig
        .recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|a| format!("{:?}->{}", a.from, a.to))
        .collect();
    (end, events)
}

#[tokio::test]
async fn both_stores_give_the_same_trains_for_the_same_inputs() {
    for cancel in [false, true] {
        let (dynamo, _) = dynamo().await;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("t.sqlite")).unwrap();
        let (a, ea) = whole_train(Arc::new(dynamo), cancel).await;
        let (b, eb) = whole_train(Arc::new(sqlite), cancel).await;
        assert_eq!(
            a.state(),
            if cancel {
                State::Cancelled
            } else {
                State::Released
            }
        );
        assert_eq!(
            a, b,
            "same train from DynamoDB and SQLite (cancel: {cancel})"
        );
        assert_eq!(ea, eb);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_racing_promotion_has_exactly_one_winner_in_every_round() {
    // 200 rounds in the test command; `RELIABILITY_LONG=1` runs a thousand (RELIABILITY.md
    // has the figures of both), `RELIABILITY_TRIALS` exactly that many.
    let rounds: i64 = std::env::var("RELIABILITY_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if std::env::var_os("RELIABILITY_LONG").is_some() {
            1000
        } else {
            200
        });
    let config = config(2);
    let (mut cancels, mut promotions) = (0, 0);
    let started = std::time::Instant::now();
    for round in 0..rounds {
        // A table per round: the emulator's queries slow down as a table fills up.
        let store: Arc<dyn Store> = Arc::new(dynamo().await.0);
        // A train soaked past its soak, stored at once; then the two race through the engine.
        let at = monday() + Duration::weeks(round);
        let soaked = soaked_train(&config, at);
        store
            .insert(&train_core::Transition {
                train: soaked.clone(),
                effects: Vec::new(),
            })
            .await
            .unwrap();
        let rig = engine(store.clone(), config.clone());
        let due = at + Duration::hours(50);
        let (e1, e2, id1, id2) = (
            rig.engine.clone(),
            rig.engine.clone(),
            soaked.id.clone(),
            soaked.id.clone(),
        );
        let cancel = tokio::spawn(async move {
            let event = Event::Cancel {
                by: Actor::parse("local:bob").unwrap(),
                reason: Reason::parse("race").unwrap(),
            };
            e1.apply(&id1, &event, due).await.unwrap()
        });
        let promote = tokio::spawn(async move {
            e2.apply(&id2, &Event::PromotionDue { scheduled: due }, due)
                .await
                .unwrap()
        });
        let (cancel, _) = (cancel.await.unwrap(), promote.await.unwrap());
        let end = rig.engine.train(&soaked.id).await.unwrap().unwrap();
        let production = rig
            .builder
            .started
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.stage == Stage::Production)
            .count();
        match end.state() {
            State::Cancelled => {
                assert!(matches!(cancel, Applied::Done(_)));
                assert_eq!(
                    production, 0,
                    "round {round}: cancelled, yet a production build started"
                );
                cancels += 1;
            }
            State::Promoting | State::Released => {
                assert!(
                    matches!(&cancel, Applied::Rejected(r) if r.message.contains("already promoting")),
                    "round {round}: {cancel:?}"
                );
                assert_eq!(production, 2, "round {round}");
                promotions += 1;
            }
            other => panic!("round {round}: {other}"),
        }
    }
    println!(
        "RELIABILITY cancel-vs-promote rounds={rounds} cancel_won={cancels} promotion_won={promotions} wall={:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(cancels + promotions, rounds);
    assert!(
        cancels > 0 && promotions > 0,
        "both sides won some rounds: a real race"
    );
}

/// A train cut at `at` whose staging builds all went green a minute later.
fn soaked_train(config: &train_core::Config, at: chrono::DateTime<chrono::Utc>) -> Train {
    let mut t = Train::cut(config, at, at).train;
    let names: Vec<_> = t.components.keys().cloned().collect();
    for (i, name) in names.into_iter().enumerate() {
        let commit = train_core::Commit::parse(&format!("{:040x}", i + 1)).unwrap();
        let build_id = train_core::BuildId::parse(&format!("b{i}")).unwrap();
        let outcome = train_core::BuildOutcome::Succeeded {
            commit: Some(commit),
        };
        let event = Event::BuildFinished {
            component: name,
            stage: Stage::Staging,
            attempt: 1,
            build_id,
            outcome,
        };
        t = t.on(&event, at + Duration::minutes(1)).unwrap().train;
    }
    assert_eq!(t.state(), State::Soaking);
    t
}

#[tokio::test]
async fn a_thousand_components_fit_and_writes_grow_with_n_over_100() {
    let (store, calls) = dynamo().await;
    let config = config(1000);
    let cut = Train::cut(&config, monday(), monday());
    assert_eq!(store.insert(&cut).await.unwrap(), Inserted::Created);
    let write_calls = calls.snapshot();
    let back = store.load(&cut.train.id).await.unwrap().unwrap();
    assert_eq!(back.train, cut.train);
    assert_eq!(
        store.pending(&cut.train.id).await.unwrap().len(),
        cut.effects.len()
    );
    let all = calls.snapshot();
    println!("1,000-component cut: writes {write_calls:?}; with two reads back: {all:?}");
    let transactions = write_calls.get("TransactWriteItems").copied().unwrap_or(0);
    // 1,000 components + 1 audit record + the 1,003 effects (1,000 starts, a metric, an
    // event, a manifest) in a handful of 64 KB outbox pages.
    assert!(
        transactions <= 1_010 / 100 + 1,
        "{transactions} transactions"
    );
    assert!(
        write_calls.get("PutItem").copied().unwrap_or(0) <= 3,
        "journal part(s) and the header"
    );
    let queries = all.get("Query").copied().unwrap_or(0);
    assert!(
        queries <= 12,
        "{queries} queries for two full reads: pages, not one read per component"
    );

    // One build event on the big train is one small transaction.
    calls.reset();
    let id = train_core::BuildId::parse("b-1").unwrap();
    let name = train_core::ComponentName::parse("c0007").unwrap();
    let event = Event::BuildStarted {
        component: name,
        stage: Stage::Staging,
        attempt: 1,
        build_id: id,
        commit: None,
        link: None,
    };
    let next = back.train.on(&event, monday()).unwrap();
    assert_eq!(
        store.commit(&back, &next).await.unwrap(),
        Saved::Committed(2)
    );
    assert_eq!(calls.snapshot().get("TransactWriteItems"), Some(&1));
    assert_eq!(
        store.load(&cut.train.id).await.unwrap().unwrap().train,
        next.train
    );
}

#[tokio::test]
async fn a_large_commit_cut_short_after_its_commit_point_is_rolled_forward_by_the_next_reader() {
    let (store, calls) = dynamo().await;
    let config = config(150);
    let cut = Train::cut(&config, monday(), monday());
    store.insert(&cut).await.unwrap();
    let stored = store.load(&cut.train.id).await.unwrap().unwrap();
    // A transition touching all 150 components: too large for one transaction.
    let mut next = stored.train.clone();
    for run in next.components.values_mut() {
        run.excluded = Some("excluded in a crash test".into());
    }
    let t = train_core::Transition {
        train: next.clone(),
        effects: Vec::new(),
    };
    let crashing = store.clone().crashing_before_apply();
    assert!(
        crashing.commit(&stored, &t).await.is_err(),
        "the writer stops after the commit point"
    );
    // The commit point passed: a second writer at the old version loses...
    assert_eq!(store.commit(&stored, &t).await.unwrap(), Saved::Conflict);
    // ...and any reader sees the whole new train, never half of it.
    calls.reset();
    let seen = store.load(&cut.train.id).await.unwrap().unwrap();
    assert_eq!((seen.version, &seen.train), (2, &next));
    assert!(
        calls.get("TransactWriteItems") >= 2,
        "the reader applied the journal: {:?}",
        calls.snapshot()
    );
    assert_eq!(
        store.load(&cut.train.id).await.unwrap().unwrap().train,
        next,
        "and it stays applied"
    );
}

#[tokio::test]
async fn a_thousand_component_cut_through_the_engine_reads_the_train_a_few_times_not_once_per_build()
 {
    let (store, calls) = dynamo().await;
    let rig = engine(Arc::new(store), config(1000));
    let Cut::Created(train) = rig.engine.cut(monday(), monday()).await.unwrap() else {
        panic!("new train")
    };
    let counts = calls.snapshot();
    println!("1,000-component cut through the engine, all builds started and recorded: {counts:?}");
    assert_eq!(rig.builder.started.lock().unwrap().len(), 1000);
    let stored = rig.engine.train(&train.id).await.unwrap().unwrap();
    assert!(
        stored
            .components
            .values()
            .all(|r| r.staging.as_ref().is_some_and(|b| b.build_id.is_some())),
        "every build id recorded"
    );
    let queries = counts.get("Query").copied().unwrap_or(0);
    assert!(
        queries <= 5,
        "{queries} full reads: the builds are recorded in one transition, not one each"
    );
    let writes: u64 = ["TransactWriteItems", "PutItem", "BatchWriteItem"]
        .iter()
        .map(|op| counts.get(*op).copied().unwrap_or(0))
        .sum();
    assert!(
        writes <= 1_000 / 25 + 20,
        "{writes} write calls for 1,000 components"
    );
    assert!(
        counts.get("PutItem").copied().unwrap_or(0) <= 6,
        "journal parts, headers and one done marker per round, not one per effect: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_train_from_cut_to_release_stays_within_its_call_budget() {
    // 200 components in the test command; `BUDGET_COMPONENTS=1000` runs the benchmark's
    // size (BENCHMARKS.md has both).
    let n: u64 = std::env::var("BUDGET_COMPONENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let (store, calls) = dynamo().await;
    let rig = engine(Arc::new(store), config(usize::try_from(n).unwrap()));
    let started = std::time::Instant::now();
    // Every phase is measured and printed; the budget is judged at the end, so a run over
    // budget still shows where the calls went.
    let mut phases = Vec::new();
    let mut phase = |name: &str, counts: std::collections::BTreeMap<String, u64>| {
        let w = train_aws::calls::dynamodb_writes(&counts);
        println!("{n}-component train, {name}: {w} DynamoDB writes, {counts:?}");
        phases.push((name.to_owned(), w, counts));
    };

    let Cut::Created(train) = rig.engine.cut(monday(), monday()).await.unwrap() else {
        panic!("new train")
    };
    phase("cut and every staging build started", calls.snapshot());
    calls.reset();
    let now = monday() + Duration::minutes(30);
    rig.engine.reconcile(now).await.unwrap();
    phase("the staging results, soak started", calls.snapshot());
    assert_eq!(
        rig.engine.train(&train.id).await.unwrap().unwrap().state(),
        State::Soaking
    );
    calls.reset();
    let due = monday() + Duration::hours(50);
    rig.engine.promotion_due(due, due).await.unwrap();
    phase(
        "promotion: every production build started",
        calls.snapshot(),
    );
    calls.reset();
    rig.engine
        .reconcile(due + Duration::minutes(30))
        .await
        .unwrap();
    phase("the production results, released", calls.snapshot());
    // One read of the released train (its largest) is this many Query pages of 1 MB.
    calls.reset();
    let end = rig.engine.train(&train.id).await.unwrap().unwrap();
    assert_eq!(end.state(), State::Released);
    let pages_per_read = calls.snapshot().get("Query").copied().unwrap_or(0);
    let mut over = Vec::new();
    for (name, writes, counts) in &phases {
        if *writes > n / 25 + 20 {
            over.push(format!(
                "{name}: {writes} DynamoDB write calls; the budget is N/25 + 20"
            ));
        }
        // A phase reads the train a few times (load, pending, record), not once per build;
        // three more queries cover the unsettled index and the last release.
        if counts.get("Query").copied().unwrap_or(0) > 6 * pages_per_read + 3 {
            over.push(format!(
                "{name}: more than six reads of the train ({pages_per_read} Query pages each): {counts:?}"
            ));
        }
    }
    let start_calls = rig
        .builder
        .start_calls
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        start_calls <= 2 * n,
        "{start_calls} build starts for {n} components"
    );
    assert_eq!(rig.builder.started.lock().unwrap().len() as u64, 2 * n);
    println!(
        "BENCHMARK {n}-component train cut to release on the emulator: {start_calls} build starts, one read of the train = {pages_per_read} Query pages, wall {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(over.is_empty(), "over budget: {over:#?}");
}
