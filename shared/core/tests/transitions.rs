//! One test per transition and per rejection of the train state machine.

mod common;

use chrono::Duration;
use common::*;
use train_core::{
    Blocker, BuildOutcome, BuildStatus, Effect, Event, Phase, RejectionKind, Revision, Stage,
    State, Train,
};

fn wed_9() -> chrono::DateTime<chrono::Utc> {
    monday() + Duration::hours(48)
}

fn promoted(config: &train_core::Config) -> (Train, Vec<Effect>) {
    let t = soaking(config);
    apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::minutes(6),
    )
}

#[test]
fn cut_requests_one_staging_build_per_component_at_the_branch_head() {
    let tr = Train::cut(&config(), monday(), monday());
    assert_eq!(tr.train.id.as_str(), "weekly-2026-W48");
    assert_eq!(tr.train.state(), State::Building);
    let effects: Vec<Effect> = tr.effects.iter().map(|p| p.effect.clone()).collect();
    let s = starts(&effects, Stage::Staging);
    assert_eq!(s.len(), 3);
    assert!(
        s.iter()
            .all(|(_, rev)| *rev == Revision::Branch("main".into()))
    );
    let keys: std::collections::BTreeSet<_> = effects
        .iter()
        .filter_map(|e| {
            if let Effect::StartBuild(r) = e {
                Some(r.idempotency_key.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(keys.len(), 3, "one idempotency key per build");
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::Publish(a) if a.from.is_none() && a.to == State::Building)
        )
    );
    let ids: Vec<u64> = tr.effects.iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        (0..ids.len() as u64).collect::<Vec<_>>(),
        "effect ids are dense and ordered"
    );
}

#[test]
fn cut_inside_a_freeze_is_skipped_with_the_reason() {
    let frozen = train_core::Config::parse(&format!("{MINIMAL}\n[[freeze]]\nname = \"holidays\"\nfrom = \"2026-11-20\"\nuntil = \"2026-11-30\"\n")).unwrap();
    let tr = Train::cut(&frozen, monday(), monday());
    assert_eq!(tr.train.state(), State::Skipped);
    assert!(matches!(&tr.train.phase, Phase::Skipped { reason } if reason.contains("holidays")));
    assert!(
        starts(
            &tr.effects
                .iter()
                .map(|p| p.effect.clone())
                .collect::<Vec<_>>(),
            Stage::Staging
        )
        .is_empty()
    );
}

#[test]
fn build_started_records_the_build_and_a_repeat_changes_nothing() {
    let t = cut(&config());
    let e = started("api", Stage::Staging, Some(commit(1)));
    let (t1, _) = apply(&t, std::slice::from_ref(&e), monday());
    let b = t1.components[&name("api")].staging.clone().unwrap();
    assert_eq!(
        (b.status, b.build_id.clone()),
        (
            BuildStatus::Running,
            Some(build_id("api", Stage::Staging, 1))
        )
    );
    let again = t1.on(&e, monday() + Duration::minutes(1)).unwrap();
    assert!(!again.changed(&t1) && again.effects.is_empty());
}

#[test]
fn last_green_staging_build_starts_the_soak_from_that_moment() {
    let t = soaking(&config());
    let Phase::Soaking { since, until } = t.phase else {
        panic!("{:?}", t.phase)
    };
    assert_eq!(
        since,
        monday() + Duration::minutes(5),
        "the soak runs from the last green build, not the cut"
    );
    assert_eq!(until, since + Duration::hours(48));
    assert_eq!(t.components[&name("web")].pinned, Some(commit(2)));
}

#[test]
fn entering_the_soak_writes_the_pinned_manifest() {
    let t = cut(&config());
    let at = monday() + Duration::minutes(5);
    let (t, effects) = apply(
        &t,
        &[green("api", 1), green("web", 2), green("worker", 3)],
        at,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::WriteManifest {
            state: State::Soaking
        }
    )));
    assert!(
        t.components.values().all(|r| r.pinned.is_some()),
        "the manifest written now has every pin"
    );
}

#[test]
fn a_finish_that_arrives_before_its_start_is_accepted() {
    let (t, _) = apply(&cut(&config()), &[green("api", 1)], monday());
    let b = t.components[&name("api")].staging.clone().unwrap();
    assert_eq!(b.status, BuildStatus::Succeeded);
    let (t2, _) = apply(
        &t,
        &[started("api", Stage::Staging, Some(commit(1)))],
        monday(),
    );
    assert_eq!(t2, t, "the late start changes nothing");
}

