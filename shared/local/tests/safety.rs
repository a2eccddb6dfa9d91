//! Release safety end to end in local mode (real git, bash and SQLite, simulated clock):
//! the alarm gate, a freeze over the promote time, one of five components failing under
//! each policy, the wave order, and an approval flow.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use train_core::train::Phase;
use train_core::{Actor, Event, Reason, Stage, State, Train};
use train_engine::Applied;

fn five(failing: Option<&str>) -> Vec<Repo<'static>> {
    ["accounts", "billing", "catalog", "checkout", "search"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| Repo {
            staging: if Some(name) == failing { RED } else { GREEN },
            wave: if i < 2 { 1 } else { 2 },
            ..repo(name)
        })
        .collect()
}

fn production_started(t: &Train, component: &str) -> DateTime<Utc> {
    t.components[&train_core::ComponentName::parse(component).unwrap()]
        .production
        .as_ref()
        .and_then(|b| b.started_at)
        .unwrap_or_else(|| panic!("{component} has no production build"))
}

#[tokio::test]
async fn an_alarm_during_the_soak_holds_the_train_until_it_clears_then_it_soaks_again() {
    let world = World::new(
        &[repo("api")],
        "alarms = [\"api-5xx\"]\nrestart_soak_after_alarm = true",
    );
    let soaking = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    world.local.alarms.set("api-5xx", true).unwrap();
    let held = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Held)
        .await;
    let alarm_hold = held.hold.clone().unwrap();
    assert_eq!(alarm_hold.by.as_str(), "alarm:api-5xx");
    assert_eq!(alarm_hold.reason.as_str(), "alarm api-5xx is in ALARM");

    // Wednesday's promote time passes while the alarm fires: nothing ships. The alarm
    // clears on Thursday.
    let clear_at = soaking.cut_at + Duration::days(3);
    let mut cleared_at = None;
    let released = world
        .run_until(
            10,
            |w, now, t| {
                if cleared_at.is_none() && now >= clear_at {
                    let t = t.unwrap();
                    assert_eq!(t.state(), State::Held, "held through the promote time");
                    assert!(t.promotion_due.is_some());
                    w.local.alarms.set("api-5xx", false).unwrap();
                    cleared_at = Some(now);
                }
                // Wake once more right after clearing, as a polling runner would.
                let wake = cleared_at.map_or(clear_at, |c| c + Duration::minutes(1));
                (wake > now).then_some(wake)
            },
            |t, _| t.is_settled(),
        )
        .await;
    let w48 = world
        .local
        .engine
        .train(&soaking.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.id, soaking.id, "{:#?}", w48.history);
    assert_eq!(released.state(), State::Released, "{:#?}", released.history);
    let cleared_at = cleared_at.expect("the alarm was cleared");
    let actions: Vec<&str> = released.history.iter().map(|r| r.action.as_str()).collect();
    assert!(
        actions.contains(&"resume") && actions.contains(&"soak restarted"),
        "{actions:?}"
    );
    let promoted = production_started(&released, "api");
    assert!(
        promoted >= cleared_at + Duration::hours(48),
        "a full soak after the alarm cleared: cleared {cleared_at}, promoted {promoted}"
    );
}

#[tokio::test]
async fn an_alarm_under_the_cancel_policy_cancels_the_train() {
    let world = World::new(
        &[repo("api")],
        "alarms = [\"api-5xx\"]\non_alarm = \"cancel\"",
    );
    world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    world.local.alarms.set("api-5xx", true).unwrap();
    let t = world
        .run_until(3, |_, _, _| None, |t, _| t.is_terminal())
        .await;
    assert!(
        matches!(&t.phase, Phase::Cancelled { by, .. } if by.as_str() == "alarm:api-5xx"),
        "{:?}",
        t.phase
    );
    assert!(world.build_dirs(Stage::Production).is_empty());
}

