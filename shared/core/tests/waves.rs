//! Order and pace: staging wave by wave, a bake between production waves that an alarm can
//! stop, holds and freezes at the start of every wave, and approvals bound to the commits
//! and people they came from. The fixture is `tests/fixtures/waves.toml`: db-migrations in
//! wave 1, api and web in wave 2, a 30-minute bake.

mod common;

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;
use train_core::{
    AlarmName, Blocker, BuildStatus, Config, Effect, Event, Phase, RejectionKind, Stage, State,
    Train,
};

const WAVES: &str = include_str!("../../../tests/fixtures/waves.toml");

fn waves_with(extra: &str) -> Config {
    let text = WAVES.replace(
        "on_component_failure = \"halt\"\n",
        &format!("on_component_failure = \"halt\"\n{extra}\n"),
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn waves() -> Config {
    waves_with("")
}

fn names(starts: &[(String, train_core::Revision)]) -> Vec<&str> {
    let mut n: Vec<&str> = starts.iter().map(|(c, _)| c.as_str()).collect();
    n.sort_unstable();
    n
}

fn actions(t: &Train) -> Vec<String> {
    t.history.iter().map(|r| r.action.clone()).collect()
}

fn record<'a>(t: &'a Train, action: &str) -> &'a train_core::train::Record {
    t.history
        .iter()
        .rev()
        .find(|r| r.action == action)
        .unwrap_or_else(|| panic!("no {action:?} in {:?}", actions(t)))
}

fn staging_green(c: &str, seed: u8) -> [Event; 2] {
    [
        started(c, Stage::Staging, Some(commit(seed))),
        green(c, seed),
    ]
}

fn alarm(name: &str, firing: bool) -> Event {
    Event::AlarmChanged {
        alarm: AlarmName::parse(name).unwrap(),
        firing,
    }
}

/// The fixture train soaked: wave 1's staging build green at 09:05, wave 2's at 09:10.
fn soaked(config: &Config) -> Train {
    let t = cut(config);
    let (t, _) = apply(
        &t,
        &staging_green("db-migrations", 1),
        monday() + Duration::minutes(5),
    );
    let wave2: Vec<Event> = staging_green("api", 2)
        .into_iter()
        .chain(staging_green("web", 3))
        .collect();
    apply(&t, &wave2, monday() + Duration::minutes(10)).0
}

/// Promotion starts after the soak: wave 1 (db-migrations) builds for production.
fn promoting(config: &Config) -> (Train, DateTime<Utc>) {
    let at = monday() + Duration::hours(49);
    let (t, effects) = apply(
        &soaked(config),
        &[
            Event::PromotionDue {
                scheduled: monday() + Duration::hours(48),
            },
            Event::Tick,
        ],
        at,
    );
    assert_eq!(
        names(&starts(&effects, Stage::Production)),
        ["db-migrations"]
    );
    (t, at)
}

/// Wave 1 shipped at `at`: its production build started and succeeded.
fn wave_one_shipped(config: &Config) -> (Train, Vec<Effect>, DateTime<Utc>) {
    let (t, at) = promoting(config);
    let at = at + Duration::minutes(5);
    let (t, effects) = apply(
        &t,
        &[
            started("db-migrations", Stage::Production, None),
            finished("db-migrations", Stage::Production, ok()),
        ],
        at,
    );
    (t, effects, at)
}

#[test]
fn staging_builds_start_wave_by_wave_like_production() {
    let tr = Train::cut(&waves(), monday(), monday());
    let effects: Vec<Effect> = tr.effects.iter().map(|p| p.effect.clone()).collect();
    assert_eq!(
        names(&starts(&effects, Stage::Staging)),
        ["db-migrations"],
        "only wave 1 builds at the cut"
    );
    let at = monday() + Duration::minutes(5);
    let (t, effects) = apply(
        &tr.train,
        &[started("db-migrations", Stage::Staging, Some(commit(1)))],
        at,
    );
    assert!(
        starts(&effects, Stage::Staging).is_empty(),
        "wave 1 is still running"
    );
    let (t, effects) = apply(&t, &[green("db-migrations", 1)], at);
    assert_eq!(names(&starts(&effects, Stage::Staging)), ["api", "web"]);
    assert_eq!(t.state(), State::Building);
    let r = record(&t, "staging wave 2");
    assert!(r.reason.as_deref().unwrap().contains("api, web"), "{r:?}");
    // The soak starts when the last staging wave is green, as before.
    let t = soaked(&waves());
    assert_eq!(t.state(), State::Soaking);
}

