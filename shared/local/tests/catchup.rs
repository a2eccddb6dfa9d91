//! Firings that were never delivered, in local mode: `serve` down over a cut firing cuts
//! the train late when it comes back (and says so); down past the firing's window, it notes
//! the firing as missed, announces it and counts it. Across daylight-saving changes the
//! runner (local mode) and `Engine::catch_up` (the AWS reconcile pass) agree on what was
//! owed, because both ask `train_core::catchup`.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::*;
use train_core::{Config, State};
use train_local::{Clock, LocalMode, Runner, SimulatedClock};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn schedule_actions(controls: &train_core::ScheduleControls) -> Vec<String> {
    controls.history.iter().map(|r| r.action.clone()).collect()
}

#[tokio::test]
async fn a_cut_firing_missed_while_serve_was_down_is_cut_late_and_says_so() {
    let world = World::new(&[repo("api")], "");
    // serve runs on Monday 08:59 Berlin, then is down over the 09:00 cut until 10:00.
    world.runner.step().await.unwrap();
    world.clock.jump_to(at("2026-11-23T09:00:00Z"));
    world.runner.step().await.unwrap();
    let train = world
        .latest()
        .await
        .expect("the missed cut was made up for");
    assert_eq!(train.id.as_str(), "weekly-2026-W48");
    assert_eq!(
        train.cut_at,
        at("2026-11-23T08:00:00Z"),
        "the firing's own train"
    );
    let cut = &train.history[0];
    assert_eq!(cut.action, "cut");
    assert_eq!(
        cut.reason.as_deref(),
        Some("cut late: the firing at Mon 2026-11-23 09:00 CET was not delivered")
    );
    // It is the same train the firing would have made: it soaks and ships.
    let released = world
        .run_until(8, |_, _, _| None, |t, _| t.is_settled())
        .await;
    assert_eq!(released.state(), State::Released, "{:#?}", released.history);
}

#[tokio::test]
async fn down_past_the_window_the_firing_is_noted_missed_announced_and_counted_once() {
    let world = World::new(&[repo("api")], "");
    world.runner.step().await.unwrap();
    // Down from Monday 08:59 until Wednesday 10:00, past Wednesday's promote firing.
    world.clock.jump_to(at("2026-11-25T09:00:00Z"));
    world.runner.step().await.unwrap();
    world.runner.step().await.unwrap();
    assert!(world.latest().await.is_none(), "no train for a missed week");
    let controls = world.local.engine.schedule_controls().await.unwrap();
    let missed: Vec<_> = controls
        .history
        .iter()
        .filter(|r| r.action == "cut firing at 2026-11-23 08:00:00 UTC missed")
        .collect();
    assert_eq!(missed.len(), 1, "{:?}", schedule_actions(&controls));
    assert!(
        missed[0]
            .reason
            .as_str()
            .contains("its catch-up window ended at Wed 2026-11-25 09:00 CET: no train weekly-2026-W48; trainctl cut -r REASON starts one now"),
        "{}",
        missed[0].reason
    );
    let data = world.root.path().join("data");
    let events = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    let announced: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("\"firing missed\""))
        .collect();
    assert_eq!(announced.len(), 1, "{events}");
    assert!(announced[0].contains("weekly-2026-W48"), "{}", announced[0]);
    let metrics = std::fs::read_to_string(data.join("metrics.jsonl")).unwrap();
    let counted: Vec<serde_json::Value> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m.get("FiringsMissed").is_some())
        .collect();
    assert_eq!(counted.len(), 1, "{metrics}");
    assert_eq!(counted[0]["Schedule"], "cut");
}

/// A train of `cut` and `promote` (Berlin), with one component, and its runner on a
/// simulated clock starting at `start`.
fn nightly(
    cut: &str,
    promote: &str,
    extra: &str,
    start: DateTime<Utc>,
) -> (tempfile::TempDir, LocalMode, Runner, Arc<SimulatedClock>) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("repos/api");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("staging.yml"), GREEN).unwrap();
    std::fs::write(dir.join("production.yml"), GREEN).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "v1"]);
    let text = format!(
        "[train]\nname = \"nightly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"{cut}\"\npromote = \"{promote}\"\nsoak = \"1h\"\n{extra}\n[[component]]\nname = \"api\"\nsource = \"repos/api\"\nstaging = {{ buildspec = \"staging.yml\" }}\nproduction = {{ buildspec = \"production.yml\" }}\n"
    );
    let config = Arc::new(Config::parse(&text).unwrap());
    let local = LocalMode::open(config, root.path(), &root.path().join("data")).unwrap();
    let clock = Arc::new(SimulatedClock::starting_at(start));
    let runner = local.runner(clock.clone(), std::time::Duration::from_millis(20));
    (root, local, runner, clock)
}

/// What a deployment owes after being down from `down` until `back`: the runner's answer
/// (local mode) and `Engine::catch_up`'s (the AWS reconcile pass), each on its own store:
/// the trains it cut and the firings it noted missed.
async fn owed_both_ways(
    cut: &str,
    extra: &str,
    down: DateTime<Utc>,
    back: DateTime<Utc>,
) -> [(Vec<(String, DateTime<Utc>)>, Vec<String>); 2] {
    let promote = "cron(0 9 ? * * *)";
    let (_a, local, runner, clock) = nightly(cut, promote, extra, down);
    runner.step().await.unwrap();
    clock.jump_to(back);
    runner.step().await.unwrap();
    let (_b, aws, _, _) = nightly(cut, promote, extra, down);
    aws.engine.catch_up(down).await.unwrap();
    aws.engine.catch_up(back).await.unwrap();
    let mut out = Vec::new();
    for mode in [&local, &aws] {
        let trains = mode
            .engine
            .list(&train_engine::ports::ListQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id.to_string(), t.cut_at))
            .collect();
        let controls = mode.engine.schedule_controls().await.unwrap();
        let missed = schedule_actions(&controls)
            .into_iter()
            .filter(|a| a.ends_with("missed"))
            .collect();
        out.push((trains, missed));
    }
    [out[0].clone(), out[1].clone()]
}

#[tokio::test]
async fn across_the_spring_change_both_passes_note_the_last_real_firing_missed() {
    // 02:30 does not exist in Berlin on 2027-03-28: down from the 27th 00:00 to the 28th
    // 10:00, the latest firing is the 27th's, and its window (to 09:00 that day) is over.
    let [local, aws] = owed_both_ways(
        "cron(30 2 ? * * *)",
        "",
        at("2027-03-26T23:00:00Z"),
        at("2027-03-28T08:00:00Z"),
    )
    .await;
    assert_eq!(local, aws, "local mode and the AWS pass agree");
    assert_eq!(
        local,
        (
            Vec::new(),
            vec!["cut firing at 2027-03-27 01:30:00 UTC missed".to_owned()]
        )
    );
}

#[tokio::test]
async fn across_the_autumn_change_both_passes_cut_the_one_firing_of_the_doubled_hour() {
    // 02:30 happens twice in Berlin on 2026-10-25 and fires once, at the first (00:30 UTC);
    // back at 05:00, before the 09:00 promote firing, that train is still cut.
    let [local, aws] = owed_both_ways(
        "cron(30 2 ? * * *)",
        "",
        at("2026-10-24T10:00:00Z"),
        at("2026-10-25T04:00:00Z"),
    )
    .await;
    assert_eq!(local, aws, "local mode and the AWS pass agree");
    assert_eq!(
        local,
        (
            vec![("nightly-2026-10-25".to_owned(), at("2026-10-25T00:30:00Z"))],
            Vec::new()
        )
    );
}
