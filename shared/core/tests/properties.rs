//! Properties of the state machine over random event sequences, with duplicates,
//! reorderings, holds, cancels and time jumps mixed in.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;
use train_core::{
    BuildOutcome, BuildStatus, Config, Effect, Event, Phase, Revision, Stage, State, Train,
};

const COMPONENTS: [&str; 3] = ["api", "web", "worker"];

#[derive(Debug, Clone)]
enum Op {
    Start(usize, Stage),
    Finish(usize, Stage, u8),
    Promote,
    Advance(i64),
    Cancel,
    Hold,
    Resume,
    Alarm(bool),
    Repeat,
}

fn op() -> impl Strategy<Value = Op> {
    let stage = prop_oneof![Just(Stage::Staging), Just(Stage::Production)];
    prop_oneof![
        4 => (0..3usize, stage.clone()).prop_map(|(c, s)| Op::Start(c, s)),
        6 => (0..3usize, stage, 0..10u8).prop_map(|(c, s, o)| Op::Finish(c, s, o)),
        2 => Just(Op::Promote),
        3 => (0..80i64).prop_map(Op::Advance),
        1 => Just(Op::Cancel),
        1 => Just(Op::Hold),
        1 => Just(Op::Resume),
        1 => any::<bool>().prop_map(Op::Alarm),
        2 => Just(Op::Repeat),
    ]
}

fn event_for(op: &Op, train: &Train, last: Option<&Event>) -> Option<Event> {
    Some(match op {
        Op::Start(c, stage) => {
            let commit = match stage {
                Stage::Staging => Some(commit(u8::try_from(*c).unwrap() + 1)),
                Stage::Production => train.components[&name(COMPONENTS[*c])].pinned.clone(),
            };
            started(COMPONENTS[*c], *stage, commit)
        }
        // Mostly successes, some failures and stops; staging success reports the commit.
        Op::Finish(c, stage, o) => {
            let outcome = match o {
                0 => BuildOutcome::Failed {
                    reason: "tests failed".into(),
                },
                1 => BuildOutcome::Stopped,
                _ if *stage == Stage::Staging => BuildOutcome::Succeeded {
                    commit: Some(commit(u8::try_from(*c).unwrap() + 1)),
                },
                _ => BuildOutcome::Succeeded { commit: None },
            };
            finished(COMPONENTS[*c], *stage, outcome)
        }
        Op::Promote => Event::PromotionDue {
            scheduled: monday() + Duration::hours(48),
        },
        Op::Advance(_) => Event::Tick,
        Op::Cancel => Event::Cancel {
            by: alice(),
            reason: reason("random cancel"),
        },
        Op::Hold => Event::Hold {
            by: alice(),
            reason: reason("random hold"),
        },
        Op::Resume => Event::Resume {
            by: alice(),
            reason: reason("random resume"),
        },
        Op::Alarm(firing) => Event::AlarmChanged {
            alarm: train_core::AlarmName::parse("api-5xx").unwrap(),
            firing: *firing,
        },
        Op::Repeat => last?.clone(),
    })
}

/// Checks what every production start must satisfy, given the train before the event.
fn check_production_starts(
    before: &Train,
    after: &Train,
    event: &Event,
    effects: &[Effect],
    now: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    for e in effects {
        let Effect::StartBuild(req) = e else { continue };
        if req.stage != Stage::Production {
            continue;
        }
        prop_assert!(
            !matches!(
                before.phase,
                Phase::Cancelled { .. }
                    | Phase::Failed { .. }
                    | Phase::Released { .. }
                    | Phase::Skipped { .. }
            ),
            "production start from a terminal train"
        );
        prop_assert!(after.hold.is_none(), "production start while held");
        // The event itself may be the alarm clearing: what counts is the train after it.
        prop_assert!(
            after.alarms_firing.is_empty() || matches!(before.phase, Phase::Promoting { .. }),
            "production start while a gating alarm fires"
        );
        let run = &before.components[&req.component];
        let staging = run.staging.as_ref().expect("staging build exists");
        prop_assert_eq!(
            staging.status,
            BuildStatus::Succeeded,
            "production without green staging"
        );
        prop_assert_eq!(
            &req.revision,
            &Revision::Commit(run.pinned.clone().expect("pinned")),
            "production of another commit"
        );
        prop_assert_eq!(staging.commit.as_ref(), run.pinned.as_ref());
        if let Phase::Soaking { until, .. } = before.phase {
            prop_assert!(now >= until, "production before the soak ended");
        }
        prop_assert!(
            matches!(
                before.phase,
                Phase::Soaking { .. } | Phase::Promoting { .. }
            ) || before.hold.is_some(),
            "production start from {:?}",
            before.phase
        );
        let due = before.promotion_due.is_some() || matches!(event, Event::PromotionDue { .. });
        prop_assert!(
            due || matches!(before.phase, Phase::Promoting { .. }),
            "production before the promote schedule"
        );
    }
    Ok(())
}

