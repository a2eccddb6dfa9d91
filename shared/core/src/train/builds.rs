//! Build bookkeeping: requesting builds, recording starts and results, faults, and a failed
//! build's consequence under the failure policy.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Which build an event is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct BuildRef<'a> {
    pub component: &'a ComponentName,
    pub stage: Stage,
    pub attempt: u32,
    pub build_id: &'a BuildId,
}

/// How a build ended, as the train records it: a staging build that succeeded carries the
/// commit it built, which becomes the pin.
#[derive(Debug)]
pub(super) struct Ended {
    pub status: BuildStatus,
    pub detail: Option<String>,
    pub commit: Option<Commit>,
}

impl<'a> BuildRef<'a> {
    pub fn new(
        component: &'a ComponentName,
        stage: Stage,
        attempt: u32,
        build_id: &'a BuildId,
    ) -> Self {
        Self {
            component,
            stage,
            attempt,
            build_id,
        }
    }
}

impl Ended {
    fn failed(why: String) -> Self {
        Self {
            status: BuildStatus::Failed,
            detail: Some(why),
            commit: None,
        }
    }
}

impl Train {
    pub(super) fn request_build(
        &mut self,
        name: &ComponentName,
        stage: Stage,
        attempt: u32,
        now: DateTime<Utc>,
    ) -> Effect {
        let run = self
            .components
            .get_mut(name)
            .expect("caller passes a component of this train");
        let (target, revision) = match stage {
            Stage::Staging => (
                run.spec.staging.clone(),
                Revision::Branch(run.spec.branch.clone()),
            ),
            Stage::Production => {
                let pin = run
                    .rollback
                    .clone()
                    .or_else(|| run.pinned.clone())
                    .expect("production is requested only for pinned components");
                (run.spec.production.clone(), Revision::Commit(pin))
            }
        };
        let mut build = Build::requested(attempt, now);
        if let Revision::Commit(c) = &revision {
            build.commit = Some(c.clone());
        }
        match stage {
            Stage::Staging => run.staging = Some(build),
            Stage::Production => run.production = Some(build),
        }
        Effect::StartBuild(BuildRequest {
            train: self.id.clone(),
            component: name.clone(),
            stage,
            attempt,
            source: run.spec.source.clone(),
            revision,
            target,
            timeout: self.policy.build_timeout,
            idempotency_key: format!("{}/{}/{}/{}", self.id, name, stage, attempt),
            previous: run.previous.clone(),
            branch: Some(run.spec.branch.clone()),
        })
    }

    /// Records where the build's log is, once; a repeat changes nothing.
    pub(super) fn set_link(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        build_id: &BuildId,
        link: &str,
    ) {
        let build = self
            .components
            .get_mut(component)
            .and_then(|r| r.build_mut(stage));
        if let Some(build) =
            build.filter(|b| b.build_id.as_ref() == Some(build_id) && b.link.is_none())
        {
            build.link = Some(link.to_owned());
        }
    }

    pub(super) fn build_started(
        &mut self,
        at: BuildRef<'_>,
        commit: Option<&Commit>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let (component, stage, attempt, build_id) =
            (at.component, at.stage, at.attempt, at.build_id);
        let terminal = self.is_terminal();
        let run = self.run_mut(component)?;
        let pinned = run.rollback.clone().or_else(|| run.pinned.clone());
        let Some(build) = run.build_mut(stage).filter(|b| b.attempt == attempt) else {
            return Ok(());
        };
        if build.status != BuildStatus::Requested {
            return Ok(()); // a repeat, or the finish already arrived
        }
        build.status = BuildStatus::Running;
        build.build_id = Some(build_id.clone());
        build.started_at = Some(now);
        if stage == Stage::Staging {
            build.commit = commit.cloned();
        }
        let wrong_commit =
            stage == Stage::Production && commit.is_some() && commit != pinned.as_ref();
        if terminal || wrong_commit {
            // Started after the train ended (the start was already in the outbox), or a
            // builder that did not build the pin: stop it, never let it ship.
            effects.push(Effect::StopBuild {
                component: component.clone(),
                stage,
                build_id: build_id.clone(),
            });
        }
        if wrong_commit {
            let reason = format!(
                "production build of {component} ran {} but the train pinned {}",
                commit.map_or("?", Commit::short),
                pinned.as_ref().map_or("?", Commit::short)
            );
            return self.finish_build(component, stage, Ended::failed(reason), now, effects);
        }
        Ok(())
    }