#[test]
fn staging_success_without_a_commit_cannot_be_pinned_and_fails() {
    let (t, _) = apply(
        &cut(&config()),
        &[finished(
            "api",
            Stage::Staging,
            BuildOutcome::Succeeded { commit: None },
        )],
        monday(),
    );
    assert_eq!(t.state(), State::Failed);
    assert!(matches!(&t.phase, Phase::Failed { reason, .. } if reason.contains("nothing to pin")));
}

#[test]
fn staging_failure_under_halt_fails_the_train_and_stops_the_others() {
    let t = cut(&config());
    let (t, _) = apply(
        &t,
        &[
            started("api", Stage::Staging, None),
            started("web", Stage::Staging, None),
        ],
        monday(),
    );
    let (t, effects) = apply(&t, &[red("api", Stage::Staging)], monday());
    assert_eq!(t.state(), State::Failed);
    assert_eq!(
        stops(&effects),
        ["web"],
        "running builds are stopped; worker never started"
    );
}

#[test]
fn staging_failure_under_exclude_ships_the_rest() {
    let c = config_with("exclude", "");
    let (t, _) = apply(
        &cut(&c),
        &[
            red("web", Stage::Staging),
            green("api", 1),
            green("worker", 3),
        ],
        monday(),
    );
    assert_eq!(t.state(), State::Soaking);
    assert!(
        t.components[&name("web")]
            .excluded
            .as_deref()
            .unwrap()
            .contains("staging build of web failed")
    );
    let (t, effects) = apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(1)))]
    );
    let (t, effects) = apply(
        &t,
        &[finished(
            "api",
            Stage::Production,
            BuildOutcome::Succeeded { commit: None },
        )],
        wed_9() + Duration::hours(2),
    );
    assert_eq!(
        starts(&effects, Stage::Production),
        [("worker".to_owned(), Revision::Commit(commit(3)))],
        "wave 2 without web"
    );
    let (t, _) = apply(
        &t,
        &[finished(
            "worker",
            Stage::Production,
            BuildOutcome::Succeeded { commit: None },
        )],
        wed_9() + Duration::hours(3),
    );
    assert_eq!(t.state(), State::Released);
    assert!(t.components[&name("web")].production.is_none());
}

#[test]
fn every_component_failing_under_exclude_fails_the_train() {
    let c = config_with("exclude", "");
    let (t, _) = apply(
        &cut(&c),
        &[
            red("api", Stage::Staging),
            red("web", Stage::Staging),
            red("worker", Stage::Staging),
        ],
        monday(),
    );
    assert_eq!(t.state(), State::Failed);
}

#[test]
fn promotion_due_before_the_soak_ends_waits_for_it() {
    let t = soaking(&config());
    // Promote fires Wednesday 09:00; the soak ends 09:05 (it began at the last green build).
    let (t, effects) = apply(&t, &[Event::PromotionDue { scheduled: wed_9() }], wed_9());
    assert_eq!(t.state(), State::Soaking);
    assert!(starts(&effects, Stage::Production).is_empty());
    assert_eq!(
        t.blockers(wed_9()),
        [Blocker::Soak {
            until: wed_9() + Duration::minutes(5)
        }]
    );
    assert_eq!(t.next_due(), Some(wed_9() + Duration::minutes(5)));
    let (t, effects) = apply(&t, &[Event::Tick], wed_9() + Duration::minutes(5));
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(1)))],
        "wave 1 first"
    );
}

#[test]
fn a_soaked_train_does_not_promote_before_the_promote_schedule() {
    let t = soaking(&config());
    let (t, effects) = apply(&t, &[Event::Tick], wed_9() + Duration::hours(10));
    assert_eq!(t.state(), State::Soaking);
    assert!(effects.is_empty());
    assert_eq!(
        t.blockers(wed_9() + Duration::hours(10)),
        [Blocker::AwaitingPromoteTime]
    );
}

#[test]
fn production_builds_the_pinned_commit_wave_by_wave_then_releases() {
    let (t, effects) = promoted(&config());
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(1)))]
    );
    let at = wed_9() + Duration::hours(1);
    let (t, effects) = apply(
        &t,
        &[
            started("api", Stage::Production, Some(commit(1))),
            finished(
                "api",
                Stage::Production,
                BuildOutcome::Succeeded { commit: None },
            ),
        ],
        at,
    );
    let mut wave2 = starts(&effects, Stage::Production);
    wave2.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        wave2,
        [
            ("web".to_owned(), Revision::Commit(commit(2))),
            ("worker".to_owned(), Revision::Commit(commit(3)))
        ]
    );
    let (t, effects) = apply(
        &t,
        &[
            finished(
                "web",
                Stage::Production,
                BuildOutcome::Succeeded { commit: None },
            ),
            finished(
                "worker",
                Stage::Production,
                BuildOutcome::Succeeded { commit: None },
            ),
        ],
        at,
    );
    assert_eq!(t.state(), State::Released);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::WriteManifest {
            state: State::Released,
            ..
        }
    )));
    assert!(t.is_settled());
}

