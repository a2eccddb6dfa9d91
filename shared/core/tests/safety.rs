//! Release-safety policies in the core: the alarm gate, an expedite over a freeze, the
//! captain rotation and what the events carry.

mod common;

use chrono::Duration;
use common::*;
use train_core::train::Phase;
use train_core::{Blocker, Effect, Event, State, Train};

fn alarm(firing: bool) -> Event {
    Event::AlarmChanged {
        alarm: train_core::AlarmName::parse("api-5xx").unwrap(),
        firing,
    }
}

#[test]
fn a_gating_alarm_holds_a_soaking_train_as_alarm_name_and_lifts_when_ok() {
    let config = config_with("halt", "alarms = [\"api-5xx\"]");
    let t = soaking(&config);
    let (t, _) = apply(&t, &[alarm(true)], monday() + Duration::hours(2));
    assert_eq!(t.state(), State::Held);
    assert_eq!(t.hold.as_ref().unwrap().by.as_str(), "alarm:api-5xx");
    let (t, effects) = promote_due(&t);
    assert!(starts(&effects, train_core::Stage::Production).is_empty());
    assert!(t.blockers(wed_after_soak()).contains(&Blocker::Alarms {
        firing: vec![train_core::AlarmName::parse("api-5xx").unwrap()]
    }));
    let (t, effects) = apply(&t, &[alarm(false)], wed_after_soak());
    assert_eq!(
        t.state(),
        State::Promoting,
        "the hold lifts and the due promotion starts"
    );
    assert_eq!(starts(&effects, train_core::Stage::Production).len(), 1);
    assert_eq!(
        t.history
            .iter()
            .filter(|r| r.actor.as_str() == "alarm:api-5xx")
            .count(),
        2
    );
}

#[test]
fn a_person_s_hold_stays_when_the_alarm_clears_and_other_alarms_are_no_gate() {
    let config = config_with("halt", "alarms = [\"api-5xx\"]");
    let t = soaking(&config);
    let (t, _) = apply(
        &t,
        &[
            Event::Hold {
                by: alice(),
                reason: reason("investigating"),
            },
            alarm(true),
            alarm(false),
        ],
        monday() + Duration::hours(2),
    );
    assert_eq!(
        t.hold.as_ref().unwrap().by,
        alice(),
        "the alarm does not lift a person's hold"
    );
    let other = Event::AlarmChanged {
        alarm: train_core::AlarmName::parse("unrelated").unwrap(),
        firing: true,
    };
    let (after, effects) = apply(&t, &[other], monday() + Duration::hours(3));
    assert_eq!(
        after, t,
        "an alarm the config does not name changes nothing"
    );
    assert!(effects.is_empty());
}

#[test]
fn restart_soak_after_alarm_soaks_the_full_window_again() {
    let config = config_with(
        "halt",
        "alarms = [\"api-5xx\"]\nrestart_soak_after_alarm = true",
    );
    let t = soaking(&config);
    let cleared = monday() + Duration::hours(40);
    let (t, _) = apply(&t, &[alarm(true)], monday() + Duration::hours(2));
    let (t, _) = apply(&t, &[alarm(false)], cleared);
    assert!(
        matches!(t.phase, Phase::Soaking { since, until } if since == cleared && until == cleared + Duration::hours(48))
    );
    let (t, effects) = promote_due(&t);
    assert_eq!(t.state(), State::Soaking, "still soaking after the restart");
    assert!(starts(&effects, train_core::Stage::Production).is_empty());
}

#[test]
fn under_the_cancel_policy_an_alarm_cancels_and_says_which() {
    let config = config_with("halt", "alarms = [\"api-5xx\"]\non_alarm = \"cancel\"");
    let (t, _) = apply(
        &soaking(&config),
        &[alarm(true)],
        monday() + Duration::hours(2),
    );
    assert!(
        matches!(&t.phase, Phase::Cancelled { by, reason, .. } if by.as_str() == "alarm:api-5xx" && reason.as_str().contains("ALARM"))
    );
}

#[test]
fn an_expedite_may_override_only_a_freeze_that_allows_it_and_says_so() {
    let frozen = |allow: bool| {
        config_with(
            "halt",
            &format!(
                "\n[[freeze]]\nname = \"hotfix-window\"\nfrom = \"2026-11-23T10:00\"\nuntil = \"2026-11-30T00:00\"\nallow_expedite = {allow}"
            ),
        )
    };
    let e = Event::Expedite {
        by: alice(),
        reason: reason("security fix"),
    };
    let at = monday() + Duration::hours(3);
    let refused = soaking(&frozen(false)).on(&e, at).unwrap_err();
    assert!(refused.message.contains("allow_expedite"), "{refused}");
    let (t, effects) = apply(&soaking(&frozen(true)), &[e], at);
    assert_eq!(t.state(), State::Promoting);
    assert_eq!(starts(&effects, train_core::Stage::Production).len(), 1);
    let record = t.history.iter().find(|r| r.action == "expedite").unwrap();
    assert!(
        record
            .reason
            .as_deref()
            .unwrap()
            .contains("overrides freeze \"hotfix-window\"")
    );
}

#[test]
fn the_captain_rotates_weekly_and_rides_on_every_event() {
    let config = config_with("halt", "captains = [\"alice\", \"bob\", \"carol\"]");
    let captain = |weeks: i64| {
        Train::cut(&config, monday() + Duration::weeks(weeks), monday())
            .train
            .captain
            .unwrap()
    };
    let four: Vec<String> = (0..4).map(captain).collect();
    assert_ne!(four[0], four[1]);
    assert_eq!(
        four[0], four[3],
        "three captains, so week 4 is week 1's again"
    );
    assert_eq!(captain(0), captain(0), "the same week has the same captain");
    let cut = Train::cut(&config, monday(), monday());
    let announced = cut.effects.iter().find_map(|p| match &p.effect {
        Effect::Publish(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(announced.unwrap().captain, Some(four[0].clone()));
}
