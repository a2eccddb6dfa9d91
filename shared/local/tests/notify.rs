//! The heads-up before a promotion (`notify_before`), end to end in local mode: announced
//! once, that long before the promote firing, with the command that stops it; and every
//! event carries the one line a person reads (`detail.message`).

mod common;

use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;
use train_core::{Actor, Event, Reason, State};
use train_local::Clock as _;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn events(world: &World) -> Vec<Value> {
    std::fs::read_to_string(world.root.path().join("data/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_soaking_train_announces_its_promotion_once_an_hour_before_the_firing() {
    let world = World::new(&[repo("api"), repo("web")], "notify_before = \"1h\"");
    let released = world
        .run_until(5, |_, _, _| None, |t, _| t.state() == State::Released)
        .await;
    // Wednesday 09:00 in Berlin is the promote firing; the heads-up is at 08:00.
    let soon: Vec<_> = released
        .history
        .iter()
        .filter(|r| r.action == "promotion soon")
        .collect();
    assert_eq!(soon.len(), 1, "{:#?}", released.history);
    // (The simulated clock moves on by microseconds per step.)
    let off = (soon[0].at - at("2026-11-25T07:00:00Z"))
        .num_milliseconds()
        .abs();
    assert!(off < 1000, "at {}", soon[0].at);
    assert_eq!(soon[0].actor.as_str(), "schedule:promote");
    let why = soon[0].reason.as_deref().unwrap();
    assert!(
        why.contains("promotes at Wed 2026-11-25 09:00 CET with 2 components")
            && why.contains("trainctl cancel weekly-2026-W48 -r REASON"),
        "{why}"
    );

    let events = events(&world);
    let heads_up: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail"]["action"] == "promotion soon")
        .collect();
    assert_eq!(heads_up.len(), 1, "one event: {events:#?}");
    let line = heads_up[0]["detail"]["message"].as_str().unwrap();
    assert!(
        line.starts_with("weekly-2026-W48: promotion soon by schedule:promote: promotes at"),
        "{line}"
    );
    let release = events
        .iter()
        .find(|e| e["detail"]["to"] == "released")
        .unwrap();
    let line = release["detail"]["message"].as_str().unwrap();
    assert!(
        line.contains("(promoting -> released)")
            && line.ends_with("to undo it: trainctl rollback weekly-2026-W48 -r REASON"),
        "{line}"
    );

    // The same change as a chat notification, in AWS Chatbot's custom notification format
    // ("version": "1.0" and "source": "custom" are required, Administrator Guide, "Custom
    // notifications using Amazon Q Developer in chat applications"), one thread per train.
    let chat = &release["detail"]["notification"];
    assert_eq!(chat["version"], "1.0", "{chat}");
    assert_eq!(chat["source"], "custom", "{chat}");
    assert_eq!(chat["content"]["textType"], "client-markdown");
    assert_eq!(
        chat["content"]["title"],
        ":white_check_mark: weekly-2026-W48: released"
    );
    let description = chat["content"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("weekly-2026-W48: released by ")
            && description.contains("(promoting -> released)")
            && !description.contains("trainctl"),
        "{description}"
    );
    assert_eq!(
        chat["content"]["nextSteps"],
        serde_json::json!(["to undo it: trainctl rollback weekly-2026-W48 -r REASON"])
    );
    assert_eq!(chat["metadata"]["threadId"], "weekly-2026-W48");
    let heads_up = &heads_up[0]["detail"]["notification"];
    assert_eq!(heads_up["metadata"]["threadId"], "weekly-2026-W48");
    assert!(
        heads_up["content"]["description"]
            .as_str()
            .unwrap()
            .contains("trainctl cancel weekly-2026-W48 -r REASON"),
        "{heads_up}"
    );
}

#[tokio::test]
async fn a_held_train_gets_no_heads_up_and_without_notify_before_there_is_none() {
    for (extra, hold) in [("notify_before = \"1h\"", true), ("", false)] {
        let world = World::new(&[repo("api")], extra);
        let soaking = world
            .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
            .await;
        if hold {
            world
                .local
                .engine
                .apply(
                    &soaking.id,
                    &Event::Hold {
                        by: Actor::parse("local:alice").unwrap(),
                        reason: Reason::parse("p99 latency up").unwrap(),
                    },
                    world.clock.now(),
                )
                .await
                .unwrap();
        }
        // The promote firing: Wednesday 09:00 in Berlin.
        let firing = at("2026-11-25T08:00:00Z");
        world
            .run_until(
                5,
                |_, _, _| None,
                |t, now| {
                    if hold {
                        now >= firing
                    } else {
                        t.state() == State::Released
                    }
                },
            )
            .await;
        // A held train has nothing due, so the clock may jump on to the next cut: the train
        // is read by its id.
        let train = world
            .local
            .engine
            .train(&soaking.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            train.history.iter().all(|r| r.action != "promotion soon"),
            "{extra}: {:#?}",
            train.history
        );
        assert_eq!(
            train.state(),
            if hold { State::Held } else { State::Released },
            "{extra}"
        );
    }
}