#[test]
fn production_failure_under_halt_stops_later_waves() {
    let (t, _) = promoted(&config());
    let (t, effects) = apply(
        &t,
        &[red("api", Stage::Production)],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Failed);
    assert!(
        starts(&effects, Stage::Production).is_empty(),
        "wave 2 never starts"
    );
}

#[test]
fn a_production_build_of_the_wrong_commit_is_stopped_and_fails() {
    let (t, _) = promoted(&config());
    let (t, effects) = apply(
        &t,
        &[started("api", Stage::Production, Some(commit(9)))],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(stops(&effects), ["api"]);
    assert_eq!(t.state(), State::Failed);
}

#[test]
fn a_freeze_at_promotion_defers_to_the_next_promote_time() {
    let c = train_core::Config::parse(&format!("{MINIMAL}\n[[freeze]]\nname = \"midweek\"\nfrom = \"2026-11-25T08:00\"\nuntil = \"2026-11-26T00:00\"\n")).unwrap();
    let t = soaking(&c);
    let (t, effects) = apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Soaking);
    assert!(starts(&effects, Stage::Production).is_empty());
    assert_eq!(
        t.promotion_due, None,
        "the promotion waits for the next promote firing"
    );
    assert!(t.history.last().unwrap().action == "promotion deferred");
    let next_week = wed_9() + Duration::days(7);
    let (t, effects) = apply(
        &t,
        &[Event::PromotionDue {
            scheduled: next_week,
        }],
        next_week,
    );
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(starts(&effects, Stage::Production).len(), 1);
}

#[test]
fn hold_blocks_promotion_and_resume_releases_it() {
    let t = soaking(&config());
    let (t, _) = apply(
        &t,
        &[Event::Hold {
            by: alice(),
            reason: reason("investigating latency"),
        }],
        monday() + Duration::hours(3),
    );
    assert_eq!(t.state(), State::Held);
    let (t, effects) = apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Held);
    assert!(starts(&effects, Stage::Production).is_empty());
    assert!(
        t.blockers(wed_9() + Duration::hours(1))
            .iter()
            .any(|b| matches!(b, Blocker::Held { .. }))
    );
    let (t, effects) = apply(
        &t,
        &[Event::Resume {
            by: alice(),
            reason: reason("latency was a dashboard bug"),
        }],
        wed_9() + Duration::hours(2),
    );
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(starts(&effects, Stage::Production).len(), 1);
    let actions: Vec<&str> = t.history.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"hold") && actions.contains(&"resume"));
}

#[test]
fn cancel_while_building_stops_the_running_builds() {
    let t = cut(&config());
    let (t, _) = apply(&t, &[started("api", Stage::Staging, None)], monday());
    let (t, effects) = apply(
        &t,
        &[Event::Cancel {
            by: alice(),
            reason: reason("bad migration"),
        }],
        monday(),
    );
    assert!(
        matches!(&t.phase, Phase::Cancelled { by, reason, .. } if *by == alice() && reason.as_str() == "bad migration")
    );
    assert_eq!(stops(&effects), ["api"]);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::WriteManifest {
            state: State::Cancelled,
            ..
        }
    )));
}

#[test]
fn a_build_that_starts_after_the_cancel_is_stopped() {
    let t = cut(&config());
    let (t, _) = apply(
        &t,
        &[Event::Cancel {
            by: alice(),
            reason: reason("no"),
        }],
        monday(),
    );
    let (t, effects) = apply(&t, &[started("web", Stage::Staging, None)], monday());
    assert_eq!(stops(&effects), ["web"]);
    assert_eq!(t.state(), State::Cancelled);
    assert!(!t.is_settled(), "settled once the stopped build reports");
    let (t, _) = apply(
        &t,
        &[finished("web", Stage::Staging, BuildOutcome::Stopped)],
        monday(),
    );
    assert_eq!(t.state(), State::Cancelled);
}

#[test]
fn a_cancelled_train_never_promotes() {
    let t = soaking(&config());
    let (t, _) = apply(
        &t,
        &[Event::Cancel {
            by: alice(),
            reason: reason("checkout errors"),
        }],
        monday() + Duration::hours(20),
    );
    let (t, effects) = apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Cancelled);
    assert!(starts(&effects, Stage::Production).is_empty());
}

