//! Firings the schedules owe. A cut or promote firing whose delivery never came (the
//! invocation failed past Scheduler's retries and went to the dead-letter queue, or local
//! mode was down) is made up for by a later pass while that is still useful, and noted as
//! missed once it is not. One set of rules for both deployments, so the AWS reconcile pass
//! and local mode's runner agree on what was missed.
//!
//! - The latest cut firing (looking back [`LOOKBACK_DAYS`]) with no train is cut late until
//!   its window ends: `catch_up` after the firing, or by default the next promote firing
//!   after it (a train cut later could not make that promotion, and the next cut is near).
//!   After that it is missed: noted once on the schedule's audit trail, announced and
//!   counted (`FiringsMissed`).
//! - The latest promote firing is treated as delivered for every train cut before it that
//!   still waits for one ([`crate::Train::owes_promotion`]), unless the schedule was paused
//!   at that moment (then the firing did nothing on purpose).
//! - A firing younger than [`GRACE_MINUTES`] is left to its own delivery; a firing before
//!   the moment the deployment started watching (`watched_since`) is never made up for.

use chrono::{DateTime, Duration, Utc};

use crate::config::TrainSettings;
use crate::metrics::MetricName;
use crate::train::{Metric, Unit};

/// How long a firing's own delivery is awaited before a pass makes up for it: two of the
/// AWS reconcile schedule's five-minute periods.
pub const GRACE_MINUTES: i64 = 10;

/// How far back a pass looks for the latest firing.
pub const LOOKBACK_DAYS: i64 = 8;

/// What a pass owes the cut schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOwed {
    /// Cut the train of this firing, unless it exists.
    Cut(DateTime<Utc>),
    /// Too late to cut the train of `firing` (its window ended at `until`): note it as
    /// missed, unless the train exists.
    Missed {
        firing: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// The count of a cut firing noted as missed (`FiringsMissed`, by `Schedule`), which the
/// template's `FiringsMissedAlarm` watches.
pub fn missed_metric() -> Metric {
    Metric {
        name: MetricName::FiringsMissed.as_str().to_owned(),
        value: 1.0,
        unit: Unit::Count,
        dimensions: [("Schedule".to_owned(), "cut".to_owned())].into(),
    }
}

impl CutOwed {
    /// The firing it is about.
    pub fn firing(self) -> DateTime<Utc> {
        match self {
            Self::Cut(f) | Self::Missed { firing: f, .. } => f,
        }
    }
}

impl TrainSettings {
    /// Until when the train of the cut firing at `firing` is still cut if its delivery
    /// never came.
    pub fn catch_up_until(&self, firing: DateTime<Utc>) -> DateTime<Utc> {
        match self.catch_up {
            Some(span) => firing + span.duration(),
            None => self
                .promote
                .next_after(firing)
                .unwrap_or_else(|| firing + Duration::days(LOOKBACK_DAYS)),
        }
    }

    /// What the cut firing at `firing`, seen at `now`, asks for: a (late) cut while its
    /// window lasts, a note that it was missed after.
    pub fn cut_owed_for(&self, firing: DateTime<Utc>, now: DateTime<Utc>) -> CutOwed {
        let until = self.catch_up_until(firing);
        if now < until {
            CutOwed::Cut(firing)
        } else {
            CutOwed::Missed { firing, until }
        }
    }

    /// The latest cut firing a pass at `now` answers for, if any: at least
    /// [`GRACE_MINUTES`] old, and not before `since`.
    pub fn cut_owed(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<CutOwed> {
        let firing = latest_owed(&self.cut, since, now)?;
        Some(self.cut_owed_for(firing, now))
    }

    /// The latest promote firing a pass at `now` may treat as delivered.
    pub fn promote_owed(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        latest_owed(&self.promote, since, now)
    }
}

fn latest_owed(
    schedule: &crate::Schedule,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .last_at_or_before(
            now - Duration::minutes(GRACE_MINUTES),
            Duration::days(LOOKBACK_DAYS),
        )
        .filter(|f| *f >= since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn settings(extra: &str) -> TrainSettings {
        Config::parse(&format!(
            "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n{extra}\n[[component]]\nname = \"api\"\nsource = \"repos/api\"\nstaging = {{ buildspec = \"s.yml\" }}\nproduction = {{ buildspec = \"p.yml\" }}\n"
        ))
        .unwrap()
        .train
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Monday 2026-11-23 09:00 in Berlin.
    const MONDAY_9: &str = "2026-11-23T08:00:00Z";

    #[test]
    fn a_missed_cut_is_owed_until_the_next_promote_firing_then_it_is_missed() {
        let s = settings("");
        let since = at("2026-11-01T00:00:00Z");
        assert_eq!(
            s.cut_owed(since, at("2026-11-23T08:05:00Z")),
            Some(CutOwed::Missed {
                firing: at("2026-11-16T08:00:00Z"),
                until: at("2026-11-18T08:00:00Z")
            }),
            "within the grace the latest firing owed is last week's (its train exists or was missed)"
        );
        assert_eq!(
            s.cut_owed(since, at("2026-11-23T08:10:00Z")),
            Some(CutOwed::Cut(at(MONDAY_9)))
        );
        assert_eq!(
            s.cut_owed(since, at("2026-11-25T07:59:59Z")),
            Some(CutOwed::Cut(at(MONDAY_9))),
            "until Wednesday's promote firing"
        );
        assert_eq!(
            s.cut_owed(since, at("2026-11-25T08:00:00Z")),
            Some(CutOwed::Missed {
                firing: at(MONDAY_9),
                until: at("2026-11-25T08:00:00Z")
            })
        );
    }

    #[test]
    fn catch_up_sets_the_window_and_watched_since_bounds_it() {
        let s = settings("catch_up = \"6h\"");
        let since = at("2026-11-01T00:00:00Z");
        assert_eq!(
            s.cut_owed(since, at("2026-11-23T13:59:00Z")),
            Some(CutOwed::Cut(at(MONDAY_9)))
        );
        assert!(matches!(
            s.cut_owed(since, at("2026-11-23T14:00:00Z")),
            Some(CutOwed::Missed { .. })
        ));
        // A deployment that started watching after the firing owes nothing for it.
        assert_eq!(
            s.cut_owed(at("2026-11-23T08:30:00Z"), at("2026-11-23T09:00:00Z")),
            None
        );
    }

    #[test]
    fn across_a_daylight_saving_change_the_owed_firing_is_the_schedule_s_own() {
        // 02:30 does not exist in Berlin on Sunday 2027-03-28: that firing is skipped,
        // so after downtime over that night the owed firing is the week before's.
        let s = Config::parse(
            "[train]\nname = \"nightly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(30 2 ? * SUN *)\"\npromote = \"cron(0 9 ? * SUN *)\"\nsoak = \"1h\"\n[[component]]\nname = \"api\"\nsource = \"repos/api\"\nstaging = { buildspec = \"s.yml\" }\nproduction = { buildspec = \"p.yml\" }\n",
        )
        .unwrap()
        .train;
        let since = at("2027-03-01T00:00:00Z");
        let owed = s.cut_owed(since, at("2027-03-28T06:00:00Z"));
        assert_eq!(
            owed,
            Some(CutOwed::Missed {
                firing: at("2027-03-21T01:30:00Z"),
                until: at("2027-03-21T08:00:00Z")
            })
        );
    }
}
