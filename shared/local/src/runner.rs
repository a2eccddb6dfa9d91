//! Local mode's scheduler: fires the cut and promote schedules in the train's zone, runs
//! reconcile passes, and sleeps (or, on the simulated clock, jumps) until the next due time.
//! On AWS, EventBridge Scheduler and the functions do this work.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use tracing::info;
use train_core::catchup::{CutOwed, GRACE_MINUTES, LOOKBACK_DAYS};
use train_engine::{Engine, EngineError};

use crate::clock::Clock;
use crate::store::ScheduleCursor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Firing {
    Cut,
    Promote,
}

impl Firing {
    fn key(self) -> &'static str {
        match self {
            Firing::Cut => "cut",
            Firing::Promote => "promote",
        }
    }
}

/// What one step saw, and when the next one is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub now: DateTime<Utc>,
    pub next: Option<DateTime<Utc>>,
    pub in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct Runner {
    engine: Engine,
    cursor: Arc<dyn ScheduleCursor>,
    clock: Arc<dyn Clock>,
    poll_every: std::time::Duration,
    wake: Arc<Notify>,
    /// When the time-in-state gauges were last emitted (every [`GAUGE_EVERY`] minutes).
    gauged: Arc<std::sync::Mutex<Option<DateTime<Utc>>>>,
}

/// How often the stuck-train gauges are emitted: as often as AWS's reconcile schedule.
const GAUGE_EVERY: i64 = 5;

impl Runner {
    pub fn new(
        engine: Engine,
        cursor: Arc<dyn ScheduleCursor>,
        clock: Arc<dyn Clock>,
        poll_every: std::time::Duration,
    ) -> Self {
        Self {
            engine,
            cursor,
            clock,
            poll_every,
            wake: Arc::new(Notify::new()),
            gauged: Arc::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Wakes a waiting runner early (after a command changed a train).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Fires what is due, reconciles every unsettled train, and reports the next due time.
    pub async fn step(&self) -> Result<Step, EngineError> {
        let now = self.clock.now();
        let store = &self.cursor;
        let mut next: Option<DateTime<Utc>> = None;
        for firing in [Firing::Cut, Firing::Promote] {
            let settings = &self.engine.config().train;
            let schedule = if firing == Firing::Cut {
                &settings.cut
            } else {
                &settings.promote
            };
            // The first start fires nothing from the past.
            let cursor = if let Some(c) = store.cursor(firing.key()).await? {
                c
            } else {
                store.set_cursor(firing.key(), now).await?;
                now
            };
            // After downtime only the latest missed firing counts (one train, not one per
            // missed week), by the same rules as the AWS reconcile pass
            // (`train_core::catchup`): a cut firing is cut late while its window lasts
            // and noted as missed after; a promote firing is treated as delivered.
            let floor = cursor.max(now - Duration::days(LOOKBACK_DAYS));
            if let Some(at) = schedule.upcoming(floor).take_while(|f| *f <= now).last() {
                let late = at < now - Duration::minutes(GRACE_MINUTES);
                info!(schedule = firing.key(), %at, late, "schedule fired");
                match (firing, late) {
                    (Firing::Cut, false) => drop(self.engine.cut(at, now).await?),
                    (Firing::Cut, true) => match settings.cut_owed_for(at, now) {
                        CutOwed::Cut(at) => drop(self.engine.cut_late(at, now).await?),
                        CutOwed::Missed { firing, until } => {
                            self.engine.cut_missed(firing, until, now).await?;
                        }
                    },
                    (Firing::Promote, false) => {
                        drop(self.engine.promotion_due(at, now).await?);
                    }
                    (Firing::Promote, true) => {
                        drop(self.engine.promotion_late(at, now).await?);
                    }
                }
                store.set_cursor(firing.key(), at).await?;
            }
            next = earliest(next, schedule.next_after(now));
        }
        let seen = self.engine.reconcile(now).await?;
        let gauge_due = {
            let mut last = self
                .gauged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.is_none_or(|t| now - t >= Duration::minutes(GAUGE_EVERY));
            if due {
                *last = Some(now);
            }
            due
        };
        if gauge_due {
            self.engine.gauge(&seen, now).await?;
        }
        Ok(Step {
            now,
            next: earliest(next, seen.next_due),
            in_flight: seen.builds_in_flight,
        })
    }

    /// Waits for the next step: polls while builds run; otherwise sleeps until the next due
    /// time (or `also`, if sooner), or jumps there on a simulated clock. Returns early when
    /// woken.
    pub async fn wait(&self, step: &Step, also: Option<DateTime<Utc>>) {
        let now = self.clock.now();
        // A target already passed would make a jump a no-op and this loop spin.
        let target = earliest(step.next, also).filter(|t| *t > now);
        if step.in_flight == 0
            && let Some(t) = target
            && self.clock.jump_to(t)
        {
            return;
        }
        let until_target = target.map_or(std::time::Duration::from_mins(1), |t| {
            (t - now).to_std().unwrap_or_default()
        });
        let nap = if step.in_flight > 0 {
            self.poll_every.min(until_target)
        } else {
            until_target.min(std::time::Duration::from_secs(30))
        }
        .max(std::time::Duration::from_millis(5));
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = self.wake.notified() => {}
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
