//! Whole trains in local mode: real git, real bash, real SQLite, simulated clock.

mod common;

use chrono::Duration;
use common::*;
use train_core::{Actor, BuildRequest, Event, Reason, Revision, Span, Stage, State};
use train_engine::ports::ListQuery;
use train_engine::{Builder, Cut, Observed};

#[tokio::test]
async fn a_week_releases_exactly_the_commits_that_soaked_even_when_the_branch_moves() {
    let world = World::new(
        &[
            repo("api"),
            Repo {
                wave: 2,
                ..repo("web")
            },
        ],
        "",
    );
    let mut moved: Option<String> = None;
    let train = world
        .run_until(
            8,
            |w, _, t| {
                if moved.is_none() && t.is_some_and(|t| t.state() == State::Soaking) {
                    moved = Some(w.commit("api", "v2, never tested"));
                }
                None
            },
            |t, _| t.is_settled(),
        )
        .await;
    assert_eq!(train.state(), State::Released, "{:#?}", train.history);
    let moved = moved.expect("a commit landed during the soak");
    for (name, run) in &train.components {
        let pin = run.pinned.clone().expect("pinned");
        let prod = run.production.as_ref().expect("production build");
        assert_eq!(
            prod.commit.as_ref(),
            Some(&pin),
            "{name}: production commit is the pin"
        );
        let dir = world
            .local
            .builder
            .build_dir(prod.build_id.as_ref().unwrap());
        let link = prod.link.as_deref().expect("every build links to its log");
        assert!(
            link.ends_with("build.log") && std::path::Path::new(link).exists(),
            "{link}"
        );
        let log = World::log(&dir);
        assert!(
            log.contains(&format!("production build of {name} at {pin}")),
            "{name} built the pin: {log}"
        );
    }
    let api_pin = train.components[&train_core::ComponentName::parse("api").unwrap()]
        .pinned
        .clone()
        .unwrap();
    assert_ne!(
        api_pin.as_str(),
        moved,
        "the branch moved; the train kept its pin"
    );
    // The soak ran its full 48 hours from the last green build, and promotion came after.
    let soak = train
        .history
        .iter()
        .find(|r| r.action == "soak started")
        .unwrap()
        .at;
    let promoted = train
        .history
        .iter()
        .find(|r| r.action.starts_with("promote wave"))
        .unwrap()
        .at;
    assert!(promoted - soak >= Duration::hours(48));
    let manifests = world
        .root
        .path()
        .join("data/manifests")
        .join(train.id.as_str());
    assert!(manifests.join("soaking.json").exists() && manifests.join("released.json").exists());
    let events = std::fs::read_to_string(world.root.path().join("data/events.jsonl")).unwrap();
    for state in [
        "\"to\":\"building\"",
        "\"to\":\"soaking\"",
        "\"to\":\"promoting\"",
        "\"to\":\"released\"",
    ] {
        assert_eq!(
            events.matches(state).count(),
            1,
            "one {state} event in {events}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_soak_means_no_production_build_ever_starts() {
    let world = World::new(&[repo("api"), repo("web")], "");
    let tuesday = start() + Duration::hours(29);
    let mut cancelled = false;
    let wednesday_noon = start() + Duration::hours(51);
    let train = world
        .run_until(
            8,
            |w, now, t| {
                if !cancelled && now >= tuesday && t.is_some_and(|t| t.state() == State::Soaking) {
                    let id = t.unwrap().id.clone();
                    let event = Event::Cancel {
                        by: Actor::parse("local:alice").unwrap(),
                        reason: Reason::parse("checkout errors").unwrap(),
                    };
                    let engine = w.local.engine.clone();
                    cancelled = true;
                    // Run the cancel on this runtime, like the API would.
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(engine.apply(&id, &event, now))
                    })
                    .unwrap();
                }
                Some(if cancelled { wednesday_noon } else { tuesday })
            },
            |t, now| t.is_settled() && now > wednesday_noon,
        )
        .await;
    assert_eq!(train.state(), State::Cancelled);
    assert!(
        world.build_dirs(Stage::Production).is_empty(),
        "no production build directory exists"
    );
    assert!(train.components.values().all(|r| r.production.is_none()));
    let record = train.history.iter().find(|r| r.action == "cancel").unwrap();
    assert_eq!(
        (record.actor.as_str(), record.reason.as_deref()),
        ("local:alice", Some("checkout errors"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_races_promote_and_exactly_one_wins() {
    // The cancel commits first (production never starts) or the promotion does (cancel is
    // rejected with a reason); never both.
    let world = World::new(&[repo("api")], "");
    let soaked = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    let engine = world.local.engine.clone();
    let at = start() + Duration::hours(60);
    let e2 = engine.clone();
    let id = soaked.id.clone();
    let cancel = tokio::spawn(async move {
        let event = Event::Cancel {
            by: Actor::parse("local:bob").unwrap(),
            reason: Reason::parse("race").unwrap(),
        };
        e2.apply(&id, &event, at).await.unwrap()
    });
    let promote = engine.promotion_due(at, at).await.unwrap();
    let cancel = cancel.await.unwrap();
    let train = engine.train(&soaked.id).await.unwrap().unwrap();
    match train.state() {
        State::Cancelled => {
            assert!(train.components.values().all(|r| r.production.is_none()));
            assert!(promote.iter().all(|t| t.state() != State::Promoting));
        }
        State::Promoting | State::Released => {
            assert!(
                matches!(cancel, train_engine::Applied::Rejected(ref r) if r.message.contains("already promoting")),
                "{cancel:?}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_failing_staging_build_halts_the_train_with_its_log() {
    let world = World::new(
        &[
            repo("api"),
            Repo {
                staging: RED,
                ..repo("worker")
            },
        ],
        "",
    );
    let train = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(train.state(), State::Failed);
    let train_core::Phase::Failed { reason, .. } = &train.phase else {
        unreachable!()
    };
    assert!(
        reason.contains("staging build of worker failed") && reason.contains("exit status 1"),
        "{reason}"
    );
    assert!(
        reason.contains("Command did not exit successfully test 1 = 2 exit status 1"),
        "the reason carries the log's tail: {reason}"
    );
    assert!(world.build_dirs(Stage::Production).is_empty());
}

#[tokio::test]
async fn under_exclude_the_healthy_components_ship_and_the_failed_one_is_named() {
    let world = World::new(
        &[
            repo("api"),
            Repo {
                staging: RED,
                ..repo("worker")
            },
        ],
        "on_component_failure = \"exclude\"",
    );
    let train = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(train.state(), State::Released);
    let worker = &train.components[&train_core::ComponentName::parse("worker").unwrap()];
    assert!(
        worker
            .excluded
            .as_deref()
            .unwrap()
            .contains("staging build of worker failed")
    );
    assert!(worker.production.is_none());
    assert_eq!(world.build_dirs(Stage::Production).len(), 1);
}

#[tokio::test]
async fn a_duplicate_cut_delivery_is_one_train_with_one_build_per_component() {
    let world = World::new(&[repo("api"), repo("web")], "");
    let at = start() + Duration::minutes(1);
    let first = world.local.engine.cut(at, at).await.unwrap();
    let second = world
        .local
        .engine
        .cut(at, at + Duration::seconds(3))
        .await
        .unwrap();
    assert!(matches!(first, Cut::Created(_)));
    assert!(matches!(second, Cut::AlreadyCut(ref t) if t.id.as_str() == "weekly-2026-W48"));
    let train = world
        .run_until(8, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    assert_eq!(world.build_dirs(Stage::Staging).len(), 2);
    for dir in world.build_dirs(Stage::Staging) {
        assert_eq!(
            World::log(&dir).matches("Entering phase BUILD").count(),
            1,
            "{}",
            dir.display()
        );
    }
    assert_eq!(
        world
            .local
            .engine
            .list(&ListQuery::default())
            .await
            .unwrap()
            .len(),
        1,
        "{train:?}"
    );
}

fn request(world: &World, key_suffix: &str, timeout: &str) -> BuildRequest {
    BuildRequest {
        train: train_core::TrainId::parse("weekly-2026-W48").unwrap(),
        component: train_core::ComponentName::parse("api").unwrap(),
        stage: Stage::Staging,
        attempt: 1,
        source: world.repo("api").to_string_lossy().into_owned(),
        revision: Revision::Branch("main".into()),
        target: train_core::config::StageTarget {
            buildspec: Some("staging.yml".into()),
            project: None,
            role: None,
        },
        timeout: Span::parse(timeout).unwrap(),
        idempotency_key: format!("weekly-2026-W48/api/staging/{key_suffix}"),
        previous: None,
        branch: None,
    }
}

async fn wait_finished(
    builder: &train_local::LocalBuilder,
    id: &train_core::BuildId,
) -> train_core::BuildOutcome {
    for _ in 0..400 {
        if let Some((_, Observed::Finished(o))) =
            builder.poll(std::slice::from_ref(id)).await.unwrap().pop()
        {
            return o;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("build {id} did not finish");
}

#[tokio::test]
async fn the_builder_runs_a_key_once_however_often_it_is_started() {
    let world = World::new(&[repo("api")], "");
    let builder = &world.local.builder;
    let req = request(&world, "1", "1m");
    let a = builder.start(&req).await.unwrap();
    let b = builder.start(&req).await.unwrap();
    assert_eq!(a, b, "same key, same build");
    let head = git(&world.repo("api"), &["rev-parse", "HEAD"]);
    assert_eq!(
        a.commit.as_ref().map(train_core::Commit::as_str),
        Some(head.as_str()),
        "the branch head is resolved at start"
    );
    let outcome = wait_finished(builder, &a.build_id).await;
    assert!(
        matches!(outcome, train_core::BuildOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    // A second spawn of the same build (a crash between spawn and record) exits at once.
    let dir = builder.build_dir(&a.build_id);
    let status = std::process::Command::new("bash")
        .arg(dir.join("run.sh"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(World::log(&dir).matches("Entering phase BUILD").count(), 1);
}

#[tokio::test]
async fn a_build_past_its_timeout_fails_as_timed_out() {
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n";
    let world = World::new(
        &[Repo {
            staging: slow,
            ..repo("api")
        }],
        "",
    );
    let builder = &world.local.builder;
    let started = std::time::Instant::now();
    let s = builder.start(&request(&world, "slow", "1s")).await.unwrap();
    let outcome = wait_finished(builder, &s.build_id).await;
    assert!(
        matches!(&outcome, train_core::BuildOutcome::Failed { reason } if reason.starts_with("timed out")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[tokio::test]
async fn stopping_a_build_kills_its_phases_and_reports_stopped() {
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n";
    let world = World::new(
        &[Repo {
            staging: slow,
            ..repo("api")
        }],
        "",
    );
    let builder = &world.local.builder;
    let s = builder.start(&request(&world, "stop", "1m")).await.unwrap();
    for _ in 0..200 {
        if World::log(&builder.build_dir(&s.build_id)).contains("Running command sleep 30") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    builder.stop(&s.build_id).await.unwrap();
    assert_eq!(
        wait_finished(builder, &s.build_id).await,
        train_core::BuildOutcome::Stopped
    );
}

#[tokio::test]
async fn a_missing_buildspec_or_branch_fails_the_build_with_the_reason() {
    let world = World::new(&[repo("api")], "");
    let builder = &world.local.builder;
    let mut req = request(&world, "nospec", "1m");
    req.target.buildspec = Some("missing.yml".into());
    let s = builder.start(&req).await.unwrap();
    let outcome = wait_finished(builder, &s.build_id).await;
    assert!(
        matches!(&outcome, train_core::BuildOutcome::Failed { reason } if reason.contains("buildspec missing.yml not found")),
        "{outcome:?}"
    );
    let mut req = request(&world, "nobranch", "1m");
    req.revision = Revision::Branch("release".into());
    let s = builder.start(&req).await.unwrap();
    let outcome = wait_finished(builder, &s.build_id).await;
    assert!(
        matches!(&outcome, train_core::BuildOutcome::Failed { reason } if reason.contains("branch \"release\" does not exist")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn rollback_ships_the_previous_release_commits_again_with_real_builds() {
    let world = World::new(&[repo("api")], "");
    let first = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(first.state(), State::Released);
    let v1 = first.shipped()[&train_core::ComponentName::parse("api").unwrap()].clone();
    let v2 = world.commit("api", "v2");
    let second = world.next_settled(&first.id, 10).await;
    assert_eq!(second.state(), State::Released);
    let api = train_core::ComponentName::parse("api").unwrap();
    assert_eq!(second.shipped()[&api].to_string(), v2);

    let engine = &world.local.engine;
    let by = Actor::parse("local:alice").unwrap();
    let why = Reason::parse("error rate up since the release").unwrap();
    let now = {
        use train_local::Clock;
        world.clock.now()
    };
    let applied = engine
        .rollback(&second.id, by.clone(), why.clone(), now)
        .await
        .unwrap();
    let train_engine::Applied::Done(rolling) = applied else {
        panic!("rollback rejected: {applied:?}");
    };
    assert_eq!(rolling.state(), State::RollingBack);
    let second_id = second.id.clone();
    let done = world
        .run_until(
            20,
            |_, _, _| None,
            |t, _| t.id == second_id && t.is_settled(),
        )
        .await;
    assert_eq!(done.state(), State::RolledBack, "{:#?}", done.history);
    let build = done.components[&api].production.as_ref().unwrap();
    assert_eq!(
        build.commit.as_ref(),
        Some(&v1),
        "production is back on the first release"
    );
    assert_eq!(build.attempt, 2);
    let log = World::log(
        &world
            .local
            .builder
            .build_dir(build.build_id.as_ref().unwrap()),
    );
    assert!(
        log.contains(&format!("production build of api at {v1}")),
        "{log}"
    );
    let record = done
        .history
        .iter()
        .find(|r| r.action.starts_with("rollback to"))
        .unwrap();
    assert_eq!(
        (record.actor.clone(), record.reason.clone()),
        (by, Some(why.to_string()))
    );

    // Rolled back is over; a second rollback says so.
    let again = engine
        .rollback(
            &second.id,
            Actor::parse("local:bob").unwrap(),
            Reason::parse("again").unwrap(),
            now,
        )
        .await
        .unwrap();
    assert!(
        matches!(again, train_engine::Applied::Rejected(r) if r.message.contains("only a released train"))
    );
}

#[tokio::test]
async fn the_next_train_knows_the_last_release_and_lists_the_commits_since_it() {
    let world = World::new(&[repo("api")], "captains = [\"alice\", \"bob\"]");
    let api = train_core::ComponentName::parse("api").unwrap();
    let first = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(first.state(), State::Released);
    let v1 = first.shipped()[&api].clone();
    let first_log = first.components[&api]
        .changelog
        .clone()
        .expect("a first changelog");
    assert_eq!(first_log.from, None, "no release before the first train");
    assert!(!first_log.commits.is_empty());

    world.commit("api", "faster checkout");
    let v3 = world.commit("api", "fix receipt rounding");
    let second = world.next_settled(&first.id, 10).await;
    assert_eq!(second.state(), State::Released);
    let run = &second.components[&api];
    assert_eq!(
        run.previous.as_ref(),
        Some(&v1),
        "the previous release's pin"
    );
    let log = run.changelog.clone().expect("a changelog");
    assert_eq!((log.from.as_ref(), log.to.to_string()), (Some(&v1), v3));
    let subjects: Vec<&str> = log
        .commits
        .iter()
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(
        subjects,
        ["fix receipt rounding", "faster checkout"],
        "newest first, nothing older"
    );
    // The lead time starts at the oldest new commit, as git recorded it.
    let oldest = log.oldest_commit_at.expect("the oldest commit's time");
    assert!(
        (chrono::Utc::now() - oldest).num_seconds().abs() < 120,
        "{oldest}"
    );
    assert_eq!(first_log.oldest_commit_at, None, "a first release has none");

    // Local mode logs the same EMF documents the functions print on AWS.
    let lines = std::fs::read_to_string(world.root.path().join("data/metrics.jsonl")).unwrap();
    let docs: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let named = |name: &str| {
        docs.iter()
            .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == name)
            .count()
    };
    assert!(
        docs.iter()
            .all(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ReleaseTrain")
    );
    assert_eq!((named("TrainsCut"), named("Releases")), (2, 2));
    assert_eq!(
        named("LeadTime"),
        1,
        "only the second train has commits since a release"
    );

    // The builds were told where the last release was, and each train has its captain.
    let staging = run.staging.as_ref().unwrap();
    let env = std::fs::read_to_string(
        world
            .local
            .builder
            .build_dir(staging.build_id.as_ref().unwrap())
            .join("phases.sh"),
    )
    .unwrap();
    assert!(
        env.contains(&format!("export PREVIOUS_RELEASE_COMMIT='{v1}'")),
        "{env}"
    );
    let captains = [
        first.captain.clone().unwrap(),
        second.captain.clone().unwrap(),
    ];
    assert!(
        captains.contains(&"alice".to_owned()) && captains.contains(&"bob".to_owned()),
        "{captains:?}"
    );
}

/// The benchmark week of BENCHMARKS.md: thirty components in three waves, real git and
/// real builds, on the simulated clock. Its wall time is printed, not asserted.
#[tokio::test]
async fn a_thirty_component_week_ships_each_component_once() {
    let names: Vec<String> = (1..=30).map(|i| format!("service-{i:02}")).collect();
    let repos: Vec<Repo<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Repo {
            wave: u32::try_from(i % 3).unwrap() + 1,
            ..repo(n)
        })
        .collect();
    let started = std::time::Instant::now();
    let world = World::new(&repos, "");
    let train = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    let wall = started.elapsed();
    assert_eq!(train.state(), State::Released, "{:#?}", train.history);
    assert_eq!(train.components.len(), 30);
    for (name, run) in &train.components {
        let staging = run.staging.as_ref().unwrap();
        let production = run.production.as_ref().unwrap();
        assert_eq!((staging.attempt, production.attempt), (1, 1), "{name}");
        assert_eq!(production.commit, run.pinned, "{name}");
    }
    let builds = std::fs::read_dir(world.root.path().join("data/builds"))
        .unwrap()
        .count();
    assert_eq!(builds, 60, "one staging and one production build each");
    println!(
        "BENCHMARK local week components=30 builds={builds} wall={:.2}s",
        wall.as_secs_f64()
    );
}
