//! Moving the train on: the soak, promotion in waves, and release.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Train {
    /// When this train next needs a [`Event::Tick`] without any outside event: the end of
    /// its soak, once promotion is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        match &self.phase {
            Phase::Soaking { until, .. } if self.promotion_due.is_some() && self.hold.is_none() => {
                Some(*until)
            }
            _ => None,
        }
    }

    /// Builds that have been requested or are running, with their component.
    pub fn active_builds(&self, stage: Stage) -> impl Iterator<Item = (&ComponentName, &Build)> {
        self.components.iter().filter_map(move |(name, run)| {
            run.build(stage)
                .filter(|b| b.is_active())
                .map(|b| (name, b))
        })
    }

    /// Moves the train on by itself where it can: building to soaking, soaking to promoting,
    /// one wave to the next, the last wave to released.
    pub(super) fn advance(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        if self.phase == Phase::Building && self.all_shipping_done(Stage::Staging) {
            let before = self.state();
            let until = now + self.policy.soak.duration();
            self.phase = Phase::Soaking { since: now, until };
            let reason = format!(
                "every staging build is green; soak {} until {}",
                self.policy.soak,
                self.local(until)
            );
            self.record(now, &Actor::system(), "soak started", Some(reason), before);
            effects.push(Effect::WriteManifest {
                state: State::Soaking,
            });
        }
        if let Phase::Soaking { since, until } = self.phase.clone()
            && let Some(due) = self
                .promotion_due
                .or_else(|| self.expedited.as_ref().map(|e| e.at))
            && self.hold.is_none()
            && (now >= until || self.expedited.is_some())
            && self.approved()
            && self.alarms_firing.is_empty()
        {
            let before = self.state();
            if let Some(FreezeHit {
                window,
                until: thaw,
                allow_expedite,
            }) = self.policy.freezes.at(now)
                && !(allow_expedite && self.expedited.is_some())
            {
                self.deferred = self.promotion_due.take();
                let reason = format!(
                    "freeze {window:?} until {}; waiting for the first promote time after it",
                    self.local(thaw)
                );
                self.defer_promotion(Deferral::Freeze, reason, now, effects);
            } else {
                let reason = match &self.expedited {
                    Some(e) if now < until => format!(
                        "expedited by {} after {} of soak: {}",
                        e.by,
                        humanize(now - since),
                        e.reason
                    ),
                    _ => format!(
                        "soaked {}, promotion due since {}",
                        humanize(now - since),
                        self.local(due)
                    ),
                };
                effects.push(metric(
                    MetricName::SoakTime,
                    seconds(now - since),
                    Unit::Seconds,
                    &[],
                ));
                self.start_wave(self.first_wave_after(0), now, effects, before, reason);
            }
        }
        self.defer_on_gates(now, effects);
        if let Phase::Promoting { wave, .. } = self.phase
            && self.wave_done(wave)
        {
            let before = self.state();
            if let Some(next) = self.first_wave_after(wave) {
                let reason = format!("wave {wave} released");
                self.start_wave(Some(next), now, effects, before, reason);
            } else {
                self.release(now, effects, before);
            }
        }
        self.finish_rollback(now, effects);
    }

    /// The last wave is out: the train is released, with its delivery figures.
    pub(super) fn release(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>, before: State) {
        self.phase = Phase::Released { at: now };
        let shipped = self.components.values().filter(|r| r.ships()).count();
        let reason = format!("{shipped} of {} components released", self.components.len());
        self.record(now, &Actor::system(), "released", Some(reason), before);
        effects.push(metric(
            MetricName::TimeToRelease,
            seconds(now - self.cut_at),
            Unit::Seconds,
            &[],
        ));
        effects.push(metric(MetricName::Releases, 1.0, Unit::Count, &[]));
        if let Some(oldest) = self.oldest_commit_at() {
            effects.push(metric(
                MetricName::LeadTime,
                // A commit clock ahead of ours is no negative lead time.
                seconds(now - oldest).max(0.0),
                Unit::Seconds,
                &[],
            ));
        }
        if let Some(e) = &self.expedited {
            // An expedited train is a fix for what the last release broke.
            effects.push(metric(
                MetricName::ChangeFailures,
                1.0,
                Unit::Count,
                &[("Cause", "expedited_fix")],
            ));
            effects.push(metric(
                MetricName::TimeToRestore,
                seconds(now - e.at),
                Unit::Seconds,
                &[("Cause", "expedited_fix")],
            ));
        }
    }

    pub(super) fn start_wave(
        &mut self,
        wave: Option<u32>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
        before: State,
        reason: String,
    ) {
        let Some(wave) = wave else {
            self.fail("no component is left to promote".to_owned(), now, effects);
            return;
        };
        let since = match self.phase {
            Phase::Promoting { since, .. } => since,
            _ => now,
        };
        self.phase = Phase::Promoting { since, wave };
        self.record(
            now,
            &Actor::system(),
            &format!("promote wave {wave}"),
            Some(reason),
            before,
        );
        let names: Vec<ComponentName> = self
            .components
            .iter()
            .filter(|(_, r)| r.ships() && r.spec.wave == wave && r.pinned.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            effects.push(self.request_build(&name, Stage::Production, 1, now));
        }
    }

    pub(super) fn first_wave_after(&self, wave: u32) -> Option<u32> {
        self.components
            .values()
            .filter(|r| r.ships() && r.spec.wave > wave)
            .map(|r| r.spec.wave)
            .min()
    }

    pub(super) fn wave_done(&self, wave: u32) -> bool {
        self.components
            .values()
            .filter(|r| r.ships() && r.spec.wave == wave)
            .all(|r| {
                r.production
                    .as_ref()
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
    }

    pub(super) fn all_shipping_done(&self, stage: Stage) -> bool {
        let mut shipping = self.components.values().filter(|r| r.ships()).peekable();
        shipping.peek().is_some()
            && shipping.all(|r| {
                r.build(stage)
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
    }
}
