//! The operating controls beyond cancel, hold and resume: expedite, approve, retry and
//! rollback. Each applies in some states and is rejected with a reason in the others.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use train_core::{
    Actor, Blocker, BuildId, BuildOutcome, Effect, Event, RejectionKind, Revision, Stage, State,
    Train, TrainId,
};

fn finished_attempt(c: &str, stage: Stage, attempt: u32, outcome: BuildOutcome) -> Event {
    Event::BuildFinished {
        component: name(c),
        stage,
        attempt,
        build_id: BuildId::parse(&format!("{c}-{stage}-{attempt}")).unwrap(),
        outcome,
    }
}

fn rejected(train: &Train, event: &Event) -> String {
    let r = train
        .on(event, wed_after_soak())
        .expect_err("should be rejected");
    assert_eq!(r.kind, RejectionKind::NotNow);
    r.message
}

/// A released train: every production build green at the pins.
fn released() -> Train {
    let t = soaking(&config());
    let (t, _) = promote_due(&t);
    let (t, _) = apply(
        &t,
        &[finished("api", Stage::Production, ok())],
        wed_after_soak() + Duration::hours(1),
    );
    let (t, _) = apply(
        &t,
        &[
            finished("web", Stage::Production, ok()),
            finished("worker", Stage::Production, ok()),
        ],
        wed_after_soak() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Released);
    t
}

#[test]
fn expedite_promotes_a_soaking_train_now_and_records_who_and_why() {
    let t = soaking(&config());
    let at = monday() + Duration::hours(3);
    let by = Event::Expedite {
        by: bob(),
        reason: reason("security fix for CVE-2026-1234"),
    };
    let (t, effects) = apply(&t, &[by], at);
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(1)))],
        "wave 1 at its pin, without waiting for the soak or the promote schedule"
    );
    let record = t.history.iter().find(|r| r.action == "expedite").unwrap();
    assert_eq!(record.actor, bob());
    assert_eq!(
        record.reason.as_deref(),
        Some("security fix for CVE-2026-1234")
    );
    let promote = t
        .history
        .iter()
        .find(|r| r.action == "promote wave 1")
        .unwrap();
    assert!(promote.reason.as_deref().unwrap().contains("expedited by"));
}

#[test]
fn expedite_is_rejected_while_building_held_promoting_or_over() {
    let e = Event::Expedite {
        by: alice(),
        reason: reason("hotfix"),
    };
    assert!(rejected(&cut(&config()), &e).contains("still building"));
    let held = apply(
        &soaking(&config()),
        &[Event::Hold {
            by: bob(),
            reason: reason("checkout errors"),
        }],
        monday() + Duration::hours(1),
    )
    .0;
    assert!(rejected(&held, &e).contains("resume it first"));
    let promoting = apply(
        &soaking(&config()),
        std::slice::from_ref(&e),
        monday() + Duration::hours(1),
    )
    .0;
    assert!(rejected(&promoting, &e).contains("already promoting"));
    assert!(rejected(&released(), &e).contains("already released"));
}

#[test]
fn a_train_that_needs_two_approvals_waits_for_two_different_people() {
    let config = config_with("halt", "approvals = 2");
    let t = soaking(&config);
    let (t, effects) = promote_due(&t);
    assert_eq!(t.state(), State::Soaking, "soaked, due, but not approved");
    assert!(starts(&effects, Stage::Production).is_empty());
    assert_eq!(
        t.blockers(wed_after_soak()),
        [Blocker::Approvals { have: 0, need: 2 }]
    );

    let approve = |by: Actor| Event::Approve {
        by,
        reason: reason("staging checks pass"),
    };
    let (t, _) = apply(&t, &[approve(alice())], wed_after_soak());
    assert_eq!(t.state(), State::Soaking);
    assert!(rejected(&t, &approve(alice())).contains("another person"));
    let (t, effects) = apply(&t, &[approve(bob())], wed_after_soak());
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(starts(&effects, Stage::Production).len(), 1);
    let approvers: Vec<_> = t.approvals.iter().map(|a| a.by.clone()).collect();
    assert_eq!(approvers, [alice(), bob()]);
}

