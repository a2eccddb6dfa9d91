//! Freeze windows: times when no train is cut and none is promoted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use crate::span::Span;

/// One freeze window, recurring or one-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeWindow {
    pub name: String,
    #[serde(flatten)]
    pub when: FreezeWhen,
    /// An expedite may promote inside this window (recorded when it does).
    #[serde(default)]
    pub allow_expedite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FreezeWhen {
    /// Starts at every firing of `starts` and lasts `lasts` (e.g. every Friday 17:00 for 64h).
    Recurring {
        #[serde(with = "crate::config::schedule_serde")]
        starts: Schedule,
        lasts: Span,
    },
    /// One absolute range, `from` inclusive, `until` exclusive.
    Once {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A freeze in force at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeHit {
    pub window: String,
    pub until: DateTime<Utc>,
    #[serde(default)]
    pub allow_expedite: bool,
}

impl FreezeWindow {
    /// If this window covers `at`, when it ends.
    pub fn covering(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            FreezeWhen::Recurring { starts, lasts } => starts
                .last_at_or_before(at, lasts.duration())
                .map(|start| start + lasts.duration())
                .filter(|end| *end > at),
            FreezeWhen::Once { from, until } => (*from <= at && at < *until).then_some(*until),
        }
    }
}

/// Every freeze window of a train.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FreezeCalendar(pub Vec<FreezeWindow>);

impl FreezeCalendar {
    /// The freeze in force at `at`, if any; where windows overlap, the one that ends last.
    pub fn at(&self, at: DateTime<Utc>) -> Option<FreezeHit> {
        self.0
            .iter()
            .filter_map(|w| {
                w.covering(at).map(|until| FreezeHit {
                    window: w.name.clone(),
                    until,
                    allow_expedite: w.allow_expedite,
                })
            })
            .max_by_key(|hit| hit.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn calendar() -> FreezeCalendar {
        FreezeCalendar(vec![
            FreezeWindow {
                name: "weekend".into(),
                when: FreezeWhen::Recurring {
                    starts: Schedule::parse("cron(0 17 ? * FRI *)", Berlin).unwrap(),
                    lasts: Span::parse("64h").unwrap(),
                },
                allow_expedite: false,
            },
            FreezeWindow {
                name: "year-end".into(),
                when: FreezeWhen::Once {
                    from: utc("2026-12-21T00:00:00Z"),
                    until: utc("2027-01-04T08:00:00Z"),
                },
                allow_expedite: true,
            },
        ])
    }

    #[test]
    fn recurring_window_covers_the_weekend_only() {
        let cal = calendar();
        assert_eq!(
            cal.at(utc("2026-11-27T15:59:00Z")),
            None,
            "Friday 16:59 Berlin is open"
        );
        let hit = cal.at(utc("2026-11-28T10:00:00Z")).unwrap();
        assert_eq!(hit.window, "weekend");
        assert_eq!(
            hit.until,
            utc("2026-11-30T08:00:00Z"),
            "ends Monday 09:00 Berlin"
        );
        assert_eq!(
            cal.at(utc("2026-11-30T08:00:00Z")),
            None,
            "the end is exclusive"
        );
    }

    #[test]
    fn overlapping_windows_report_the_later_end() {
        let hit = calendar().at(utc("2026-12-26T10:00:00Z")).unwrap();
        assert_eq!(hit.window, "year-end");
        assert_eq!(calendar().at(utc("2027-01-04T08:00:00Z")), None);
    }
}
