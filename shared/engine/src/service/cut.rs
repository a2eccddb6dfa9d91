//! Cuts: a scheduled firing or a person's ad-hoc cut, the release each component runs
//! before it, and the older trains it supersedes; a firing that finds its train already cut
//! says so.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Engine {
    /// Handles one delivery of the cut firing at `scheduled`. A repeat is a no-op.
    pub async fn cut(
        &self,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Cut, EngineError> {
        self.cut_firing(scheduled, now, false).await
    }

    /// The cut of the firing at `scheduled` by a later pass, because its delivery never
    /// came (`service/catchup.rs`); the same as a delivery, with a cut record that says so.
    /// A delivery arriving after all finds the train already cut.
    pub async fn cut_late(
        &self,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Cut, EngineError> {
        self.cut_firing(scheduled, now, true).await
    }

    async fn cut_firing(
        &self,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        late: bool,
    ) -> Result<Cut, EngineError> {
        let (controls, _) = self.ports.store.controls(&self.config.train.name).await?;
        let previous = self.last_shipped(scheduled).await?;
        let skip = controls.skips_cut(scheduled);
        let transition = if late {
            Train::cut_late(&self.config, scheduled, now, &previous, skip)
        } else {
            Train::cut_after(&self.config, scheduled, now, &previous, skip)
        };
        self.insert_cut(transition, Some(scheduled), now).await
    }

    /// A train cut now by a person, outside the schedule (a hotfix, a trial): the same path
    /// as a scheduled cut, with an id no schedule produces. It supersedes older trains that
    /// have not started promoting, as every newer cut does.
    pub async fn cut_adhoc(
        &self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<Cut, EngineError> {
        let previous = self.last_shipped(now).await?;
        let transition = Train::cut_adhoc(&self.config, now, &previous, by, reason);
        self.insert_cut(transition, None, now).await
    }

    pub(super) async fn insert_cut(
        &self,
        transition: Transition,
        scheduled: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Cut, EngineError> {
        let id = transition.train.id.clone();
        match self.ports.store.insert(&transition).await? {
            Inserted::AlreadyExists => {
                debug!(train = %id, "cut already happened");
                let stored = self.ports.store.load(&id).await?;
                // A repeat of a fresh cut (deliveries racing) leaves the effects to the
                // delivery that made it, so events and metrics are not sent twice; what an
                // interrupted one left behind is finished here once it is no longer fresh,
                // or by the next reconcile pass.
                let fresh = stored.as_ref().is_some_and(|s| {
                    s.train
                        .history
                        .last()
                        .is_some_and(|r| now - r.at < chrono::Duration::seconds(FRESH_SECONDS))
                });
                if !fresh {
                    self.settle(&id, self.ports.store.pending(&id).await?, now)
                        .await;
                }
                if let (Some(scheduled), Some(existing)) = (scheduled, stored.as_ref())
                    && (!fresh || existing.train.cut_at != scheduled)
                {
                    self.note_cut_that_changed_nothing(scheduled, &existing.train, now)
                        .await;
                }
                Ok(Cut::AlreadyCut(
                    stored.map_or(transition.train, |s| s.train),
                ))
            }
            Inserted::Created => {
                info!(train = %id, state = %transition.train.state(), "train cut");
                if !transition.train.is_terminal() {
                    self.supersede_older(&transition.train, now).await?;
                }
                self.settle(&id, transition.effects.clone(), now).await;
                Ok(Cut::Created(transition.train))
            }
        }
    }

    /// A cut firing whose train already exists (a firing delivered again later, or another
    /// firing in the same id period, e.g. a second trial run in one week) changes nothing;
    /// the schedule's audit trail says so, once per firing, so nobody waits for a train
    /// that will not come. Best effort: the train itself is already safe.
    pub(super) async fn note_cut_that_changed_nothing(
        &self,
        scheduled: DateTime<Utc>,
        existing: &Train,
        now: DateTime<Utc>,
    ) {
        let action = format!("cut at {scheduled} changed nothing");
        let reason = format!(
            "train {} already exists (cut at {}, now {}); one train per {}: to start another now, trainctl cut -r REASON (POST /trains)",
            existing.id,
            existing.local(existing.cut_at),
            existing.state(),
            self.config.train.id_style.period(),
        );
        let Ok(reason) = Reason::parse(&reason) else {
            return;
        };
        let cutter = Actor::cut_schedule();
        let name = &self.config.train.name;
        for _ in 0..MAX_CONFLICTS {
            let Ok((controls, version)) = self.ports.store.controls(name).await else {
                return;
            };
            if controls.history.iter().any(|r| r.action == action) {
                return;
            }
            let next = controls.noted(&cutter, &action, &reason, now);
            match self.ports.store.set_controls(name, &next, version).await {
                Ok(Saved::Committed(_)) => {
                    warn!(train = %existing.id, %scheduled, "cut firing changed nothing: the train already exists");
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "could not note a cut that changed nothing");
                    return;
                }
            }
        }
    }

    /// What production runs for each component before a cut at `before`: the newest
    /// commit a released (or rolled back) train of this name shipped.
    pub(super) async fn last_shipped(
        &self,
        before: DateTime<Utc>,
    ) -> Result<
        std::collections::BTreeMap<train_core::ComponentName, train_core::Commit>,
        EngineError,
    > {
        // The last few trains nearly always hold every component's release; the deeper
        // look (each listed train is read whole) only when one is missing.
        let mut shipped = std::collections::BTreeMap::new();
        for limit in [RECENT_TRAINS, 100] {
            let query = ListQuery {
                name: Some(self.config.train.name.clone()),
                state: None,
                limit,
            };
            let trains = self.ports.store.list(&query).await?;
            shipped = Train::shipped_before(&trains, before);
            let complete = self
                .config
                .components
                .iter()
                .all(|c| shipped.contains_key(&c.name));
            if complete || trains.len() < limit {
                break;
            }
        }
        Ok(shipped)
    }

    /// A new cut replaces older trains of the same name that have not started promoting:
    /// they would otherwise ship older commits after the new train.
    pub(super) async fn supersede_older(
        &self,
        new: &Train,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let reason = Reason::parse(&format!("superseded by {}", new.id)).expect("short reason");
        for id in self.ports.store.unsettled().await? {
            let Some(old) = self.ports.store.load(&id).await?.map(|s| s.train) else {
                continue;
            };
            if new.supersedes(&old) {
                let event = Event::Cancel {
                    by: Actor::system(),
                    reason: reason.clone(),
                };
                if let Applied::Rejected(r) = self.apply(&old.id, &event, now).await? {
                    info!(train = %old.id, reason = %r, "older train not superseded");
                }
            }
        }
        Ok(())
    }
}