#[test]
fn approve_is_rejected_where_no_approval_is_configured() {
    let e = Event::Approve {
        by: alice(),
        reason: reason("looks good"),
    };
    assert!(rejected(&soaking(&config()), &e).contains("needs no approval"));
}

#[test]
fn retry_after_a_staging_failure_builds_the_failed_and_stopped_components_again() {
    let t = cut(&config());
    let at = monday() + Duration::minutes(5);
    let (t, _) = apply(
        &t,
        &[
            started("api", Stage::Staging, None),
            started("web", Stage::Staging, None),
            red("api", Stage::Staging),
        ],
        at,
    );
    assert_eq!(t.state(), State::Failed);
    let (t, effects) = apply(
        &t,
        &[Event::Retry {
            by: alice(),
            reason: reason("flaky test fixed"),
        }],
        at + Duration::minutes(10),
    );
    assert_eq!(t.state(), State::Building);
    let mut again = starts(&effects, Stage::Staging);
    again.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = again.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["api", "web", "worker"],
        "the failed build, the stopped one and the one not yet started"
    );
    for c in ["api", "web", "worker"] {
        let run = &t.components[&name(c)];
        assert_eq!(run.staging.as_ref().unwrap().attempt, 2);
    }
    // The second attempts go green: the soak starts over, at the new commits.
    let (t, _) = apply(
        &t,
        &[
            finished_attempt(
                "api",
                Stage::Staging,
                2,
                BuildOutcome::Succeeded {
                    commit: Some(commit(7)),
                },
            ),
            finished_attempt(
                "web",
                Stage::Staging,
                2,
                BuildOutcome::Succeeded {
                    commit: Some(commit(8)),
                },
            ),
            finished_attempt(
                "worker",
                Stage::Staging,
                2,
                BuildOutcome::Succeeded {
                    commit: Some(commit(9)),
                },
            ),
        ],
        at + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Soaking);
    assert_eq!(t.components[&name("api")].pinned, Some(commit(7)));
}

#[test]
fn retry_after_a_production_failure_rebuilds_it_at_the_same_pin() {
    let t = soaking(&config());
    let (t, _) = promote_due(&t);
    let (t, _) = apply(
        &t,
        &[red("api", Stage::Production)],
        wed_after_soak() + Duration::minutes(9),
    );
    assert_eq!(t.state(), State::Failed);
    let (t, effects) = apply(
        &t,
        &[Event::Retry {
            by: alice(),
            reason: reason("deploy role fixed"),
        }],
        wed_after_soak() + Duration::hours(1),
    );
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(1)))]
    );
    let (t, _) = apply(
        &t,
        &[finished_attempt("api", Stage::Production, 2, ok())],
        wed_after_soak() + Duration::hours(2),
    );
    let wave2: Vec<_> = t
        .active_builds(Stage::Production)
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        wave2,
        ["web", "worker"],
        "the next wave follows the retried one"
    );
}

#[test]
fn retry_with_nothing_failed_is_rejected() {
    let e = Event::Retry {
        by: alice(),
        reason: reason("again"),
    };
    assert!(rejected(&soaking(&config()), &e).contains("no failed build"));
    assert!(rejected(&released(), &e).contains("already released"));
}

#[test]
fn rollback_builds_the_previous_release_commits_then_ends_rolled_back() {
    let t = released();
    let previous = TrainId::parse("weekly-2026-W47").unwrap();
    let pins: BTreeMap<_, _> = [(name("api"), commit(0x41)), (name("web"), commit(2))]
        .into_iter()
        .collect();
    let (t, effects) = apply(
        &t,
        &[Event::Rollback {
            by: bob(),
            reason: reason("error rate up after release"),
            to: previous.clone(),
            pins,
        }],
        wed_after_soak() + Duration::hours(5),
    );
    assert_eq!(t.state(), State::RollingBack);
    assert_eq!(
        starts(&effects, Stage::Production),
        [("api".to_owned(), Revision::Commit(commit(0x41)))],
        "only what differs from the previous release; a component it lacked stays"
    );
    let (t, effects) = apply(
        &t,
        &[finished_attempt("api", Stage::Production, 2, ok())],
        wed_after_soak() + Duration::hours(6),
    );
    assert_eq!(t.state(), State::RolledBack);
    assert!(t.is_terminal());
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::WriteManifest {
            state: State::RolledBack
        }
    )));
    assert_eq!(t.shipped()[&name("api")], commit(0x41));
}