#[test]
fn parallel_staging_starts_every_build_at_the_cut() {
    let tr = Train::cut(
        &waves_with("staging_order = \"parallel\""),
        monday(),
        monday(),
    );
    let effects: Vec<Effect> = tr.effects.iter().map(|p| p.effect.clone()).collect();
    assert_eq!(
        names(&starts(&effects, Stage::Staging)),
        ["api", "db-migrations", "web"]
    );
}

#[test]
fn a_failed_staging_wave_stops_later_waves_under_halt_but_not_under_exclude() {
    let at = monday() + Duration::minutes(5);
    let failed = [
        started("db-migrations", Stage::Staging, Some(commit(1))),
        red("db-migrations", Stage::Staging),
    ];
    let (t, effects) = apply(&cut(&waves()), &failed, at);
    assert_eq!(t.state(), State::Failed);
    assert!(starts(&effects, Stage::Staging).is_empty());
    assert!(
        t.components[&name("api")].staging.is_none(),
        "wave 2 never built"
    );

    let exclude = waves().train;
    let mut config = waves();
    config.train = train_core::config::TrainSettings {
        on_component_failure: train_core::FailurePolicy::Exclude,
        ..exclude
    };
    let (t, effects) = apply(&cut(&config), &failed, at);
    assert_eq!(t.state(), State::Building);
    assert_eq!(names(&starts(&effects, Stage::Staging)), ["api", "web"]);
    assert!(t.components[&name("db-migrations")].excluded.is_some());
}

#[test]
fn production_bakes_each_wave_before_the_next_one_starts() {
    let (t, effects, at) = wave_one_shipped(&waves());
    assert!(
        starts(&effects, Stage::Production).is_empty(),
        "wave 2 waits for the bake"
    );
    assert_eq!(t.state(), State::Promoting);
    let until = at + Duration::minutes(30);
    assert_eq!(
        t.blockers(at),
        [Blocker::Baking {
            wave: 1,
            next: 2,
            until
        }]
    );
    let said = t.blockers(at)[0].describe(chrono_tz::Europe::Berlin);
    assert_eq!(said, "baking wave 1, wave 2 at Wed 2026-11-25 10:35 CET");
    assert_eq!(
        t.next_due(),
        Some(until),
        "the runner wakes at the bake's end"
    );
    let r = record(&t, "baking wave 1");
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("wave 2 at Wed 2026-11-25 10:35"),
        "{r:?}"
    );

    let (t, effects) = apply(&t, &[Event::Tick], until - Duration::seconds(1));
    assert!(starts(&effects, Stage::Production).is_empty());
    let (t, effects) = apply(&t, &[Event::Tick], until);
    assert_eq!(names(&starts(&effects, Stage::Production)), ["api", "web"]);
    assert!(t.bake.is_none());
    let r = record(&t, "promote wave 2");
    assert!(r.reason.as_deref().unwrap().contains("baked 30m"), "{r:?}");
}

#[test]
fn an_alarm_during_the_bake_holds_the_next_wave_and_says_what_shipped() {
    let (t, _, at) = wave_one_shipped(&waves());
    assert_eq!(
        t.watched_alarms()
            .iter()
            .map(AlarmName::as_str)
            .collect::<Vec<_>>(),
        ["checkout-5xx", "db-replica-lag"],
        "the gating alarms and wave 1's own"
    );
    let (t, _) = apply(
        &t,
        &[alarm("db-replica-lag", true)],
        at + Duration::minutes(10),
    );
    assert_eq!(t.state(), State::Held);
    let hold = record(&t, "hold");
    let why = hold.reason.as_deref().unwrap();
    assert!(why.contains("during the bake of wave 1"), "{why}");
    assert!(why.contains("shipped: db-migrations"), "{why}");
    assert!(why.contains("wave 2 and later wait"), "{why}");

    // Long after the bake, wave 2 still has not started.
    let later = at + Duration::hours(3);
    let (t, effects) = apply(&t, &[Event::Tick], later);
    assert!(starts(&effects, Stage::Production).is_empty());
    assert!(t.components[&name("api")].production.is_none());
    // The alarm clears: the hold lifts and wave 2 starts.
    let (t, effects) = apply(&t, &[alarm("db-replica-lag", false)], later);
    assert_eq!(names(&starts(&effects, Stage::Production)), ["api", "web"]);
    assert_eq!(t.state(), State::Promoting);
}

