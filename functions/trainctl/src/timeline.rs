//! What `trainctl serve` prints: each train's new audit records and the schedule's as they
//! appear, a line when a build starts running and a heartbeat while it runs long.

use std::collections::HashMap;

use train_core::text::printable;
use train_core::{Stage, TrainId};
use train_engine::Engine;
use train_engine::ports::ListQuery;

use crate::render;

/// Prints each train's new audit records, and the schedule's, as they appear, so the
/// terminal shows what the train is doing and why (a cut firing that cut nothing too).
#[derive(Default)]
pub struct Timeline {
    printed: HashMap<TrainId, usize>,
    schedule_printed: Option<usize>,
    /// Builds seen running (train, component, stage, attempt), with when their last line
    /// was printed: a line when one starts, then one every [`HEARTBEAT`] while it runs.
    running: HashMap<(TrainId, String, Stage, u32), std::time::Instant>,
}

/// How often a long build gets a "still running" line.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

impl Timeline {
    pub async fn print_new(&mut self, engine: &Engine, zone: chrono_tz::Tz) {
        if let Ok(controls) = engine.schedule_controls().await {
            // Only what happens while this process runs; the past is in `trainctl schedule`.
            let seen = *self.schedule_printed.get_or_insert(controls.history.len());
            for r in controls.history.iter().skip(seen) {
                println!(
                    "{:<22} {}  {:<16} {}: {}",
                    "schedule",
                    render::local(r.at, zone),
                    printable(r.actor.as_str()),
                    printable(&r.action),
                    printable(r.reason.as_str())
                );
            }
            self.schedule_printed = Some(controls.history.len());
        }
        let Ok(trains) = engine
            .list(&ListQuery {
                limit: 10,
                ..ListQuery::default()
            })
            .await
        else {
            return;
        };
        for train in trains.iter().rev() {
            let seen = self.printed.entry(train.id.clone()).or_insert(0);
            for r in train.history.iter().skip(*seen) {
                println!("{}  {}", train.id, render::record(r, zone));
            }
            *seen = train.history.len();
            self.print_running(train, zone);
        }
    }

    /// A line when a build starts running, and a heartbeat while it runs long.
    fn print_running(&mut self, train: &train_core::Train, zone: chrono_tz::Tz) {
        let now = chrono::Utc::now();
        let mut still = std::collections::HashSet::new();
        for (name, run) in &train.components {
            for stage in [Stage::Staging, Stage::Production] {
                let Some(b) = run.build(stage) else { continue };
                if b.status != train_core::BuildStatus::Running {
                    continue;
                }
                let key = (train.id.clone(), name.to_string(), stage, b.attempt);
                still.insert(key.clone());
                let since = render::running_for(b, now)
                    .map(|run| format!(" ({run})"))
                    .unwrap_or_default();
                match self.running.get(&key) {
                    None => {
                        let log = b
                            .link
                            .as_deref()
                            .map(|l| format!("; log: {}", printable(l)))
                            .unwrap_or_default();
                        println!(
                            "{}  {}  {stage} build of {name} running{since}{log}",
                            train.id,
                            render::local(now, zone)
                        );
                    }
                    Some(last) if last.elapsed() >= HEARTBEAT => println!(
                        "{}  {}  {stage} build of {name} still running{since}",
                        train.id,
                        render::local(now, zone)
                    ),
                    Some(_) => continue,
                }
                self.running.insert(key, std::time::Instant::now());
            }
        }
        self.running
            .retain(|k, _| k.0 != train.id || still.contains(k));
    }
}
