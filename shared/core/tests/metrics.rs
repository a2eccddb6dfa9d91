//! Each metric is emitted where its event happens, once, with the dimensions the dashboard
//! reads. A train is driven through cut, soak, release, rollback and an expedited fix.
// Every value here is a whole number of seconds, exact in an f64: equality is the point.
#![allow(clippy::float_cmp, clippy::cast_precision_loss)]

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::*;
use train_core::metrics::find;
use train_core::train::Changelog;
use train_core::{Effect, Event, Metric, Stage, State, Train, TrainId};

fn metrics(effects: &[Effect]) -> Vec<Metric> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::EmitMetric(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The metrics named `name` among `effects`, as (value, dimensions).
fn named(effects: &[Effect], name: &str) -> Vec<(f64, BTreeMap<String, String>)> {
    metrics(effects)
        .into_iter()
        .filter(|m| m.name == name)
        .map(|m| (m.value, m.dimensions))
        .collect()
}

fn cause(c: &str) -> BTreeMap<String, String> {
    [("Cause".to_owned(), c.to_owned())].into_iter().collect()
}

/// Every metric a transition emits carries the dimensions of one of its published sets.
fn assert_listed(effects: &[Effect]) {
    for m in metrics(effects) {
        let def = find(&m.name).unwrap_or_else(|| panic!("{} is not in metrics::ALL", m.name));
        let keys: Vec<&str> = m.dimensions.keys().map(String::as_str).collect();
        assert!(
            def.dimensions
                .iter()
                .any(|set| set.iter().all(|d| keys.contains(d))),
            "{m:?} lacks the dimensions of {:?}",
            def.dimensions
        );
    }
}

/// The changelog the builder reads after each staging build, with its oldest commit time.
fn changelogs(t: &Train, oldest: DateTime<Utc>) -> Vec<Event> {
    t.components
        .iter()
        .enumerate()
        .map(|(i, (name, run))| Event::ChangelogReady {
            component: name.clone(),
            changelog: Changelog {
                oldest_commit_at: Some(oldest + Duration::hours(i64::try_from(i).unwrap())),
                ..Changelog::empty(None, run.pinned.as_ref().unwrap())
            },
        })
        .collect()
}

fn release(t: &Train, at: DateTime<Utc>) -> (Train, Vec<Effect>) {
    let mut effects = Vec::new();
    let (t, e) = apply(t, &[finished("api", Stage::Production, ok())], at);
    effects.extend(e);
    let (t, e) = apply(
        &t,
        &[
            finished("web", Stage::Production, ok()),
            finished("worker", Stage::Production, ok()),
        ],
        at + Duration::minutes(30),
    );
    effects.extend(e);
    (t, effects)
}

#[test]
fn a_train_emits_cut_build_soak_release_and_lead_time_where_they_happen() {
    let cut = Train::cut(&config(), monday(), monday());
    let effects: Vec<Effect> = cut.effects.iter().map(|p| p.effect.clone()).collect();
    assert_eq!(named(&effects, "TrainsCut"), [(1.0, BTreeMap::new())]);

    let (t, effects) = apply(
        &cut.train,
        &[started("api", Stage::Staging, Some(commit(1)))],
        monday() + Duration::minutes(1),
    );
    assert!(metrics(&effects).is_empty(), "a start measures nothing yet");
    let (_, effects) = apply(&t, &[green("api", 1)], monday() + Duration::minutes(11));
    let duration = named(&effects, "BuildDuration");
    assert_eq!(duration.len(), 1);
    assert_eq!(duration[0].0, 600.0, "from the start to the result");
    assert_eq!(duration[0].1["Component"], "api");
    assert_eq!(duration[0].1["Stage"], "staging");
    assert!(named(&effects, "BuildFailures").is_empty());

    let t = soaking(&config());
    let week_before = monday() - Duration::days(7);
    let (t, effects) = apply(&t, &changelogs(&t, week_before), monday());
    assert!(metrics(&effects).is_empty());
    let (t, effects) = promote_due(&t);
    assert_listed(&effects);
    let soak = named(&effects, "SoakTime");
    assert_eq!(
        soak,
        [(f64::from(48 * 3600 + 60), BTreeMap::new())],
        "from the last green build (09:05) to the promotion (09:06)"
    );
    assert!(named(&effects, "Releases").is_empty(), "not released yet");

    let released_at = wed_after_soak() + Duration::minutes(30);
    let (t, effects) = release(&t, wed_after_soak());
    assert_eq!(t.state(), State::Released);
    assert_listed(&effects);
    assert_eq!(named(&effects, "Releases"), [(1.0, BTreeMap::new())]);
    assert_eq!(
        named(&effects, "TimeToRelease"),
        [(seconds(released_at - monday()), BTreeMap::new())]
    );
    assert_eq!(
        named(&effects, "LeadTime"),
        [(seconds(released_at - week_before), BTreeMap::new())],
        "from the oldest commit of any shipped component"
    );
    assert!(
        named(&effects, "ChangeFailures").is_empty(),
        "a plain release is no failure"
    );
    assert!(
        t.time_in_state(released_at).is_none(),
        "an ended train is not stuck"
    );
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

#[test]
fn a_release_without_readable_commits_has_no_lead_time_rather_than_a_wrong_one() {
    let t = soaking(&config());
    let (t, _) = promote_due(&t);
    let (_, effects) = release(&t, wed_after_soak());
    assert_eq!(named(&effects, "Releases").len(), 1);
    assert!(named(&effects, "LeadTime").is_empty());
}

#[test]
fn a_failed_production_build_is_counted_by_component_and_stage() {
    let t = soaking(&config());
    let (t, _) = promote_due(&t);
    let (t, effects) = apply(&t, &[red("api", Stage::Production)], wed_after_soak());
    assert_listed(&effects);
    let failures = named(&effects, "BuildFailures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].1["Stage"], "production");
    assert_eq!(failures[0].1["Component"], "api");
    assert_eq!(t.state(), State::Failed);
    assert_eq!(named(&effects, "TrainsFailed").len(), 1);
}

#[test]
fn a_rollback_is_a_change_failure_and_its_end_measures_the_time_to_restore() {
    let t = soaking(&config());
    let (t, _) = promote_due(&t);
    let (t, _) = release(&t, wed_after_soak());
    let asked = wed_after_soak() + Duration::hours(5);
    let pins = [(name("api"), commit(0x41))].into_iter().collect();
    let (t, effects) = apply(
        &t,
        &[Event::Rollback {
            by: bob(),
            reason: reason("error rate up"),
            to: TrainId::parse("weekly-2026-W47").unwrap(),
            pins,
        }],
        asked,
    );
    assert_listed(&effects);
    assert_eq!(
        named(&effects, "ChangeFailures"),
        [(1.0, cause("rollback"))]
    );
    assert!(
        named(&effects, "TimeToRestore").is_empty(),
        "not restored yet"
    );
    let in_state = t.time_in_state(asked + Duration::minutes(10)).unwrap();
    assert_eq!(in_state.name, "TimeInState");
    assert_eq!(in_state.value, 600.0);
    assert_eq!(in_state.dimensions["State"], "rolling_back");

    let (t, effects) = apply(
        &t,
        &[Event::BuildFinished {
            component: name("api"),
            stage: Stage::Production,
            attempt: 2,
            build_id: train_core::BuildId::parse("api-production-2").unwrap(),
            outcome: ok(),
        }],
        asked + Duration::minutes(20),
    );
    assert_eq!(t.state(), State::RolledBack);
    assert_eq!(named(&effects, "Rollbacks"), [(1.0, BTreeMap::new())]);
    assert_eq!(
        named(&effects, "TimeToRestore"),
        [(1200.0, cause("rollback"))]
    );
}

#[test]
fn an_expedited_release_is_the_fix_of_a_failed_change() {
    let t = soaking(&config());
    let asked = monday() + Duration::hours(2);
    let (t, effects) = apply(
        &t,
        &[Event::Expedite {
            by: bob(),
            reason: reason("fix for last week's checkout bug"),
        }],
        asked,
    );
    assert!(named(&effects, "ChangeFailures").is_empty());
    let (_, effects) = release(&t, asked + Duration::hours(1));
    assert_listed(&effects);
    assert_eq!(
        named(&effects, "ChangeFailures"),
        [(1.0, cause("expedited_fix"))]
    );
    assert_eq!(
        named(&effects, "TimeToRestore"),
        [(5400.0, cause("expedited_fix"))],
        "from the expedite to the fix's release"
    );
}

#[test]
fn holds_and_cancellations_are_counted_by_cause() {
    let t = soaking(&config());
    let (t, effects) = apply(
        &t,
        &[Event::Hold {
            by: alice(),
            reason: reason("checkout errors"),
        }],
        monday() + Duration::hours(1),
    );
    assert_eq!(named(&effects, "Holds"), [(1.0, cause("person"))]);
    assert_eq!(t.state(), State::Held);
    let (_, effects) = apply(
        &t,
        &[Event::Cancel {
            by: alice(),
            reason: reason("bad build"),
        }],
        monday() + Duration::hours(2),
    );
    assert_eq!(named(&effects, "Cancellations"), [(1.0, cause("person"))]);
}

#[test]
fn a_due_promotion_waiting_for_approval_or_an_alarm_is_deferred_once_per_gate() {
    let config = config_with("halt", "approvals = 1\nalarms = [\"checkout-5xx\"]");
    let t = soaking(&config);
    let (t, effects) = promote_due(&t);
    assert_eq!(t.state(), State::Soaking);
    assert_eq!(
        named(&effects, "PromotionsDeferred"),
        [(1.0, cause("approval"))]
    );
    let record = t.history.last().unwrap();
    assert_eq!(record.action, "promotion deferred");
    assert!(
        record.reason.as_deref().unwrap().contains("0 of 1"),
        "{record:?}"
    );
    let (t, effects) = apply(&t, &[Event::Tick], wed_after_soak() + Duration::minutes(5));
    assert!(
        named(&effects, "PromotionsDeferred").is_empty(),
        "a tick does not count the same wait again"
    );
    assert!(t.time_in_state(wed_after_soak()).is_some());

    let (t, effects) = apply(
        &t,
        &[Event::Approve {
            by: bob(),
            reason: reason("looks good"),
        }],
        wed_after_soak() + Duration::minutes(10),
    );
    assert_eq!(t.state(), State::Promoting);
    assert!(named(&effects, "PromotionsDeferred").is_empty());
}
