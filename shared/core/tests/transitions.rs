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
        // A hold while promoting blocks the next wave (tests/waves.rs in train-core); only
        // the last wave cannot be held.
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

/// Every announcement in `effects`, as (from, to, actor, action).
fn announced(effects: &[Effect]) -> Vec<(Option<State>, State, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(a) => Some((
                a.from,
                a.to,
                a.actor.to_string(),
                a.action.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// A notifier learns each thing a person did and each change of state, one event each:
/// a resume after the promote time is the resume (by its person) and then the promotion,
/// not one event that skips from the hold to the promotion; an approval, which changes no
/// state, is still an event naming who approved.
#[test]
fn every_command_and_every_change_of_state_is_its_own_event_naming_who() {
    let c = config_with("halt", "approvals = 2");
    let t = soaking(&c);
    let (t, effects) = apply(
        &t,
        &[Event::Approve {
            by: alice(),
            reason: reason("staging looks fine"),
        }],
        monday() + Duration::hours(2),
    );
    assert_eq!(
        announced(&effects),
        [(
            Some(State::Soaking),
            State::Soaking,
            "local:alice".to_owned(),
            "approve (1 of 2)".to_owned()
        )],
    );
    let (t, effects) = apply(
        &t,
        &[Event::Hold {
            by: bob(),
            reason: reason("investigating latency"),
        }],
        monday() + Duration::hours(3),
    );
    assert_eq!(
        announced(&effects),
        [(
            Some(State::Soaking),
            State::Held,
            bob().to_string(),
            "hold".to_owned()
        )]
    );
    let (t, _) = apply(
        &t,
        &[Event::PromotionDue { scheduled: wed_9() }, Event::Tick],
        wed_9() + Duration::hours(1),
    );
    let (t, effects) = apply(
        &t,
        &[Event::Approve {
            by: bob(),
            reason: reason("second pair of eyes"),
        }],
        wed_9() + Duration::hours(1),
    );
    assert!(
        announced(&effects)
            .iter()
            .any(|(_, to, who, action)| *to == State::Held
                && *who == bob().to_string()
                && action == "approve (2 of 2)"),
        "{:?}",
        announced(&effects)
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
    let events = announced(&effects);
    assert_eq!(
        events.first(),
        Some(&(
            Some(State::Held),
            State::Soaking,
            "local:alice".to_owned(),
            "resume".to_owned()
        )),
        "the resume is its own event: {events:?}"
    );
    assert_eq!(
        events.last().map(|e| (e.0, e.1)),
        Some((Some(State::Soaking), State::Promoting)),
        "{events:?}"
    );
    // The events chain: each starts where the one before ended.
    for pair in events.windows(2) {
        assert_eq!(pair[1].0, Some(pair[0].1), "{events:?}");
    }
}

/// A build started and ended in `attempt` with `outcome`.
fn attempt_ended(c: &str, attempt: u32, outcome: BuildOutcome) -> [Event; 2] {
    [
        Event::BuildStarted {
            component: common::name(c),
            stage: Stage::Staging,
            attempt,
            build_id: build_id(c, Stage::Staging, attempt),
            commit: None,
            link: None,
        },
        Event::BuildFinished {
            component: common::name(c),
            stage: Stage::Staging,
            attempt,
            build_id: build_id(c, Stage::Staging, attempt),
            outcome,
        },
    ]
}

fn fault() -> BuildOutcome {
    BuildOutcome::Fault {
        reason: "cannot fetch the repository".into(),
    }
}

/// A build the build system failed (CodeBuild's FAULT, a fetch that failed locally) is
/// built again as a new attempt and never excludes the component; after
/// `MAX_FAULTS` in a row it fails saying the build system failed, and a train whose every
/// build faulted does not say "every component failed".
#[test]
fn a_faulted_build_is_built_again_and_is_never_the_component_s_failure() {
    let c = config_with("exclude", "");
    let t = cut(&c);
    let (t, effects) = apply(&t, &attempt_ended("api", 1, fault()), monday());
    assert_eq!(t.state(), State::Building);
    let again: Vec<u32> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartBuild(r) if r.component.as_str() == "api" => Some(r.attempt),
            _ => None,
        })
        .collect();
    assert_eq!(again, [2], "a new attempt: {effects:?}");
    assert!(t.components[&common::name("api")].excluded.is_none());
    assert!(
        t.history
            .iter()
            .any(|r| r.action == "staging build of api faulted"
                && r.reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("not the code (1 of 3)")),
        "{:?}",
        t.history
    );
    // The second attempt goes green: the fault left no trace on what ships.
    let (t, _) = apply(
        &t,
        &[
            attempt_ended(
                "api",
                2,
                BuildOutcome::Succeeded {
                    commit: Some(commit(1)),
                },
            )[0]
            .clone(),
            attempt_ended(
                "api",
                2,
                BuildOutcome::Succeeded {
                    commit: Some(commit(1)),
                },
            )[1]
            .clone(),
            started("web", Stage::Staging, Some(commit(2))),
            green("web", 2),
            started("worker", Stage::Staging, Some(commit(3))),
            green("worker", 3),
        ],
        monday(),
    );
    assert_eq!(t.state(), State::Soaking, "{:?}", t.history);

    // Every build faulting three times: the train fails naming the build system.
    let mut t = cut(&c);
    for name in ["api", "web", "worker"] {
        for attempt in 1..=3 {
            t = apply(&t, &attempt_ended(name, attempt, fault()), monday()).0;
        }
    }
    assert_eq!(t.state(), State::Failed);
    let Phase::Failed { reason, .. } = &t.phase else {
        unreachable!()
    };
    assert!(
        reason.contains("the build system failed, not the code")
            && !reason.contains("every component failed"),
        "{reason}"
    );
}