#[tokio::test]
async fn a_freeze_over_the_promote_time_defers_to_the_first_promote_time_after_it() {
    // Promote times are Wednesdays and Fridays; Wednesday 2026-11-25 is frozen all day, so
    // the first promote time after the freeze is Friday the 27th.
    let world = World::new(
        &[repo("api")],
        "promote = \"cron(0 9 ? * WED,FRI *)\"\n\n[[freeze]]\nname = \"launch-day\"\nfrom = \"2026-11-25T00:00\"\nuntil = \"2026-11-26T00:00\"",
    );
    let t = world
        .run_until(12, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(t.state(), State::Released);
    let deferred = t
        .history
        .iter()
        .find(|r| r.action == "promotion deferred")
        .unwrap_or_else(|| panic!("the freeze hit is in the history: {:#?}", t.history));
    assert!(deferred.reason.as_deref().unwrap().contains("launch-day"));
    let promoted = production_started(&t, "api");
    assert_eq!(
        promoted.date_naive().to_string(),
        "2026-11-27",
        "the first promote time after the freeze"
    );
    let events = std::fs::read_to_string(world.local.data_dir.join("events.jsonl")).unwrap();
    assert!(
        events.contains("promotion deferred") && events.contains("launch-day"),
        "the freeze hit is announced: {events}"
    );
}

#[tokio::test]
async fn one_of_five_failing_under_halt_ships_nothing() {
    let world = World::new(&five(Some("checkout")), "on_component_failure = \"halt\"");
    let t = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(t.state(), State::Failed);
    assert!(
        world.build_dirs(Stage::Production).is_empty(),
        "nothing promoted"
    );
}

#[tokio::test]
async fn one_of_five_failing_under_exclude_ships_the_four_in_wave_order_and_names_the_fifth() {
    let world = World::new(
        &five(Some("checkout")),
        "on_component_failure = \"exclude\"",
    );
    let t = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(t.state(), State::Released, "{:#?}", t.history);
    let shipped: Vec<String> = t.shipped().keys().map(ToString::to_string).collect();
    assert_eq!(shipped, ["accounts", "billing", "catalog", "search"]);
    let checkout = &t.components[&train_core::ComponentName::parse("checkout").unwrap()];
    assert!(
        checkout
            .excluded
            .as_deref()
            .unwrap()
            .contains("staging build of checkout failed")
    );
    assert!(
        checkout.production.is_none(),
        "an excluded component stays on its last release"
    );

    // Wave 2 starts only after wave 1 succeeded.
    let wave1_done = ["accounts", "billing"]
        .iter()
        .map(|c| {
            t.components[&train_core::ComponentName::parse(c).unwrap()]
                .production
                .as_ref()
                .and_then(|b| b.finished_at)
                .unwrap()
        })
        .max()
        .unwrap();
    for c in ["catalog", "search"] {
        assert!(
            production_started(&t, c) >= wave1_done,
            "{c} started before wave 1 finished"
        );
    }

    // The manifest and the released event name the excluded component.
    let manifest = std::fs::read_to_string(
        world
            .local
            .data_dir
            .join(format!("manifests/{}/released.json", t.id)),
    )
    .unwrap();
    assert!(
        manifest.contains("staging build of checkout failed"),
        "{manifest}"
    );
    let events = std::fs::read_to_string(world.local.data_dir.join("events.jsonl")).unwrap();
    let released = events
        .lines()
        .find(|l| l.contains("\"to\":\"released\""))
        .expect("a released event");
    assert!(
        released.contains("\"excluded\"") && released.contains("checkout"),
        "{released}"
    );
}

#[tokio::test]
async fn a_train_needing_an_approval_waits_for_one_then_ships() {
    let world = World::new(&[repo("api")], "approvals = 1");
    let mut approved_at: Option<DateTime<Utc>> = None;
    let t = world
        .run_until(
            8,
            |w, now, t| {
                let t = t?;
                let waiting = t.state() == State::Soaking
                    && t.promotion_due.is_some()
                    && matches!(t.phase, Phase::Soaking { until, .. } if now >= until);
                if waiting && approved_at.is_none() {
                    let engine = w.local.engine.clone();
                    let id = t.id.clone();
                    let event = Event::Approve {
                        by: Actor::parse("local:carol").unwrap(),
                        reason: Reason::parse("manual QA passed").unwrap(),
                    };
                    let applied = std::thread::spawn(move || {
                        tokio::runtime::Runtime::new()
                            .unwrap()
                            .block_on(engine.apply(&id, &event, now))
                    })
                    .join()
                    .unwrap()
                    .unwrap();
                    assert!(matches!(applied, Applied::Done(_)), "{applied:?}");
                    approved_at = Some(now);
                }
                None
            },
            |t, _| t.is_settled(),
        )
        .await;
    assert_eq!(t.state(), State::Released);
    let approved_at = approved_at.expect("it waited for the approval");
    assert!(production_started(&t, "api") >= approved_at);
    assert_eq!(t.approvals[0].by.as_str(), "local:carol");
}
