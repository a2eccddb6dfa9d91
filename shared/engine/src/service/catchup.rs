//! Firings that were never delivered, made up for by the reconcile pass (the rules are the
//! core's, [`train_core::catchup`]): the latest cut firing with no train is cut late while
//! its window lasts and noted as missed after; the latest promote firing is treated as
//! delivered for the trains that still wait for it. Every step is safe to race: a late cut
//! and a late delivery insert the same train id conditionally (one wins, the other is
//! `already_cut`), a promote firing a train already heard changes nothing, and a missed
//! firing is noted once under the schedule controls' version. Each firing is answered for
//! once (`cut_checked`, `promote_checked` in the controls), so a pass that owes nothing
//! costs one read.

#[allow(clippy::wildcard_imports)]
use super::*;
use train_core::catchup::CutOwed;
use train_core::train::Announcement;

/// What one catch-up pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaughtUp {
    /// The train of a cut firing that was not delivered, and whether this pass cut it
    /// (`false`: a racing pass or a late delivery did).
    pub cut: Option<(TrainId, bool)>,
    /// A cut firing too old to make up for, noted by this pass.
    pub missed: Option<DateTime<Utc>>,
    /// Trains that had not heard the latest promote firing when this pass read them (a
    /// racing pass may have delivered it first: each train hears a firing once).
    pub promotions: Vec<TrainId>,
}

impl Engine {
    /// Makes up for the schedules' firings whose delivery never came, as of `now`.
    pub async fn catch_up(&self, now: DateTime<Utc>) -> Result<CaughtUp, EngineError> {
        let mut done = CaughtUp::default();
        let (controls, _) = self.ports.store.controls(&self.config.train.name).await?;
        let Some(since) = controls.watched_since else {
            // The first pass starts watching: firings before now are not this
            // deployment's to make up for.
            self.mark(|c| {
                c.watched_since.get_or_insert(now);
            })
            .await?;
            return Ok(done);
        };
        let settings = &self.config.train;
        if let Some(owed) = settings.cut_owed(since, now)
            && controls.cut_checked != Some(owed.firing())
        {
            let id = settings.train_id(owed.firing());
            if self.ports.store.load(&id).await?.is_none() {
                match owed {
                    CutOwed::Cut(firing) => {
                        warn!(train = %id, %firing, "cut firing was not delivered: cutting it late");
                        done.cut = Some(match self.cut_late(firing, now).await? {
                            Cut::Created(t) => (t.id, true),
                            Cut::AlreadyCut(t) => (t.id, false),
                        });
                    }
                    CutOwed::Missed { firing, until } => {
                        if self.note_missed(&id, firing, until, now).await? {
                            done.missed = Some(firing);
                        }
                    }
                }
            }
            let firing = owed.firing();
            self.mark(|c| c.cut_checked = Some(firing)).await?;
        }
        if let Some(firing) = settings.promote_owed(since, now)
            && controls.promote_checked != Some(firing)
        {
            // A firing while the schedule was paused did nothing on purpose.
            if !controls.paused_at(firing) && controls.paused.is_none() {
                done.promotions = self.promotions_owed(firing, now).await?;
            }
            self.mark(|c| c.promote_checked = Some(firing)).await?;
        }
        Ok(done)
    }

    /// A cut firing found too old to cut (`CutOwed::Missed`), e.g. by local mode's runner
    /// after downtime: noted as missed unless its train exists. Whether this call noted it.
    pub async fn cut_missed(
        &self,
        firing: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let id = self.config.train.train_id(firing);
        if self.ports.store.load(&id).await?.is_some() {
            return Ok(false);
        }
        self.note_missed(&id, firing, until, now).await
    }

    /// A promote firing delivered late (local mode's runner after downtime): treated as
    /// delivered for the trains that have not heard it, unless the schedule is paused.
    pub async fn promotion_late(
        &self,
        firing: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TrainId>, EngineError> {
        let (controls, _) = self.ports.store.controls(&self.config.train.name).await?;
        if controls.paused.is_some() || controls.paused_at(firing) {
            return Ok(Vec::new());
        }
        self.promotions_owed(firing, now).await
    }

    /// Treats the promote firing at `firing` as delivered for every train that has not
    /// heard it.
    async fn promotions_owed(
        &self,
        firing: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TrainId>, EngineError> {
        let mut owed = Vec::new();
        for id in self.ports.store.unsettled().await? {
            let Some(stored) = self.ports.store.load(&id).await? else {
                continue;
            };
            if !stored.train.owes_promotion(firing) {
                continue;
            }
            warn!(train = %id, %firing, "promote firing was not delivered: treating it as delivered");
            // The alarms as they are at the moment the promotion could start.
            self.sync_alarms(&id, &stored.train, now).await?;
            let event = Event::PromotionOwed { scheduled: firing };
            if let Applied::Done(_) = self.apply(&id, &event, now).await? {
                owed.push(id);
            }
        }
        Ok(owed)
    }

    /// Changes the schedule controls' catch-up marks, re-read and written conditionally.
    async fn mark(&self, change: impl Fn(&mut ScheduleControls)) -> Result<(), EngineError> {
        let name = &self.config.train.name;
        for _ in 0..MAX_CONFLICTS {
            let (mut controls, version) = self.ports.store.controls(name).await?;
            change(&mut controls);
            if let Saved::Committed(_) = self
                .ports
                .store
                .set_controls(name, &controls, version)
                .await?
            {
                return Ok(());
            }
        }
        Err(EngineError::ScheduleContention)
    }

    /// Notes once, on the schedule's audit trail, that the cut firing at `firing` was never
    /// delivered and is now too old to cut; announces it and counts it. Whether this pass
    /// noted it (a racing pass may have).
    async fn note_missed(
        &self,
        id: &TrainId,
        firing: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let zone = self.config.train.zone;
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z");
        let action = format!("cut firing at {firing} missed");
        let why = format!(
            "the cut firing at {} was not delivered and its catch-up window ended at {}: no train {id}; trainctl cut -r REASON starts one now",
            local(firing),
            local(until)
        );
        let reason = Reason::parse(&why).map_err(|e| PortError::fatal(e.0))?;
        let cutter = Actor::cut_schedule();
        let name = &self.config.train.name;
        for _ in 0..MAX_CONFLICTS {
            let (controls, version) = self.ports.store.controls(name).await?;
            if controls.history.iter().any(|r| r.action == action) {
                return Ok(false);
            }
            let next = controls.noted(&cutter, &action, &reason, now);
            if let Saved::Committed(_) = self.ports.store.set_controls(name, &next, version).await?
            {
                warn!(train = %id, %firing, "cut firing missed");
                let announcement = Announcement {
                    train: id.clone(),
                    from: None,
                    to: State::Skipped,
                    actor: cutter.clone(),
                    reason: Some(why.clone()),
                    at: now,
                    captain: None,
                    action: Some("firing missed".to_owned()),
                    excluded: std::collections::BTreeMap::new(),
                };
                // Best effort, like every announcement: the note is committed.
                if let Err(e) = self.ports.events.publish(&announcement).await {
                    warn!(error = %e, "could not announce a missed firing");
                }
                let metric = train_core::catchup::missed_metric();
                if let Err(e) = self.ports.metrics.emit(id, &metric, now).await {
                    warn!(error = %e, "could not count a missed firing");
                }
                return Ok(true);
            }
        }
        Err(EngineError::ScheduleContention)
    }
}