/// Whoever watches the event bus sees every change of state and every person's command:
/// a transition that changes the state publishes events that chain from the state before
/// to the state after, and an accepted command of a person publishes one naming them.
fn check_announcements(
    before: &Train,
    after: &Train,
    event: &Event,
    effects: &[Effect],
) -> Result<(), TestCaseError> {
    let published: Vec<&train_core::Announcement> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(a) => Some(a),
            _ => None,
        })
        .collect();
    if before.state() != after.state() {
        prop_assert!(
            !published.is_empty(),
            "{:?} -> {:?} on {:?} published nothing",
            before.state(),
            after.state(),
            event
        );
        prop_assert_eq!(published[0].from, Some(before.state()));
        prop_assert_eq!(published[published.len() - 1].to, after.state());
        for pair in published.windows(2) {
            prop_assert_eq!(pair[1].from, Some(pair[0].to), "events do not chain");
        }
    }
    let (Event::Hold { by, .. } | Event::Resume { by, .. } | Event::Cancel { by, .. }) = event
    else {
        return Ok(());
    };
    if after.history.len() > before.history.len() {
        prop_assert!(
            published.iter().any(|a| a.actor == *by),
            "{:?} by {} published no event naming them",
            event,
            by
        );
    }
    Ok(())
}

fn run(config: &Config, ops: &[Op]) -> Result<Train, TestCaseError> {
    let mut train = Train::cut(config, monday(), monday()).train;
    let mut now = monday();
    let mut last: Option<Event> = None;
    let mut ever_cancelled = false;
    for op in ops {
        if let Op::Advance(h) = op {
            now += Duration::hours(*h);
        }
        let Some(event) = event_for(op, &train, last.as_ref()) else {
            continue;
        };
        let was_terminal = train.is_terminal();
        let phase_before = train.phase.clone();
        if let Ok(t) = train.on(&event, now) {
            let effects: Vec<Effect> = t.effects.iter().map(|p| p.effect.clone()).collect();
            check_production_starts(&train, &t.train, &event, &effects, now)?;
            check_announcements(&train, &t.train, &event, &effects)?;
            if ever_cancelled {
                prop_assert!(
                    !effects.iter().any(
                        |e| matches!(e, Effect::StartBuild(r) if r.stage == Stage::Production)
                    ),
                    "a cancelled train started a production build"
                );
            }
            if was_terminal {
                prop_assert_eq!(
                    &t.train.phase,
                    &phase_before,
                    "a terminal train changed phase"
                );
            }
            // The same event again, at the same moment, changes nothing.
            if let Ok(again) = t.train.on(&event, now) {
                prop_assert!(
                    !again.changed(&t.train),
                    "repeat of {:?} changed the train",
                    event
                );
                prop_assert!(again.effects.is_empty());
            }
            train = t.train;
        }
        ever_cancelled |= matches!(train.phase, Phase::Cancelled { .. });
        last = Some(event);
    }
    Ok(train)
}

