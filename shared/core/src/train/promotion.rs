//! Moving the train on: staging wave by wave, the soak, promotion in waves with a bake
//! between them, and release.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Train {
    /// When this train next needs a [`Event::Tick`] without any outside event: the end of
    /// its soak, once promotion is due; the end of a bake, or of the freeze the next wave
    /// waits for.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        match &self.phase {
            Phase::Soaking { until, .. } if self.promotion_due.is_some() && self.hold.is_none() => {
                Some(*until)
            }
            Phase::Promoting { .. } if self.hold.is_none() => {
                let bake = self.bake.as_ref()?;
                let thaw = self.wave_freeze(bake.until).map(|hit| hit.until);
                Some(thaw.map_or(bake.until, |t| t.max(bake.until)))
            }
            _ => None,
        }
    }

    /// Whether the promote firing at `firing` deserves this train's heads-up: it soaks,
    /// unheld, no firing has made its promotion due yet, and it has not said so for this
    /// firing.
    pub fn wants_heads_up(&self, firing: DateTime<Utc>) -> bool {
        matches!(self.phase, Phase::Soaking { .. })
            && self.hold.is_none()
            && self.promotion_due.is_none()
            && self.heads_up != Some(firing)
    }

    /// The heads-up for the promote firing at `firing`, recorded (and so announced) once.
    pub(super) fn promotion_soon(
        &mut self,
        firing: DateTime<Utc>,
        now: DateTime<Utc>,
        before: State,
    ) {
        if !self.wants_heads_up(firing) {
            return;
        }
        self.heads_up = Some(firing);
        let shipping = self
            .components
            .values()
            .filter(|r| r.excluded.is_none())
            .count();
        let why = format!(
            "promotes at {} with {shipping} component{}; to stop it: trainctl hold {id} -r REASON, or trainctl cancel {id} -r REASON",
            self.local(firing),
            if shipping == 1 { "" } else { "s" },
            id = self.id
        );
        self.record(
            now,
            &Actor::promote_schedule(),
            PROMOTION_SOON,
            Some(why),
            before,
        );
    }

    /// The freeze in force at `at` for the start of a wave, unless the train is expedited
    /// through a freeze that allows it.
    pub(super) fn wave_freeze(&self, at: DateTime<Utc>) -> Option<FreezeHit> {
        self.policy
            .freezes
            .at(at)
            .filter(|hit| !(hit.allow_expedite && self.expedited.is_some()))
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
        self.void_stale_approvals(now);
        if self.phase == Phase::Building {
            self.start_staging_wave(now, effects);
        }
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
            if let Some(next) = self.first_wave_after(wave) {
                self.between_waves(wave, next, now, effects);
            } else {
                let before = self.state();
                self.release(now, effects, before);
            }
        }
        self.finish_rollback(now, effects);
    }

    /// Under `staging_order = "waves"`, starts the staging builds of the next wave once
    /// every staging build of the waves before it is green (a failed one under `halt` has
    /// failed the train; under `exclude` it no longer ships, so later waves go on).
    fn start_staging_wave(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        if self.policy.staging_order != StagingOrder::Waves {
            return;
        }
        let Some(next) = self
            .components
            .values()
            .filter(|r| r.ships() && r.staging.is_none())
            .map(|r| r.spec.wave)
            .min()
        else {
            return;
        };
        let earlier_green = self
            .components
            .values()
            .filter(|r| r.ships() && r.spec.wave < next)
            .all(|r| {
                r.staging
                    .as_ref()
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            });
        if !earlier_green {
            return;
        }
        let names: Vec<ComponentName> = self
            .components
            .iter()
            .filter(|(_, r)| r.ships() && r.staging.is_none() && r.spec.wave == next)
            .map(|(n, _)| n.clone())
            .collect();
        let before = self.state();
        let reason = format!(
            "every staging build before wave {next} is green; building {}",
            names
                .iter()
                .map(ComponentName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.record(
            now,
            &Actor::system(),
            &format!("staging wave {next}"),
            Some(reason),
            before,
        );
        for name in names {
            effects.push(self.request_build(&name, Stage::Staging, 1, now));
        }
    }

    /// Wave `wave` shipped: bake it (the longest `wave_bake` of its components, or the
    /// train's), then start `next` unless a hold, a freeze or a firing alarm stands in the
    /// way; each reason to wait is recorded once.
    fn between_waves(
        &mut self,
        wave: u32,
        next: u32,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) {
        let before = self.state();
        if self.bake.as_ref().is_none_or(|b| b.wave != wave) {
            let bake = self.bake_after(wave);
            let until = bake.map_or(now, |b| now + b.duration());
            let alarms: Vec<AlarmName> = self
                .components
                .values()
                .filter(|r| r.spec.wave == wave)
                .flat_map(|r| r.spec.wave_alarms.iter().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            self.bake = Some(Bake {
                wave,
                next,
                until,
                alarms,
                waiting: None,
            });
            if let Some(bake) = bake {
                let reason = format!(
                    "wave {wave} released ({}); baking {bake}: wave {next} at {} if no alarm fires",
                    self.wave_names(wave).join(", "),
                    self.local(until)
                );
                self.record(
                    now,
                    &Actor::system(),
                    &format!("baking wave {wave}"),
                    Some(reason),
                    before,
                );
            }
        }
        let bake = self.bake.clone().expect("set above");
        if now < bake.until {
            return;
        }
        let waiting = if let Some(h) = &self.hold {
            Some(format!(
                "wave {next} waits: held by {} ({})",
                h.by, h.reason
            ))
        } else if let Some(hit) = self.wave_freeze(now) {
            Some(format!(
                "wave {next} waits for freeze {:?} until {}",
                hit.window,
                self.local(hit.until)
            ))
        } else if !self.alarms_firing.is_empty() {
            let firing: Vec<&str> = self.alarms_firing.iter().map(AlarmName::as_str).collect();
            Some(format!(
                "wave {next} waits for alarm(s) to clear: {}",
                firing.join(", ")
            ))
        } else {
            None
        };
        if let Some(why) = waiting {
            if bake.waiting.as_deref() != Some(why.as_str()) {
                self.record(
                    now,
                    &Actor::system(),
                    "wave deferred",
                    Some(why.clone()),
                    before,
                );
                if let Some(b) = &mut self.bake {
                    b.waiting = Some(why);
                }
            }
            return;
        }
        self.bake = None;
        let reason = match self.bake_after(wave) {
            Some(span) => format!("wave {wave} released and baked {span} with no alarm"),
            None => format!("wave {wave} released"),
        };
        self.start_wave(Some(next), now, effects, before, reason);
    }

    /// How long wave `wave` bakes: the longest `wave_bake` of its components, else the
    /// train's; none for an expedited train when the policy lets it skip bakes.
    pub(super) fn bake_after(&self, wave: u32) -> Option<Span> {
        if self.expedited.is_some() && self.policy.expedite_skips_bake {
            return None;
        }
        self.components
            .values()
            .filter(|r| r.spec.wave == wave)
            .filter_map(|r| r.spec.wave_bake)
            .max()
            .or(self.policy.wave_bake)
    }

    fn wave_names(&self, wave: u32) -> Vec<&str> {
        self.components
            .iter()
            .filter(|(_, r)| r.ships() && r.spec.wave == wave)
            .map(|(n, _)| n.as_str())
            .collect()
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