    pub(super) fn build_finished(
        &mut self,
        at: BuildRef<'_>,
        outcome: &BuildOutcome,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let (component, stage, attempt, build_id) =
            (at.component, at.stage, at.attempt, at.build_id);
        let run = self.run_mut(component)?;
        let Some(build) = run.build_mut(stage).filter(|b| b.attempt == attempt) else {
            return Ok(());
        };
        if build.status.is_finished() || build.build_id.as_ref().is_some_and(|b| b != build_id) {
            return Ok(());
        }
        build.build_id = Some(build_id.clone());
        build.started_at.get_or_insert(now);
        let (status, detail, commit) = match outcome {
            BuildOutcome::Succeeded { commit } => {
                let commit = commit.clone().or_else(|| build.commit.clone());
                match (stage, commit) {
                    (Stage::Staging, None) => (
                        BuildStatus::Failed,
                        Some("staging build succeeded but reported no commit, so there is nothing to pin".to_owned()),
                        None,
                    ),
                    (_, commit) => (BuildStatus::Succeeded, None, commit),
                }
            }
            BuildOutcome::Failed { reason } => (BuildStatus::Failed, Some(reason.clone()), None),
            BuildOutcome::Stopped => (BuildStatus::Stopped, Some("stopped".to_owned()), None),
            BuildOutcome::Fault { reason } => {
                return self.build_faulted(component, stage, reason, now, effects);
            }
        };
        let ended = Ended {
            status,
            detail,
            commit,
        };
        self.finish_build(component, stage, ended, now, effects)
    }

    /// A build the build system failed: built again as a new attempt while the train still
    /// needs it, so a fault never excludes a component or halts a train by itself; after
    /// [`MAX_FAULTS`] in a row it fails, saying the build system failed.
    pub(super) fn build_faulted(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        reason: &str,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let before = self.state();
        let needed = matches!(
            (&self.phase, stage),
            (Phase::Building, Stage::Staging)
                | (
                    Phase::Promoting { .. } | Phase::RollingBack { .. },
                    Stage::Production
                )
        );
        let build = self
            .run_mut(component)?
            .build_mut(stage)
            .expect("checked by the caller");
        let (attempt, faults) = (build.attempt, build.faults + 1);
        if faults >= MAX_FAULTS || !needed {
            let detail = if needed {
                format!(
                    "the build system failed {faults} times in a row, not the code (last: {reason}); fix it, then retry"
                )
            } else {
                format!("the build system failed, not the code: {reason}")
            };
            build.faults = faults;
            return self.finish_build(component, stage, Ended::failed(detail), now, effects);
        }
        self.record(
            now,
            &Actor::system(),
            &format!("{stage} build of {component} faulted"),
            Some(format!(
                "the build system failed, not the code ({faults} of {MAX_FAULTS}): {reason}; building again"
            )),
            before,
        );
        effects.push(self.request_build(component, stage, attempt + 1, now));
        if let Some(build) = self
            .components
            .get_mut(component)
            .and_then(|r| r.build_mut(stage))
        {
            build.faults = faults;
        }
        Ok(())
    }