#[test]
fn rollback_is_rejected_before_release_and_when_nothing_differs() {
    let e = |pins: BTreeMap<_, _>| Event::Rollback {
        by: bob(),
        reason: reason("bad release"),
        to: TrainId::parse("weekly-2026-W47").unwrap(),
        pins,
    };
    let promoting = promote_due(&soaking(&config())).0;
    assert!(rejected(&promoting, &e(BTreeMap::new())).contains("still promoting"));
    let same = released().shipped();
    assert!(rejected(&released(), &e(same)).contains("nothing to roll back"));
}

/// A retry and a rollback are each an event naming who and why, and the rollback's end is
/// one more: a notifier learns who sent the train back to building, and who rolled back.
#[test]
fn retry_and_rollback_each_publish_an_event_naming_who_and_why() {
    let publishes = |effects: &[Effect]| -> Vec<(Option<State>, State, String, Option<String>)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Publish(a) => Some((a.from, a.to, a.actor.to_string(), a.reason.clone())),
                _ => None,
            })
            .collect()
    };
    let t = cut(&config());
    let at = monday() + Duration::minutes(5);
    let (t, _) = apply(
        &t,
        &[
            started("api", Stage::Staging, None),
            red("api", Stage::Staging),
        ],
        at,
    );
    let (_, effects) = apply(
        &t,
        &[Event::Retry {
            by: alice(),
            reason: reason("flaky test fixed"),
        }],
        at + Duration::minutes(10),
    );
    assert_eq!(
        publishes(&effects),
        [(
            Some(State::Failed),
            State::Building,
            "local:alice".to_owned(),
            Some("flaky test fixed".to_owned())
        )]
    );

    let t = released();
    let pins: BTreeMap<_, _> = [(name("api"), commit(0x41))].into_iter().collect();
    let (t, effects) = apply(
        &t,
        &[Event::Rollback {
            by: bob(),
            reason: reason("error rate up after release"),
            to: TrainId::parse("weekly-2026-W47").unwrap(),
            pins,
        }],
        wed_after_soak() + Duration::hours(5),
    );
    assert_eq!(
        publishes(&effects),
        [(
            Some(State::Released),
            State::RollingBack,
            bob().to_string(),
            Some("error rate up after release".to_owned())
        )]
    );
    let (_, effects) = apply(
        &t,
        &[finished_attempt("api", Stage::Production, 2, ok())],
        wed_after_soak() + Duration::hours(6),
    );
    let end = publishes(&effects);
    assert_eq!(
        end.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(Some(State::RollingBack), State::RolledBack)],
        "{end:?}"
    );
}

/// The decisions the engine asks the core for: which release a rollback returns to, what
/// production runs before a cut, and which older trains a new cut supersedes.
#[test]
fn the_rollback_target_what_shipped_and_supersession_are_decided_in_the_core() {
    let c = config();
    let last_week = released();
    let next_monday = monday() + Duration::days(7);
    let this_week = Train::cut(&c, next_monday, next_monday).train;
    assert_eq!(
        this_week
            .rollback_target([&last_week, &this_week])
            .map(|t| &t.id),
        Some(&last_week.id)
    );
    assert!(
        last_week.rollback_target([&this_week]).is_none(),
        "nothing before it"
    );
    let shipped = Train::shipped_before([&last_week, &this_week], next_monday);
    assert_eq!(shipped, last_week.shipped());
    assert!(
        Train::shipped_before([&last_week], monday()).is_empty(),
        "cut after"
    );

    let soaking_last_week = soaking(&c);
    assert!(this_week.supersedes(&soaking_last_week));
    assert!(
        !this_week.supersedes(&last_week),
        "an ended train is not superseded"
    );
    assert!(
        !soaking_last_week.supersedes(&this_week),
        "a newer train is not"
    );
    assert!(!this_week.supersedes(&this_week));
}
