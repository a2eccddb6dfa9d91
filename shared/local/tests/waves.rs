//! Migrations first, in local mode: real git, real bash builds, SQLite and the simulated
//! clock. db-migrations is wave 1 and api and web wave 2; staging builds them in that order,
//! production bakes wave 1 for 30 minutes before wave 2, and an alarm during the bake keeps
//! wave 2 from ever starting.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use train_core::{ComponentName, Phase, Stage, State, Train};

const PACE: &str = "wave_bake = \"30m\"\nalarms = [\"checkout-5xx\"]";

fn world(train_extra: &str) -> World {
    World::new(
        &[
            repo("db-migrations"),
            Repo {
                wave: 2,
                ..repo("api")
            },
            Repo {
                wave: 2,
                ..repo("web")
            },
        ],
        train_extra,
    )
}

fn build_times(t: &Train, component: &str, stage: Stage) -> (DateTime<Utc>, DateTime<Utc>) {
    let run = &t.components[&ComponentName::parse(component).unwrap()];
    let b = run
        .build(stage)
        .unwrap_or_else(|| panic!("{component} {stage}"));
    (b.started_at.unwrap(), b.finished_at.unwrap())
}

#[tokio::test]
async fn migrations_build_first_in_staging_and_production_with_a_bake_between_waves() {
    let world = world(PACE);
    let train = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(train.state(), State::Released, "{:#?}", train.history);
    let (_, migrated) = build_times(&train, "db-migrations", Stage::Staging);
    for c in ["api", "web"] {
        let (started, _) = build_times(&train, c, Stage::Staging);
        assert!(
            started >= migrated,
            "staging {c} started {started}, before db-migrations ended {migrated}"
        );
    }
    let (_, shipped) = build_times(&train, "db-migrations", Stage::Production);
    for c in ["api", "web"] {
        let (started, _) = build_times(&train, c, Stage::Production);
        assert!(
            started >= shipped + Duration::minutes(30),
            "production {c} started {started}, within the bake after {shipped}"
        );
    }
    let actions: Vec<&str> = train.history.iter().map(|r| r.action.as_str()).collect();
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| *x == a)
            .unwrap_or_else(|| panic!("{a}: {actions:?}"))
    };
    assert!(pos("staging wave 2") < pos("soak started"));
    assert!(pos("promote wave 1") < pos("baking wave 1"));
    assert!(pos("baking wave 1") < pos("promote wave 2"));
}

#[tokio::test]
async fn an_alarm_during_the_bake_holds_wave_two_and_the_history_says_what_shipped() {
    let world = world(PACE);
    let raised: std::cell::Cell<Option<DateTime<Utc>>> = std::cell::Cell::new(None);
    let train = world
        .run_until(
            8,
            |w, now, t| {
                if raised.get().is_none() && t.is_some_and(|t| t.bake.is_some()) {
                    w.local.alarms.set("checkout-5xx", true).unwrap();
                    raised.set(Some(now));
                }
                // Wake a day after the alarm, long past the bake, as a polling runner would.
                raised
                    .get()
                    .map(|r| r + Duration::days(1) + Duration::minutes(1))
                    .filter(|wake| *wake > now)
            },
            |_, now| raised.get().is_some_and(|r| now > r + Duration::days(1)),
        )
        .await;
    assert_eq!(train.state(), State::Held, "{:#?}", train.history);
    for c in ["api", "web"] {
        let run = &train.components[&ComponentName::parse(c).unwrap()];
        assert!(run.production.is_none(), "{c} never started in production");
    }
    let hold = train.history.iter().find(|r| r.action == "hold").unwrap();
    assert_eq!(hold.actor.as_str(), "alarm:checkout-5xx");
    let why = hold.reason.as_deref().unwrap();
    assert!(why.contains("during the bake of wave 1"), "{why}");
    assert!(why.contains("shipped: db-migrations"), "{why}");
    // The alarm clears: the hold lifts by itself and wave 2 ships.
    world.local.alarms.set("checkout-5xx", false).unwrap();
    let train = world
        .run_until(
            10,
            |_, now, _| Some(now + Duration::minutes(5)),
            |t, _| t.is_settled(),
        )
        .await;
    assert_eq!(train.state(), State::Released, "{:#?}", train.history);
}

