//! What stops a promotion: holds, alarms, freezes and approvals, and the deferral of a
//! due promotion with its cause.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Train {
    /// Why this train is not promoting now (empty when it is promoting or could).
    pub fn blockers(&self, now: DateTime<Utc>) -> Vec<Blocker> {
        let mut out = Vec::new();
        if let (Phase::Promoting { .. }, Some(bake)) = (&self.phase, &self.bake) {
            return self.wave_blockers(bake, now);
        }
        if !matches!(self.phase, Phase::Building | Phase::Soaking { .. }) {
            return out;
        }
        if let Some(h) = &self.hold {
            out.push(Blocker::Held {
                by: h.by.clone(),
                reason: h.reason.clone(),
            });
        }
        match &self.phase {
            Phase::Building => {
                let running = self.active_builds(Stage::Staging).count();
                out.push(Blocker::StagingBuilds { running });
            }
            Phase::Soaking { until, .. } if now < *until && self.expedited.is_none() => {
                out.push(Blocker::Soak { until: *until });
            }
            _ => {}
        }
        if let Some(FreezeHit {
            window,
            until,
            allow_expedite,
        }) = self.policy.freezes.at(now)
            && !(allow_expedite && self.expedited.is_some())
        {
            out.push(Blocker::Frozen { window, until });
        }
        if !self.alarms_firing.is_empty() {
            out.push(Blocker::Alarms {
                firing: self.alarms_firing.iter().cloned().collect(),
            });
        }
        if self.promotion_due.is_none() && self.expedited.is_none() {
            out.push(Blocker::AwaitingPromoteTime);
        }
        if !self.approved() {
            out.push(Blocker::Approvals {
                have: u32::try_from(self.approvals.len()).unwrap_or(u32::MAX),
                need: self.policy.approvals,
            });
        }
        out
    }

    /// What the next production wave waits for: the bake, then holds, freezes and alarms.
    fn wave_blockers(&self, bake: &Bake, now: DateTime<Utc>) -> Vec<Blocker> {
        let mut out = Vec::new();
        if now < bake.until {
            out.push(Blocker::Baking {
                wave: bake.wave,
                next: bake.next,
                until: bake.until,
            });
        }
        if let Some(h) = &self.hold {
            out.push(Blocker::Held {
                by: h.by.clone(),
                reason: h.reason.clone(),
            });
        }
        if let Some(FreezeHit { window, until, .. }) = self.wave_freeze(now.max(bake.until)) {
            out.push(Blocker::Frozen { window, until });
        }
        if !self.alarms_firing.is_empty() {
            out.push(Blocker::Alarms {
                firing: self.alarms_firing.iter().cloned().collect(),
            });
        }
        out
    }

    /// The alarms that gate this train now: the gating alarms before promotion and while
    /// waves remain, plus the shipped wave's `wave_alarms` during its bake.
    pub fn watched_alarms(&self) -> Vec<AlarmName> {
        let mut names = match &self.phase {
            Phase::Building | Phase::Soaking { .. } => self.policy.alarms.clone(),
            Phase::Promoting { wave, .. } if self.first_wave_after(*wave).is_some() => {
                self.policy.alarms.clone()
            }
            _ => return Vec::new(),
        };
        if let (Phase::Promoting { .. }, Some(bake)) = (&self.phase, &self.bake) {
            for a in &bake.alarms {
                if !names.contains(a) {
                    names.push(a.clone());
                }
            }
        }
        names
    }

    /// What an alarm entering ALARM during promotion does to the waves not yet started.
    fn alarm_between_waves(&self, alarm: &AlarmName) -> Option<String> {
        let Phase::Promoting { wave, .. } = self.phase else {
            return None;
        };
        let next = self.first_wave_after(wave)?;
        let during = match &self.bake {
            Some(b) => format!("the bake of wave {}", b.wave),
            None => format!("wave {wave}"),
        };
        let shipped: Vec<String> = self
            .components
            .iter()
            .filter(|(_, r)| {
                r.production
                    .as_ref()
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
            .map(|(n, _)| n.to_string())
            .collect();
        let shipped = if shipped.is_empty() {
            "nothing shipped yet".to_owned()
        } else {
            format!("shipped: {}", shipped.join(", "))
        };
        Some(format!(
            "alarm {alarm} is in ALARM during {during} ({shipped}); wave {next} and later"
        ))
    }

    /// The alarm gate. An alarm entering ALARM before promotion holds the train (actor
    /// `alarm:NAME`) or cancels it, as the policy says; when the alarm is OK again its hold
    /// lifts, and the soak may start over. Alarms the configuration does not name are not
    /// gates. A `missing` alarm blocks like one in ALARM but never cancels: a typo in the
    /// configuration is no reason to cancel a train.
    pub(super) fn alarm_changed(
        &mut self,
        alarm: &AlarmName,
        firing: bool,
        missing: bool,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) {
        if !self.watched_alarms().contains(alarm) || self.alarms_firing.contains(alarm) == firing {
            return;
        }
        let Ok(actor) = Actor::parse(&format!("alarm:{alarm}")) else {
            return;
        };
        let before = self.state();
        let between_waves = if firing {
            self.alarm_between_waves(alarm)
        } else {
            None
        };
        let open = matches!(self.phase, Phase::Building | Phase::Soaking { .. })
            || between_waves.is_some();
        if firing {
            self.alarms_firing.insert(alarm.clone());
            let why = if missing {
                format!(
                    "alarm:{alarm} (not found): CloudWatch has no alarm of this name; create it or fix train.alarms in release-train.toml"
                )
            } else {
                match (&between_waves, self.policy.on_alarm) {
                    (Some(w), AlarmPolicy::Cancel) => format!("{w} are stopped"),
                    (Some(w), AlarmPolicy::Hold) => format!("{w} wait until it is OK"),
                    (None, _) => format!("alarm {alarm} is in ALARM"),
                }
            };
            let Ok(reason) = Reason::parse(&why) else {
                return;
            };
            match (open, self.policy.on_alarm) {
                (true, AlarmPolicy::Cancel) if !missing => {
                    self.stop_active(Stage::Staging, effects);
                    self.phase = Phase::Cancelled {
                        at: now,
                        by: actor.clone(),
                        reason,
                    };
                    self.record(now, &actor, "cancel", Some(why), before);
                    effects.push(metric(
                        MetricName::Cancellations,
                        1.0,
                        Unit::Count,
                        &[("Cause", "alarm")],
                    ));
                }
                (true, AlarmPolicy::Hold) if self.hold.is_none() => {
                    self.hold = Some(Hold {
                        by: actor.clone(),
                        reason,
                        at: now,
                    });
                    self.record(now, &actor, "hold", Some(why), before);
                    effects.push(metric(
                        MetricName::Holds,
                        1.0,
                        Unit::Count,
                        &[("Cause", "alarm")],
                    ));
                }
                _ => {
                    self.record(now, &actor, "alarm", Some(why), before);
                }
            }
        } else {
            self.alarms_firing.remove(alarm);
            let why = format!("alarm {alarm} is OK again");
            if self.hold.as_ref().is_some_and(|h| h.by == actor) && self.alarms_firing.is_empty() {
                self.hold = None;
                self.record(now, &actor, "resume", Some(why), before);
                if self.policy.restart_soak_after_alarm
                    && let Phase::Soaking { .. } = self.phase
                {
                    let until = now + self.policy.soak.duration();
                    self.phase = Phase::Soaking { since: now, until };
                    let reason = format!(
                        "soak restarted after alarm {alarm}; until {}",
                        self.local(until)
                    );
                    let state = self.state();
                    self.record(now, &Actor::system(), "soak restarted", Some(reason), state);
                }
            } else {
                self.record(now, &actor, "alarm cleared", Some(why), before);
            }
        }
    }

    /// A promotion that is due but waits for approvals or a firing alarm is recorded once
    /// per gate, so the history and the metrics say why the train did not move.
    pub(super) fn defer_on_gates(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        let Phase::Soaking { until, .. } = self.phase else {
            return;
        };
        let due = self.promotion_due.is_some() || self.expedited.is_some();
        if !due || self.hold.is_some() || (now < until && self.expedited.is_none()) {
            return;
        }
        let mut waiting = Vec::new();
        if !self.approved() {
            waiting.push((
                Deferral::Approval,
                format!(
                    "promotion due, waiting for approvals ({} of {})",
                    self.approvals.len(),
                    self.policy.approvals
                ),
            ));
        }
        if !self.alarms_firing.is_empty() {
            let firing: Vec<&str> = self.alarms_firing.iter().map(AlarmName::as_str).collect();
            waiting.push((
                Deferral::Alarm,
                format!(
                    "promotion due, waiting for alarm(s) to clear: {}",
                    firing.join(", ")
                ),
            ));
        }
        for (cause, reason) in waiting {
            if self.deferred_for.insert(cause) {
                self.defer_promotion(cause, reason, now, effects);
            }
        }
    }

    /// Records why a due promotion waits, tells the bus, and counts it by cause.
    pub(super) fn defer_promotion(
        &mut self,
        cause: Deferral,
        reason: String,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) {
        let state = self.state();
        self.record(
            now,
            &Actor::system(),
            "promotion deferred",
            Some(reason),
            state,
        );
        effects.push(metric(
            MetricName::PromotionsDeferred,
            1.0,
            Unit::Count,
            &[("Cause", cause.as_str())],
        ));
    }
}