    pub(super) fn finish_build(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        Ended {
            status,
            detail,
            commit,
        }: Ended,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let before = self.state();
        let policy = self.policy.on_component_failure;
        let run = self.run_mut(component)?;
        let (source, previous) = (run.spec.source.clone(), run.previous.clone());
        let build = run.build_mut(stage).expect("checked by the caller");
        build.status = status;
        build.finished_at = Some(now);
        build.detail.clone_from(&detail);
        let pin = stage == Stage::Staging && status == BuildStatus::Succeeded;
        if pin {
            build.commit.clone_from(&commit);
        }
        let staging_build = build.build_id.clone();
        if pin && let Some(to) = &commit {
            effects.push(Effect::ReadChangelog {
                component: component.clone(),
                source,
                from: previous,
                to: to.clone(),
                build: staging_build,
            });
        }
        let seconds = build.started_at.map_or(0.0, |s| seconds(now - s));
        if pin {
            run.pinned.clone_from(&commit);
        }
        effects.push(metric(
            MetricName::BuildDuration,
            seconds,
            Unit::Seconds,
            &[
                ("Component", component.as_str()),
                ("Stage", &stage.to_string()),
            ],
        ));
        let action = format!("{stage} build of {component} {}", status.as_str());
        if status != BuildStatus::Succeeded {
            effects.push(metric(
                MetricName::BuildFailures,
                1.0,
                Unit::Count,
                &[
                    ("Component", component.as_str()),
                    ("Stage", &stage.to_string()),
                ],
            ));
        }
        let note = match (&detail, &commit) {
            (None, Some(c)) => Some(format!("at {}", c.short())),
            _ => detail.clone(),
        };
        self.record(now, &Actor::system(), &action, note, before);

        if status != BuildStatus::Succeeded && matches!(self.phase, Phase::RollingBack { .. }) {
            // A rollback that cannot finish needs a person whatever the policy says.
            let why = format!(
                "rollback build of {component} {}: {}",
                status.as_str(),
                detail.unwrap_or_default()
            );
            self.fail(why, now, effects);
            return Ok(());
        }
        let in_this_phase = matches!(
            (&self.phase, stage),
            (Phase::Building, Stage::Staging) | (Phase::Promoting { .. }, Stage::Production)
        );
        if status != BuildStatus::Succeeded && in_this_phase {
            let why = format!(
                "{stage} build of {component} {}: {}",
                status.as_str(),
                detail.unwrap_or_default()
            );
            match policy {
                FailurePolicy::Halt => self.fail(why, now, effects),
                FailurePolicy::Exclude => {
                    let run = self.components.get_mut(component).expect("exists");
                    run.excluded = Some(why.clone());
                    let before = self.state();
                    self.record(
                        now,
                        &Actor::system(),
                        &format!("excluded {component}"),
                        Some(why),
                        before,
                    );
                    if self.components.values().all(|r| !r.ships()) {
                        let why = self.why_nothing_ships(stage);
                        self.fail(why, now, effects);
                    }
                }
            }
        }
        Ok(())
    }

    /// Why a train every component of which is excluded fails. Faults are the build
    /// system's: a train none of whose code failed does not say its components did.
    pub(super) fn why_nothing_ships(&self, stage: Stage) -> String {
        let faulted = self
            .components
            .values()
            .all(|r| r.build(stage).is_some_and(|b| b.faults >= MAX_FAULTS));
        if faulted {
            format!(
                "every build faulted {MAX_FAULTS} times in a row: the build system failed, not the code; fix it, then retry"
            )
        } else {
            "every component failed".to_owned()
        }
    }

    pub(super) fn fail(&mut self, reason: String, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        let before = self.state();
        if self.phase == Phase::Building {
            self.stop_active(Stage::Staging, effects);
        }
        self.phase = Phase::Failed {
            at: now,
            reason: reason.clone(),
        };
        self.record(now, &Actor::system(), "failed", Some(reason), before);
        effects.push(metric(MetricName::TrainsFailed, 1.0, Unit::Count, &[]));
    }

    pub(super) fn stop_active(&self, stage: Stage, effects: &mut Vec<Effect>) {
        for (name, build) in self.active_builds(stage) {
            if let Some(id) = &build.build_id {
                effects.push(Effect::StopBuild {
                    component: name.clone(),
                    stage,
                    build_id: id.clone(),
                });
            }
        }
    }
}
