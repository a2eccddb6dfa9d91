//! Rollback of a released train to what the previous release shipped, and what a train
//! shipped.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Train {
    pub(super) fn rollback(
        &mut self,
        act: Act<'_>,
        to: &TrainId,
        pins: &BTreeMap<ComponentName, Commit>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        match &self.phase {
            Phase::Released { .. } => {}
            Phase::Promoting { .. } => {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is still promoting; roll back once it is released (or retry the failed components)",
                        self.id
                    ),
                );
            }
            Phase::RollingBack { to, .. } => {
                return reject(
                    RejectionKind::NotNow,
                    format!("train {} is already rolling back to {to}", self.id),
                );
            }
            _ => {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is {}; only a released train can be rolled back",
                        self.id,
                        self.state()
                    ),
                );
            }
        }
        let back: Vec<(ComponentName, Commit, u32)> = self
            .components
            .iter()
            .filter(|(_, r)| r.ships())
            .filter_map(|(name, run)| {
                let previous = pins.get(name)?;
                let shipped = run.production.as_ref()?;
                (shipped.commit.as_ref() != Some(previous))
                    .then(|| (name.clone(), previous.clone(), shipped.attempt))
            })
            .collect();
        if back.is_empty() {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} shipped the same commits as {to} (or only new components); nothing to roll back",
                    self.id
                ),
            );
        }
        self.phase = Phase::RollingBack {
            since: now,
            to: to.clone(),
        };
        let names: Vec<String> = back
            .iter()
            .map(|(n, c, _)| format!("{n} to {}", c.short()))
            .collect();
        self.record(
            now,
            by,
            &format!("rollback to {to}: {}", names.join(", ")),
            Some(reason.to_string()),
            before,
        );
        effects.push(metric(
            MetricName::ChangeFailures,
            1.0,
            Unit::Count,
            &[("Cause", "rollback")],
        ));
        for (name, commit, attempt) in back {
            if let Some(run) = self.components.get_mut(&name) {
                run.rollback = Some(commit);
            }
            effects.push(self.request_build(&name, Stage::Production, attempt + 1, now));
        }
        Ok(())
    }

    /// The commit each component's production runs after this train: what rollback targets.
    pub fn shipped(&self) -> BTreeMap<ComponentName, Commit> {
        self.components
            .iter()
            .filter_map(|(name, run)| {
                let build = run.production.as_ref()?;
                (build.status == BuildStatus::Succeeded)
                    .then(|| build.commit.clone())
                    .flatten()
                    .map(|c| (name.clone(), c))
            })
            .collect()
    }

    /// A rollback ends when every rolled-back component's production build succeeded.
    pub(super) fn finish_rollback(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        if let Phase::RollingBack { since, to } = self.phase.clone()
            && self.components.values().all(|r| {
                r.rollback.is_none()
                    || r.production
                        .as_ref()
                        .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
        {
            let before = self.state();
            let back = self
                .components
                .values()
                .filter(|r| r.rollback.is_some())
                .count();
            self.phase = Phase::RolledBack {
                at: now,
                to: to.clone(),
            };
            let reason = format!("{back} component(s) back on the commits of {to}");
            self.record(now, &Actor::system(), "rolled back", Some(reason), before);
            effects.push(metric(MetricName::Rollbacks, 1.0, Unit::Count, &[]));
            effects.push(metric(
                MetricName::TimeToRestore,
                seconds(now - since),
                Unit::Seconds,
                &[("Cause", "rollback")],
            ));
        }
    }
}

impl Train {
    /// The release a rollback of this train returns to, among `trains`: the newest released
    /// train of the same name cut before this one.
    pub fn rollback_target<'a>(
        &self,
        trains: impl IntoIterator<Item = &'a Train>,
    ) -> Option<&'a Train> {
        trains
            .into_iter()
            .filter(|t| {
                t.name == self.name && t.state() == State::Released && t.cut_at < self.cut_at
            })
            .max_by_key(|t| t.cut_at)
    }

    /// What production runs for each component before a cut at `before`, from `trains`:
    /// the commit the newest ended train cut before then shipped (released, rolled back, or
    /// stopped after some waves shipped: those components run the new commit all the same).
    pub fn shipped_before<'a>(
        trains: impl IntoIterator<Item = &'a Train>,
        before: DateTime<Utc>,
    ) -> BTreeMap<ComponentName, Commit> {
        let mut ended: Vec<&Train> = trains
            .into_iter()
            .filter(|t| t.cut_at < before && t.is_terminal())
            .collect();
        ended.sort_by_key(|t| std::cmp::Reverse(t.cut_at));
        let mut shipped = BTreeMap::new();
        for train in ended {
            for (component, commit) in train.shipped() {
                shipped.entry(component).or_insert(commit);
            }
        }
        shipped
    }
}
