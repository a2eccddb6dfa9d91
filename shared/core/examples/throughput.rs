//! Core throughput: whole trains driven from cut to release through `Train::on`, timed.
//!
//!     cargo run --release -p train-core --example throughput [COMPONENTS] [TRAINS]
//!
//! Every transition clones the train (the core is pure), so the cost of one transition
//! grows with the number of components; this shows by how much.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use train_core::{BuildId, BuildOutcome, Commit, Config, Event, Stage, Train};

fn config(components: usize) -> Config {
    let mut text = String::from(
        "[train]\nname = \"weekly\"\ntime_zone = \"UTC\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n",
    );
    for i in 0..components {
        let _ = write!(
            text,
            "[[component]]\nname = \"c{i}\"\nsource = \"r\"\nstaging = {{ buildspec = \"s.yml\" }}\nproduction = {{ buildspec = \"p.yml\" }}\n"
        );
    }
    Config::parse(&text).expect("valid benchmark config")
}

fn step(train: &mut Train, event: &Event, now: chrono::DateTime<Utc>, count: &mut u64) {
    *train = train.on(event, now).expect("benchmark events apply").train;
    *count += 1;
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let components = args.next().unwrap_or(30);
    let trains = args.next().unwrap_or(200);
    let config = config(components);
    let monday = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let commit = Commit::parse(&"ab".repeat(20)).unwrap();
    let names: Vec<_> = config.components.iter().map(|c| c.name.clone()).collect();
    let started = Instant::now();
    let mut transitions = 0u64;
    for _ in 0..trains {
        let mut t = Train::cut(&config, monday, monday).train;
        transitions += 1;
        for stage in [Stage::Staging, Stage::Production] {
            let now = if stage == Stage::Staging {
                monday
            } else {
                monday + Duration::hours(49)
            };
            if stage == Stage::Production {
                step(
                    &mut t,
                    &Event::PromotionDue { scheduled: now },
                    now,
                    &mut transitions,
                );
            }
            for name in &names {
                let build_id = BuildId::parse(&format!("{name}-{stage}")).unwrap();
                let start = Event::BuildStarted {
                    component: name.clone(),
                    stage,
                    attempt: 1,
                    build_id: build_id.clone(),
                    commit: Some(commit.clone()),
                    link: None,
                };
                step(&mut t, &start, now, &mut transitions);
                let outcome = BuildOutcome::Succeeded {
                    commit: Some(commit.clone()),
                };
                step(
                    &mut t,
                    &Event::BuildFinished {
                        component: name.clone(),
                        stage,
                        attempt: 1,
                        build_id,
                        outcome,
                    },
                    now,
                    &mut transitions,
                );
            }
        }
        assert!(t.is_terminal(), "the benchmark train released");
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = transitions as f64 / secs;
    println!(
        "{components} components, {trains} trains: {transitions} transitions in {secs:.2} s = {rate:.0} transitions/s"
    );
}