/// Finishes whatever is open, successfully, so the train must end.
fn drive_to_end(mut train: Train, mut now: DateTime<Utc>) -> Train {
    for _ in 0..10 {
        now += Duration::hours(100);
        train = train
            .on(
                &Event::AlarmChanged {
                    alarm: train_core::AlarmName::parse("api-5xx").unwrap(),
                    firing: false,
                },
                now,
            )
            .map(|t| t.train)
            .unwrap_or(train);
        if train.hold.is_some() {
            train = train
                .on(
                    &Event::Resume {
                        by: alice(),
                        reason: reason("end"),
                    },
                    now,
                )
                .map(|t| t.train)
                .unwrap_or(train);
        }
        for stage in [Stage::Staging, Stage::Production] {
            let open: Vec<(String, u32)> = train
                .active_builds(stage)
                .map(|(n, b)| (n.to_string(), b.attempt))
                .collect();
            for (c, _) in open {
                let i = COMPONENTS.iter().position(|x| *x == c).unwrap();
                let ok = if stage == Stage::Staging {
                    BuildOutcome::Succeeded {
                        commit: Some(commit(u8::try_from(i).unwrap() + 1)),
                    }
                } else {
                    BuildOutcome::Succeeded { commit: None }
                };
                train = train
                    .on(&finished(&c, stage, ok), now)
                    .map(|t| t.train)
                    .unwrap_or(train);
            }
        }
        train = train
            .on(&Event::PromotionDue { scheduled: now }, now)
            .map(|t| t.train)
            .unwrap_or(train);
        train = train
            .on(&Event::Tick, now + Duration::hours(60))
            .map(|t| t.train)
            .unwrap_or(train);
        if train.is_terminal() {
            break;
        }
    }
    train
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn safety_holds_over_random_sequences(ops in prop::collection::vec(op(), 0..60), exclude in any::<bool>()) {
        let config = config_with(if exclude { "exclude" } else { "halt" }, "alarms = [\"api-5xx\"]");
        run(&config, &ops)?;
        // The same, with a freeze over the promote time of the first week.
        let frozen = Config::parse(&format!("{MINIMAL}\n[[freeze]]\nname = \"midweek\"\nfrom = \"2026-11-25T06:00\"\nuntil = \"2026-11-27T00:00\"\n")).unwrap();
        run(&frozen, &ops)?;
    }

    #[test]
    fn every_train_ends_in_exactly_one_terminal_state(ops in prop::collection::vec(op(), 0..40), exclude in any::<bool>()) {
        let config = config_with(if exclude { "exclude" } else { "halt" }, "alarms = [\"api-5xx\"]");
        let train = run(&config, &ops)?;
        let end = drive_to_end(train, monday() + Duration::days(30));
        prop_assert!(end.is_terminal(), "ended {:?}", end.phase);
        let terminals = State::ALL.iter().filter(|s| s.is_terminal() && **s == end.state()).count();
        prop_assert_eq!(terminals, 1);
        if let Phase::Released { .. } = end.phase {
            for run in end.components.values().filter(|r| r.excluded.is_none()) {
                let prod = run.production.as_ref().expect("released components have a production build");
                prop_assert_eq!(prod.status, BuildStatus::Succeeded);
                prop_assert_eq!(prod.commit.as_ref(), run.pinned.as_ref());
            }
        }
    }

    #[test]
    fn build_reports_shuffled_and_duplicated_reach_the_in_order_state(
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        copies in prop::collection::vec(1..=3usize, 6),
        failing in prop::option::of(0..3usize),
    ) {
        // Starts and ends of the three staging builds (one may fail), each delivered one to
        // three times, in any order, against the same deliveries once and in order.
        let t = Train::cut(&config(), monday(), monday()).train;
        let events: Vec<Event> = COMPONENTS.iter().enumerate().flat_map(|(i, c)| {
            let seed = u8::try_from(i).unwrap() + 1;
            let end = if failing == Some(i) { red(c, Stage::Staging) } else { green(c, seed) };
            [started(c, Stage::Staging, Some(commit(seed))), end]
        }).collect();
        let at = monday() + Duration::minutes(5);
        let apply = |t: Train, e: &Event| t.on(e, at).map(|x| x.train).unwrap_or(t);
        let in_order = events.iter().fold(t.clone(), apply);
        let deliveries: Vec<&Event> = order.iter().flat_map(|i| std::iter::repeat_n(&events[*i], copies[*i])).collect();
        let shuffled = deliveries.into_iter().fold(t, apply);
        let expected = if failing.is_some() { State::Failed } else { State::Soaking };
        prop_assert_eq!(in_order.state(), expected);
        prop_assert_eq!(shuffled.state(), expected);
        let end = |t: &Train| t.components.values().map(|r| (r.pinned.clone(), r.staging.as_ref().map(|b| b.status))).collect::<Vec<_>>();
        prop_assert_eq!(end(&in_order), end(&shuffled));
    }

    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,400}") {
        let _ = Config::parse(&text);
    }

    #[test]
    fn config_mutations_are_rejected_with_a_line_or_accepted(cut in 0..MINIMAL.len(), insert in "[\\[\\]=\" a-z0-9\n]{0,8}") {
        let mut text = MINIMAL.to_owned();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &insert);
        if let Err(e) = Config::parse(&text) {
            let lines = text.lines().count() + 1;
            for issue in e.issues {
                prop_assert!(issue.line >= 1 && issue.line <= lines, "line {} out of range", issue.line);
                prop_assert!(!issue.message.is_empty());
            }
        }
    }

    #[test]
    fn schedule_parsing_never_panics_and_firings_increase(expr in "cron\\([0-9*?/,LW# A-Z-]{0,30}\\)") {
        if let Ok(s) = train_core::Schedule::parse(&expr, chrono_tz::Europe::Berlin) {
            let firings: Vec<_> = s.upcoming(monday()).take(5).collect();
            prop_assert!(firings.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(firings.iter().all(|f| *f > monday()));
        }
    }
}