#[test]
fn with_on_alarm_cancel_an_alarm_during_the_bake_stops_the_remaining_waves() {
    let config = waves_with("on_alarm = \"cancel\"");
    let (t, _, at) = wave_one_shipped(&config);
    let (t, effects) = apply(
        &t,
        &[alarm("checkout-5xx", true)],
        at + Duration::minutes(10),
    );
    assert_eq!(t.state(), State::Cancelled);
    assert!(starts(&effects, Stage::Production).is_empty());
    let Phase::Cancelled { reason, by, .. } = &t.phase else {
        unreachable!()
    };
    assert_eq!(by.as_str(), "alarm:checkout-5xx");
    assert!(
        reason.as_str().contains("shipped: db-migrations"),
        "{reason}"
    );
    assert!(
        reason.as_str().contains("wave 2 and later are stopped"),
        "{reason}"
    );
    let (t, effects) = apply(&t, &[Event::Tick], at + Duration::hours(3));
    assert!(starts(&effects, Stage::Production).is_empty());
    // What shipped is what production runs: the next train's changelog starts there.
    let shipped = Train::shipped_before([&t], t.cut_at + Duration::days(7));
    assert_eq!(shipped.get(&name("db-migrations")), Some(&commit(1)));
    assert!(!shipped.contains_key(&name("api")));
}

#[test]
fn a_hold_applies_to_the_start_of_every_wave_and_only_the_last_wave_cannot_be_held() {
    let (t, at) = promoting(&waves());
    let hold = Event::Hold {
        by: alice(),
        reason: reason("watching the migration"),
    };
    let (t, _) = apply(&t, std::slice::from_ref(&hold), at);
    assert_eq!(t.state(), State::Held);
    let done = at + Duration::minutes(5);
    let (t, effects) = apply(
        &t,
        &[
            started("db-migrations", Stage::Production, None),
            finished("db-migrations", Stage::Production, ok()),
        ],
        done,
    );
    assert!(starts(&effects, Stage::Production).is_empty());
    let (t, effects) = apply(&t, &[Event::Tick], done + Duration::hours(1));
    assert!(starts(&effects, Stage::Production).is_empty(), "held");
    let r = record(&t, "wave deferred");
    assert!(
        r.reason.as_deref().unwrap().contains("held by local:alice"),
        "{r:?}"
    );
    let (t, effects) = apply(
        &t,
        &[Event::Resume {
            by: alice(),
            reason: reason("looks fine"),
        }],
        done + Duration::hours(1),
    );
    assert_eq!(names(&starts(&effects, Stage::Production)), ["api", "web"]);
    let r = t.on(&hold, done + Duration::hours(1)).unwrap_err();
    assert!(r.message.contains("last wave"), "{r}");
}

#[test]
fn a_freeze_that_begins_during_the_bake_defers_the_next_wave_until_it_ends() {
    // Wave 1 ships Wed 2026-11-25 10:05 Berlin and bakes until 10:35; the freeze runs
    // from 10:20 to 12:00.
    let config = Config::parse(&format!(
        "{WAVES}\n[[freeze]]\nname = \"wednesday\"\nfrom = \"2026-11-25T10:20\"\nuntil = \"2026-11-25T12:00\"\n"
    ))
    .unwrap();
    let (t, _, at) = wave_one_shipped(&config);
    let (t, effects) = apply(&t, &[Event::Tick], at + Duration::minutes(30));
    assert!(starts(&effects, Stage::Production).is_empty());
    let r = record(&t, "wave deferred");
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("freeze \"wednesday\""),
        "{r:?}"
    );
    let thaw = DateTime::parse_from_rfc3339("2026-11-25T11:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(t.next_due(), Some(thaw));
    let (_, effects) = apply(&t, &[Event::Tick], thaw);
    assert_eq!(names(&starts(&effects, Stage::Production)), ["api", "web"]);
}