#[tokio::test]
async fn with_on_alarm_cancel_an_alarm_during_the_bake_stops_wave_two_for_good() {
    let world = world(&format!("{PACE}\non_alarm = \"cancel\""));
    let mut raised = false;
    let train = world
        .run_until(
            8,
            |w, _, t| {
                if !raised && t.is_some_and(|t| t.bake.is_some()) {
                    w.local.alarms.set("checkout-5xx", true).unwrap();
                    raised = true;
                }
                None
            },
            |t, _| t.is_settled(),
        )
        .await;
    let Phase::Cancelled { reason, .. } = &train.phase else {
        panic!("{:#?}", train.history)
    };
    assert!(
        reason.as_str().contains("shipped: db-migrations"),
        "{reason}"
    );
    assert!(
        reason.as_str().contains("wave 2 and later are stopped"),
        "{reason}"
    );
    for c in ["api", "web"] {
        let run = &train.components[&ComponentName::parse(c).unwrap()];
        assert!(run.production.is_none(), "{c} never started in production");
    }
}

/// An approval names what it approves: worker's staging build fails (excluded), alice
/// approves what soaks, then worker is fixed and retried: the approval is void, the train
/// says so, and it waits for approvals again before it can ship.
#[tokio::test]
async fn a_staging_retry_voids_the_approvals_given_before_it() {
    use train_core::{Actor, Event, Reason};
    let world = World::new(
        &[
            repo("api"),
            Repo {
                staging: RED,
                ..repo("worker")
            },
        ],
        "on_component_failure = \"exclude\"\napprovals = 1",
    );
    let soaking = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    let alice = Actor::parse("local:alice").unwrap();
    let engine = &world.local.engine;
    let now = soaking.history.last().unwrap().at;
    let approve = Event::Approve {
        by: alice.clone(),
        reason: Reason::parse("api looks right").unwrap(),
    };
    engine.apply(&soaking.id, &approve, now).await.unwrap();
    let approved = engine.train(&soaking.id).await.unwrap().unwrap();
    assert_eq!(approved.approvals.len(), 1);
    assert_eq!(
        approved.approvals[0]
            .pins
            .keys()
            .map(ComponentName::as_str)
            .collect::<Vec<_>>(),
        ["api"],
        "the excluded worker is not approved"
    );
    // worker is fixed and retried.
    std::fs::write(world.repo("worker").join("staging.yml"), GREEN).unwrap();
    git(
        &world.repo("worker"),
        &["commit", "-q", "-am", "fix the tests"],
    );
    let retry = Event::Retry {
        by: alice,
        reason: Reason::parse("worker's tests fixed").unwrap(),
    };
    engine.apply(&soaking.id, &retry, now).await.unwrap();
    let train = world
        .run_until(
            3,
            |_, _, _| None,
            |t, _| {
                t.state() == State::Soaking && t.components.values().all(|r| r.excluded.is_none())
            },
        )
        .await;
    assert!(train.approvals.is_empty(), "{:#?}", train.approvals);
    let voided = train
        .history
        .iter()
        .find(|r| r.action == "approval voided")
        .expect("the history says the approval was voided");
    assert!(
        voided
            .reason
            .as_deref()
            .unwrap()
            .contains("local:alice's approval no longer counts: staging builds worker again"),
        "{voided:?}"
    );
    assert!(
        train
            .blockers(train.history.last().unwrap().at)
            .contains(&train_core::Blocker::Approvals { have: 0, need: 1 }),
        "it needs an approval again"
    );
}