#[test]
#[allow(clippy::too_many_lines)] // a table: one row per rejection
fn rejections_say_why_and_what_applies() {
    let (promoting, _) = promoted(&config());
    let cases: Vec<(Train, Event, &str)> = vec![
        (
            promoting.clone(),
            Event::Cancel {
                by: alice(),
                reason: reason("x"),
            },
            "already promoting",
        ),
        (
            promoting.clone(),
            Event::Hold {
                by: alice(),
                reason: reason("x"),
            },
            "already promoting",
        ),
        (
            promoting,
            Event::Resume {
                by: alice(),
                reason: reason("x"),
            },
            "is not held",
        ),
        {
            let (t, _) = apply(
                &soaking(&config()),
                &[Event::Cancel {
                    by: alice(),
                    reason: reason("first"),
                }],
                monday(),
            );
            (
                t,
                Event::Cancel {
                    by: alice(),
                    reason: reason("second"),
                },
                "already cancelled by local:alice",
            )
        },
        {
            let (t, _) = apply(
                &soaking(&config()),
                &[Event::Hold {
                    by: alice(),
                    reason: reason("look"),
                }],
                monday(),
            );
            (
                t,
                Event::Hold {
                    by: alice(),
                    reason: reason("again"),
                },
                "already held by local:alice",
            )
        },
        (
            soaking(&config()),
            Event::Resume {
                by: alice(),
                reason: reason("x"),
            },
            "is not held",
        ),
    ];
    for (train, event, want) in cases {
        let r = train.on(&event, wed_9()).unwrap_err();
        assert_eq!(r.kind, RejectionKind::NotNow);
        assert!(
            r.message.contains(want),
            "{event:?}: {r} should say {want:?}"
        );
        assert!(r.message.contains("weekly-2026-W48"), "{r} names the train");
    }
    let (released, _) = {
        let (t, _) = promoted(&config());
        let ok = |c| {
            finished(
                c,
                Stage::Production,
                BuildOutcome::Succeeded { commit: None },
            )
        };
        apply(
            &t,
            &[ok("api"), ok("web"), ok("worker")],
            wed_9() + Duration::hours(1),
        )
    };
    let r = released
        .on(
            &Event::Cancel {
                by: alice(),
                reason: reason("x"),
            },
            wed_9(),
        )
        .unwrap_err();
    assert!(r.message.contains("already released"), "{r}");
}

#[test]
fn events_for_unknown_components_are_rejected_as_unknown() {
    let r = cut(&config())
        .on(&started("nope", Stage::Staging, None), monday())
        .unwrap_err();
    assert_eq!(r.kind, RejectionKind::Unknown);
}

#[test]
fn a_finish_for_another_build_id_is_ignored() {
    let (t, _) = apply(
        &cut(&config()),
        &[started("api", Stage::Staging, None)],
        monday(),
    );
    let other = Event::BuildFinished {
        component: name("api"),
        stage: Stage::Staging,
        attempt: 1,
        build_id: train_core::BuildId::parse("someone-elses-build").unwrap(),
        outcome: BuildOutcome::Failed { reason: "x".into() },
    };
    let next = t.on(&other, monday()).unwrap();
    assert!(!next.changed(&t));
}

#[test]
fn every_state_change_is_announced_once_with_actor_and_reason() {
    let t = soaking(&config());
    let (_, effects) = apply(
        &t,
        &[Event::Cancel {
            by: alice(),
            reason: reason("smoke test red"),
        }],
        monday(),
    );
    let published: Vec<_> = effects
        .iter()
        .filter_map(|e| {
            if let Effect::Publish(a) = e {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(published.len(), 1);
    assert_eq!(
        (published[0].from, published[0].to),
        (Some(State::Soaking), State::Cancelled)
    );
    assert_eq!(published[0].actor, alice());
    assert_eq!(published[0].reason.as_deref(), Some("smoke test red"));
}

#[test]
fn a_build_keeps_the_link_to_its_log_and_a_repeat_changes_nothing() {
    let t = cut(&config());
    let event = Event::BuildStarted {
        component: name("api"),
        stage: Stage::Staging,
        attempt: 1,
        build_id: build_id("api", Stage::Staging, 1),
        commit: None,
        link: Some("https://console.example/build/1".into()),
    };
    let (t, _) = apply(&t, std::slice::from_ref(&event), monday());
    let build = t.components[&name("api")].staging.clone().unwrap();
    assert_eq!(
        build.link.as_deref(),
        Some("https://console.example/build/1")
    );
    assert!(!t.on(&event, monday()).unwrap().changed(&t));
}