#[test]
fn expedite_keeps_the_bake_unless_the_configuration_lets_it_skip() {
    for (extra, bakes) in [("", true), ("expedite_skips_bake = true", false)] {
        let config = waves_with(extra);
        let at = monday() + Duration::hours(1);
        let (t, effects) = apply(
            &soaked(&config),
            &[Event::Expedite {
                by: alice(),
                reason: reason("security fix"),
            }],
            at,
        );
        assert_eq!(
            names(&starts(&effects, Stage::Production)),
            ["db-migrations"]
        );
        let (_, effects) = apply(
            &t,
            &[
                started("db-migrations", Stage::Production, None),
                finished("db-migrations", Stage::Production, ok()),
            ],
            at,
        );
        assert_eq!(
            starts(&effects, Stage::Production).is_empty(),
            bakes,
            "{extra:?}"
        );
    }
}

#[test]
fn an_approval_names_the_commits_it_approved_and_a_staging_retry_voids_it() {
    let mut config = waves_with("approvals = 2");
    config.train.on_component_failure = train_core::FailurePolicy::Exclude;
    // web fails in staging and is excluded; the others soak.
    let t = cut(&config);
    let (t, _) = apply(&t, &staging_green("db-migrations", 1), monday());
    let (t, _) = apply(
        &t,
        &[
            started("api", Stage::Staging, Some(commit(2))),
            green("api", 2),
            started("web", Stage::Staging, Some(commit(3))),
            red("web", Stage::Staging),
        ],
        monday() + Duration::minutes(5),
    );
    assert_eq!(t.state(), State::Soaking);
    let approve = |by| Event::Approve {
        by,
        reason: reason("staging looks right"),
    };
    let (t, _) = apply(&t, &[approve(alice())], monday() + Duration::hours(1));
    let approval = &t.approvals[0];
    assert_eq!(
        approval
            .pins
            .keys()
            .map(train_core::ComponentName::as_str)
            .collect::<Vec<_>>(),
        ["api", "db-migrations"]
    );
    assert!(
        record(&t, "approve (1 of 2)")
            .reason
            .as_deref()
            .unwrap()
            .contains("approves api 020202020202, db-migrations 010101010101"),
        "{:?}",
        t.history.last()
    );
    // A retry builds web again: what soaks is no longer what alice approved.
    let (t, _) = apply(
        &t,
        &[Event::Retry {
            by: bob(),
            reason: reason("web's flaky test fixed"),
        }],
        monday() + Duration::hours(2),
    );
    assert!(t.approvals.is_empty());
    let voided = record(&t, "approval voided");
    let why = voided.reason.as_deref().unwrap();
    assert!(
        why.contains("local:alice's approval no longer counts"),
        "{why}"
    );
    assert!(why.contains("staging builds web again"), "{why}");
    // Approving is refused until every staging build is green again.
    let r = t
        .on(&approve(alice()), monday() + Duration::hours(2))
        .unwrap_err();
    assert!(r.message.contains("still building"), "{r}");
}

#[test]
fn an_approval_from_someone_not_among_the_approvers_is_forbidden_and_names_who_may() {
    let config = waves_with(
        "approvals = 1\napprovers = [\"bob\", \"arn:aws:sts::*:assumed-role/ReleaseManagers/*\"]",
    );
    let t = soaked(&config);
    let r = t
        .on(
            &Event::Approve {
                by: alice(),
                reason: reason("ship it"),
            },
            monday() + Duration::hours(1),
        )
        .unwrap_err();
    assert_eq!(r.kind, RejectionKind::Forbidden);
    assert!(r.message.contains("local:alice may not approve"), "{r}");
    let iam_bob = bob(); // an IAM user named bob is not the OS user bob
    assert!(
        t.on(
            &Event::Approve {
                by: iam_bob,
                reason: reason("x")
            },
            monday()
        )
        .is_err()
    );
    assert!(
        r.message
            .contains("bob, arn:aws:sts::*:assumed-role/ReleaseManagers/*"),
        "{r}"
    );
    let manager =
        train_core::Actor::parse("arn:aws:sts::111111111111:assumed-role/ReleaseManagers/carol")
            .unwrap();
    let os_user_bob = train_core::Actor::parse("local:bob").unwrap();
    for by in [os_user_bob, manager] {
        let (t, _) = apply(
            &t,
            &[Event::Approve {
                by: by.clone(),
                reason: reason("ship it"),
            }],
            monday() + Duration::hours(1),
        );
        assert_eq!(t.approvals.len(), 1, "{by}");
    }
}

// ---- Property: over random waves, bakes and build times, production never starts a wave
// before every earlier wave succeeded and baked, and staging never starts a wave before
// every earlier staging wave is green.

