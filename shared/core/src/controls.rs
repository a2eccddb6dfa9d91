//! Commands on the schedule rather than on one train: pause it, resume it, skip the next
//! cut. Pure decisions like [`crate::Train::on`]: the engine stores the result with a
//! conditional write.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Actor, Reason};
use crate::train::{Hold, Rejection, RejectionKind};

/// How many schedule commands the controls keep as their audit trail.
const KEPT: usize = 100;

/// The cut firing a person asked to skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipNext {
    pub firing: DateTime<Utc>,
    pub by: Actor,
    pub reason: Reason,
    pub at: DateTime<Utc>,
}

/// One schedule command, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub reason: Reason,
}

/// The state of a train name's schedule controls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleControls {
    /// While paused, cut firings make skipped trains and promote firings do nothing.
    pub paused: Option<Hold>,
    pub skip: Option<SkipNext>,
    #[serde(default)]
    pub history: Vec<ScheduleRecord>,
    /// Since when the schedules' firings are watched: the first reconcile pass sets it, and
    /// no firing before it is made up for or noted as missed (a new deployment does not cut
    /// last week's train).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_since: Option<DateTime<Utc>>,
    /// The latest cut firing a pass has answered for (its train found, cut late, or noted
    /// missed), so later passes do not read for it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_checked: Option<DateTime<Utc>>,
    /// The latest promote firing a pass has made sure every train heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_checked: Option<DateTime<Utc>>,
}

fn not_now(message: String) -> Rejection {
    Rejection {
        kind: RejectionKind::NotNow,
        message,
    }
}

impl ScheduleControls {
    pub fn pause(
        &self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<Self, Rejection> {
        if let Some(p) = &self.paused {
            return Err(not_now(format!(
                "the schedule is already paused by {} since {}: {}; resume it first",
                p.by, p.at, p.reason
            )));
        }
        let mut next = self.clone();
        next.paused = Some(Hold {
            by: by.clone(),
            reason: reason.clone(),
            at: now,
        });
        Ok(next.recorded(by, "pause", reason, now))
    }

    pub fn resume(
        &self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<Self, Rejection> {
        if self.paused.is_none() {
            return Err(not_now(
                "the schedule is not paused; nothing to resume (to lift a train's hold: trainctl resume ID -r REASON, or POST /trains/{id}/resume)".to_owned(),
            ));
        }
        let mut next = self.clone();
        next.paused = None;
        Ok(next.recorded(by, "resume", reason, now))
    }

    /// Skips the cut firing at `firing` (the next one after `now`).
    pub fn skip_next(
        &self,
        by: &Actor,
        reason: &Reason,
        firing: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, Rejection> {
        let Some(firing) = firing else {
            return Err(not_now(
                "the cut schedule never fires again; nothing to skip".to_owned(),
            ));
        };
        if let Some(s) = self.skip.as_ref().filter(|s| s.firing >= now) {
            return Err(not_now(format!(
                "the cut at {} is already skipped by {}: {}",
                s.firing, s.by, s.reason
            )));
        }
        let mut next = self.clone();
        next.skip = Some(SkipNext {
            firing,
            by: by.clone(),
            reason: reason.clone(),
            at: now,
        });
        Ok(next.recorded(by, &format!("skip the cut at {firing}"), reason, now))
    }

    /// Who stops the cut firing at `scheduled`, and why, if anyone does.
    pub fn skips_cut(&self, scheduled: DateTime<Utc>) -> Option<(Actor, String)> {
        if let Some(p) = &self.paused {
            return Some((
                p.by.clone(),
                format!("schedule paused by {}: {}", p.by, p.reason),
            ));
        }
        self.skip
            .as_ref()
            .filter(|s| s.firing == scheduled)
            .map(|s| {
                (
                    s.by.clone(),
                    format!("cut skipped by {}: {}", s.by, s.reason),
                )
            })
    }

    /// Whether the schedule was paused at `at`, by its audit trail: a promote firing then
    /// did nothing on purpose, and is not made up for later.
    pub fn paused_at(&self, at: DateTime<Utc>) -> bool {
        let last = self
            .history
            .iter()
            .rfind(|r| r.at <= at && (r.action == "pause" || r.action == "resume"));
        match last {
            Some(r) => r.action == "pause",
            None => self.paused.as_ref().is_some_and(|p| p.at <= at),
        }
    }

    /// The controls with one more audit record and nothing else changed: for what the
    /// schedule did that a person should see (a firing that cut nothing new).
    #[must_use]
    pub fn noted(&self, by: &Actor, action: &str, reason: &Reason, now: DateTime<Utc>) -> Self {
        self.clone().recorded(by, action, reason, now)
    }

    fn recorded(mut self, by: &Actor, action: &str, reason: &Reason, now: DateTime<Utc>) -> Self {
        self.history.push(ScheduleRecord {
            at: now,
            actor: by.clone(),
            action: action.to_owned(),
            reason: reason.clone(),
        });
        if self.history.len() > KEPT {
            self.history.remove(0);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn pause_resume_and_skip_each_apply_once_and_say_why_otherwise() {
        let alice = Actor::parse("local:alice").unwrap();
        let why = Reason::parse("holiday week").unwrap();
        let now = t("2026-11-22T10:00:00Z");
        let c = ScheduleControls::default();
        assert!(
            c.resume(&alice, &why, now)
                .unwrap_err()
                .message
                .contains("not paused")
        );
        let paused = c.pause(&alice, &why, now).unwrap();
        assert!(
            paused
                .pause(&alice, &why, now)
                .unwrap_err()
                .message
                .contains("already paused")
        );
        let cut = t("2026-11-23T08:00:00Z");
        assert!(
            paused
                .skips_cut(cut)
                .unwrap()
                .1
                .contains("schedule paused by local:alice")
        );
        let resumed = paused.resume(&alice, &why, now).unwrap();
        assert_eq!(resumed.skips_cut(cut), None);

        let skipping = resumed.skip_next(&alice, &why, Some(cut), now).unwrap();
        assert!(
            skipping
                .skips_cut(cut)
                .unwrap()
                .1
                .contains("cut skipped by local:alice")
        );
        assert_eq!(
            skipping.skips_cut(t("2026-11-30T08:00:00Z")),
            None,
            "only that firing"
        );
        assert!(
            skipping
                .skip_next(&alice, &why, Some(cut), now)
                .unwrap_err()
                .message
                .contains("already skipped")
        );
        let actions: Vec<&str> = skipping.history.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["pause", "resume", "skip the cut at 2026-11-23 08:00:00 UTC"]
        );
    }
}