#[derive(Debug, Clone)]
struct Plan {
    /// Each component's wave and own bake (minutes).
    components: Vec<(u32, Option<u32>)>,
    train_bake: Option<u32>,
    /// Minutes each pass moves the clock.
    steps: Vec<u32>,
}

fn plans() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec((1u32..=4, prop::option::of(1u32..=90)), 1..=6),
        prop::option::of(1u32..=90),
        prop::collection::vec(1u32..=45, 400),
    )
        .prop_map(|(components, train_bake, steps)| Plan {
            components,
            train_bake,
            steps,
        })
}

fn plan_config(plan: &Plan) -> Config {
    let mut text = String::from(
        "[train]\nname = \"weekly\"\ntime_zone = \"UTC\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"1h\"\n",
    );
    if let Some(b) = plan.train_bake {
        writeln!(text, "wave_bake = \"{b}m\"").unwrap();
    }
    for (i, (wave, bake)) in plan.components.iter().enumerate() {
        writeln!(
            text,
            "[[component]]\nname = \"c{i}\"\nsource = \"repos/c{i}\"\nstaging = {{ buildspec = \"s.yml\" }}\nproduction = {{ buildspec = \"p.yml\" }}\nwave = {wave}"
        )
        .unwrap();
        if let Some(b) = bake {
            writeln!(text, "wave_bake = \"{b}m\"").unwrap();
        }
    }
    Config::parse(&text).unwrap()
}

/// The bake after `wave` as the configuration states it, read independently of the core.
fn bake_minutes(plan: &Plan, wave: u32) -> i64 {
    plan.components
        .iter()
        .filter(|(w, _)| *w == wave)
        .filter_map(|(_, b)| *b)
        .max()
        .or(plan.train_bake)
        .map_or(0, i64::from)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_wave_starts_before_the_earlier_waves_succeeded_and_baked(plan in plans()) {
        let config = plan_config(&plan);
        let wave_of = |c: &str| plan.components[c[1..].parse::<usize>().unwrap()].0;
        let mut t = cut(&config);
        let mut now = monday();
        let mut promoted = false;
        for step in &plan.steps {
            now += Duration::minutes(i64::from(*step));
            let mut events = Vec::new();
            for (name, run) in &t.components {
                for stage in [Stage::Staging, Stage::Production] {
                    let Some(b) = run.build(stage) else { continue };
                    if b.status != BuildStatus::Requested {
                        continue;
                    }
                    let id = train_core::BuildId::parse(&format!("{name}-{stage}-{}", b.attempt)).unwrap();
                    let commit = (stage == Stage::Staging).then(|| commit(7));
                    events.push(Event::BuildStarted {
                        component: name.clone(), stage, attempt: b.attempt,
                        build_id: id.clone(), commit: commit.clone(), link: None,
                    });
                    events.push(Event::BuildFinished {
                        component: name.clone(), stage, attempt: b.attempt, build_id: id,
                        outcome: train_core::BuildOutcome::Succeeded { commit },
                    });
                }
            }
            if !promoted && matches!(t.phase, Phase::Soaking { .. }) {
                events.push(Event::PromotionDue { scheduled: now });
                promoted = true;
            }
            events.push(Event::Tick);
            for e in &events {
                let next = t.on(e, now).unwrap().train;
                for (name, run) in &next.components {
                    let wave = wave_of(name.as_str());
                    for stage in [Stage::Staging, Stage::Production] {
                        let new = run.build(stage).is_some() && t.components[name].build(stage).is_none();
                        if !new {
                            continue;
                        }
                        for (other, earlier) in next.components.iter().filter(|(o, _)| wave_of(o.as_str()) < wave) {
                            let b = earlier.build(stage);
                            prop_assert!(
                                b.is_some_and(|b| b.status == BuildStatus::Succeeded),
                                "{stage} of {name} (wave {wave}) started before {other} succeeded"
                            );
                            if stage == Stage::Production {
                                let done = b.unwrap().finished_at.unwrap();
                                let bake = Duration::minutes(bake_minutes(&plan, wave_of(other.as_str())));
                                prop_assert!(
                                    done + bake <= now,
                                    "{name} (wave {wave}) started at {now}, {other} finished at {done}, bake {bake}"
                                );
                            }
                        }
                    }
                }
                t = next;
            }
            if t.is_terminal() {
                break;
            }
        }
        prop_assert_eq!(t.state(), State::Released, "every plan ships in 400 passes");
        prop_assert!(t.bake.is_none(), "a released train is between no waves");
    }
}
