//! The operators' commands: cancel, hold, resume, expedite, approve and retry, each
//! applying in some states and refused with why in the others.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Who asks for an operator command, why, and when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Act<'a> {
    pub by: &'a Actor,
    pub reason: &'a Reason,
    pub now: DateTime<Utc>,
}

impl Train {
    pub(super) fn cancel(
        &mut self,
        act: Act<'_>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        match &self.phase {
            Phase::Building | Phase::Soaking { .. } => {}
            Phase::Promoting { since, .. } => {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is already promoting (since {}): its production builds have started, so cancel no longer applies; let it finish, then roll back",
                        self.id,
                        self.local(*since)
                    ),
                );
            }
            _ => return reject(RejectionKind::NotNow, self.ended_message("cancel")),
        }
        self.stop_active(Stage::Staging, effects);
        self.phase = Phase::Cancelled {
            at: now,
            by: by.clone(),
            reason: reason.clone(),
        };
        self.record(now, by, "cancel", Some(reason.to_string()), before);
        effects.push(metric(
            MetricName::Cancellations,
            1.0,
            Unit::Count,
            &[(
                "Cause",
                if *by == Actor::system() {
                    "superseded"
                } else {
                    "person"
                },
            )],
        ));
        Ok(())
    }

    pub(super) fn hold(
        &mut self,
        act: Act<'_>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        if let Some(h) = &self.hold {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} is already held by {} since {}: {}; resume it first",
                    self.id,
                    h.by,
                    self.local(h.at),
                    h.reason
                ),
            );
        }
        match self.phase {
            Phase::Building | Phase::Soaking { .. } => {}
            // Between waves a hold stops the next wave from starting; the running one ends.
            Phase::Promoting { wave, .. } if self.first_wave_after(wave).is_some() => {}
            Phase::Promoting { wave, .. } => {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is promoting its last wave ({wave}); a hold only blocks a wave that has not started",
                        self.id
                    ),
                );
            }
            _ => return reject(RejectionKind::NotNow, self.ended_message("hold")),
        }
        self.hold = Some(Hold {
            by: by.clone(),
            reason: reason.clone(),
            at: now,
        });
        self.record(now, by, "hold", Some(reason.to_string()), before);
        effects.push(metric(
            MetricName::Holds,
            1.0,
            Unit::Count,
            &[("Cause", "person")],
        ));
        Ok(())
    }

    pub(super) fn resume(&mut self, act: Act<'_>) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        if self.hold.is_none() {
            let msg = if self.is_terminal() {
                self.ended_message("resume")
            } else {
                format!(
                    "train {} is not held (it is {}); nothing to resume",
                    self.id,
                    self.state()
                )
            };
            return reject(RejectionKind::NotNow, msg);
        }
        self.hold = None;
        self.record(now, by, "resume", Some(reason.to_string()), before);
        Ok(())
    }

    pub(super) fn approved(&self) -> bool {
        self.approvals.len() >= usize::try_from(self.policy.approvals).unwrap_or(usize::MAX)
    }

    /// The rejection for a command that only applies before promotion, when the train is
    /// promoting or over.
    pub(super) fn not_before_promotion(&self, action: &str) -> Rejection {
        let message = match &self.phase {
            Phase::Promoting { since, .. } => format!(
                "train {} is already promoting (since {}); {action} applies only before promotion",
                self.id,
                self.local(*since)
            ),
            _ => self.ended_message(action),
        };
        Rejection {
            kind: RejectionKind::NotNow,
            message,
        }
    }

    pub(super) fn expedite(&mut self, act: Act<'_>) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        match &self.phase {
            Phase::Soaking { .. } => {}
            Phase::Building => {
                let running = self.active_builds(Stage::Staging).count();
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is still building ({running} staging build(s) running); expedite applies once every staging build is green",
                        self.id
                    ),
                );
            }
            _ => return Err(self.not_before_promotion("expedite")),
        }
        if let Some(h) = &self.hold {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} is held by {}: {}; resume it first, then expedite",
                    self.id, h.by, h.reason
                ),
            );
        }
        let mut note = reason.to_string();
        if let Some(FreezeHit {
            window,
            until,
            allow_expedite,
        }) = self.policy.freezes.at(now)
        {
            if !allow_expedite {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "freeze {window:?} is on until {}; release-train.toml does not let an expedite override it (allow_expedite = true on the freeze would)",
                        self.local(until)
                    ),
                );
            }
            note = format!("{note} (overrides freeze {window:?}, allowed by release-train.toml)");
        }
        if let Some(e) = &self.expedited {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} was already expedited by {} at {}",
                    self.id,
                    e.by,
                    self.local(e.at)
                ),
            );
        }
        self.expedited = Some(Hold {
            by: by.clone(),
            reason: reason.clone(),
            at: now,
        });
        self.record(now, by, "expedite", Some(note), before);
        Ok(())
    }

    pub(super) fn approve(&mut self, act: Act<'_>) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        if !matches!(self.phase, Phase::Building | Phase::Soaking { .. }) {
            return Err(self.not_before_promotion("approve"));
        }
        if !self.policy.approvers.is_empty() && !may_approve(&self.policy.approvers, by) {
            return reject(
                RejectionKind::Forbidden,
                format!(
                    "{by} may not approve train {}; release-train.toml names the approvers: {}",
                    self.id,
                    self.policy.approvers.join(", ")
                ),
            );
        }
        if self.phase == Phase::Building {
            let running = self.active_builds(Stage::Staging).count();
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} is still building ({running} staging build(s) running); approve once every staging build is green, so the approval names the commits it approves",
                    self.id
                ),
            );
        }
        let need = self.policy.approvals;
        if need == 0 {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "train {} needs no approval (release-train.toml sets no `approvals`)",
                    self.id
                ),
            );
        }
        if let Some(a) = self.approvals.iter().find(|a| a.by == *by) {
            return reject(
                RejectionKind::NotNow,
                format!(
                    "{by} already approved train {} at {}; an approval must come from another person",
                    self.id,
                    self.local(a.at)
                ),
            );
        }
        if self.approved() {
            return reject(
                RejectionKind::NotNow,
                format!("train {} already has its {need} approval(s)", self.id),
            );
        }
        let pins = self.pins();
        let approved: Vec<String> = pins
            .iter()
            .map(|(c, commit)| format!("{c} {}", commit.short()))
            .collect();
        self.approvals.push(Approval {
            by: by.clone(),
            reason: reason.clone(),
            at: now,
            pins,
        });
        let have = self.approvals.len();
        self.record(
            now,
            by,
            &format!("approve ({have} of {need})"),
            Some(format!("{reason} (approves {})", approved.join(", "))),
            before,
        );
        Ok(())
    }

    /// The commit each shipping component is pinned to.
    pub(super) fn pins(&self) -> BTreeMap<ComponentName, Commit> {
        self.components
            .iter()
            .filter(|(_, r)| r.ships())
            .filter_map(|(n, r)| r.pinned.clone().map(|c| (n.clone(), c)))
            .collect()
    }

    /// Approvals given for other commits than the train now carries are void: each is
    /// removed and recorded, so the history says whose approval no longer counts and why.
    pub(super) fn void_stale_approvals(&mut self, now: DateTime<Utc>) {
        if self.approvals.is_empty() {
            return;
        }
        let pins = self.pins();
        let (kept, void): (Vec<Approval>, Vec<Approval>) = std::mem::take(&mut self.approvals)
            .into_iter()
            .partition(|a| a.pins == pins);
        self.approvals = kept;
        for a in void {
            let changed: Vec<String> = a
                .pins
                .keys()
                .chain(pins.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|c| a.pins.get(*c) != pins.get(*c))
                .map(|c| {
                    let short = |p: &BTreeMap<ComponentName, Commit>| {
                        p.get(c).map_or("nothing", Commit::short).to_owned()
                    };
                    format!("{c} {} -> {}", short(&a.pins), short(&pins))
                })
                .collect();
            self.void_approval(
                &a,
                &format!("the pins changed: {}", changed.join(", ")),
                now,
            );
        }
    }

    /// Voids every approval, because of `why`.
    pub(super) fn void_approvals(&mut self, why: &str, now: DateTime<Utc>) {
        for a in std::mem::take(&mut self.approvals) {
            self.void_approval(&a, why, now);
        }
    }

    fn void_approval(&mut self, a: &Approval, why: &str, now: DateTime<Utc>) {
        let state = self.state();
        self.record(
            now,
            &Actor::system(),
            "approval voided",
            Some(format!(
                "{}'s approval no longer counts: {why}; approve again",
                a.by
            )),
            state,
        );
    }

    /// Builds the failed or stopped components again: production ones when the train
    /// failed (or is promoting) with production failures, staging ones otherwise. A staging
    /// retry goes back to building, so the soak starts again with the new builds.
    pub(super) fn retry(
        &mut self,
        act: Act<'_>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let Act { by, reason, now } = act;
        let before = self.state();
        if !matches!(
            self.phase,
            Phase::Building
                | Phase::Soaking { .. }
                | Phase::Promoting { .. }
                | Phase::Failed { .. }
        ) {
            return reject(RejectionKind::NotNow, self.ended_message("retry"));
        }
        // On a failed train, staging builds still running were told to stop when it failed:
        // they are rebuilt too (their late reports belong to an old attempt and are ignored).
        // Production builds still running are left to finish: never two deploys at once.
        let failed_train = matches!(self.phase, Phase::Failed { .. });
        let failed = |stage: Stage| -> Vec<(ComponentName, u32)> {
            self.components
                .iter()
                .filter_map(|(name, run)| {
                    run.build(stage)
                        .filter(|b| match b.status {
                            BuildStatus::Failed | BuildStatus::Stopped => true,
                            BuildStatus::Requested | BuildStatus::Running => {
                                failed_train && stage == Stage::Staging
                            }
                            BuildStatus::Succeeded => false,
                        })
                        .map(|b| (name.clone(), b.attempt))
                })
                .collect()
        };
        let production = failed(Stage::Production);
        let staging = failed(Stage::Staging);
        let production_phase = matches!(self.phase, Phase::Promoting { .. } | Phase::Failed { .. })
            && !production.is_empty();
        let (stage, retried) = if production_phase {
            (Stage::Production, production)
        } else if !staging.is_empty() && !matches!(self.phase, Phase::Promoting { .. }) {
            (Stage::Staging, staging)
        } else {
            return reject(
                RejectionKind::NotNow,
                format!("train {} has no failed build to retry", self.id),
            );
        };
        match stage {
            Stage::Production => {
                let wave = retried
                    .iter()
                    .filter_map(|(n, _)| self.components.get(n).map(|r| r.spec.wave))
                    .min()
                    .unwrap_or(1);
                let since = match self.phase {
                    Phase::Promoting { since, .. } => since,
                    _ => now,
                };
                self.phase = Phase::Promoting { since, wave };
            }
            Stage::Staging => self.phase = Phase::Building,
        }
        let names: Vec<String> = retried.iter().map(|(n, _)| n.to_string()).collect();
        self.record(
            now,
            by,
            &format!("retry {stage} of {}", names.join(", ")),
            Some(reason.to_string()),
            before,
        );
        if stage == Stage::Staging {
            let why = format!("staging builds {} again", names.join(", "));
            self.void_approvals(&why, now);
        }
        if stage == Stage::Production {
            self.bake = None;
        }
        for (name, attempt) in retried {
            if let Some(run) = self.components.get_mut(&name) {
                run.excluded = None;
            }
            effects.push(self.request_build(&name, stage, attempt + 1, now));
        }
        Ok(())
    }

    pub(super) fn ended_message(&self, action: &str) -> String {
        match &self.phase {
            Phase::Cancelled { at, by, reason } => format!(
                "train {} was already cancelled by {by} at {}: {reason}; nothing to {action}",
                self.id,
                self.local(*at)
            ),
            Phase::Released { at } => format!(
                "train {} was already released at {}; nothing to {action}",
                self.id,
                self.local(*at)
            ),
            Phase::Failed { reason, .. } => format!(
                "train {} has already failed ({reason}); nothing to {action}",
                self.id
            ),
            Phase::Skipped { reason } => format!(
                "train {} was skipped ({reason}); nothing to {action}",
                self.id
            ),
            _ => format!(
                "train {} is {}; {action} does not apply",
                self.id,
                self.state()
            ),
        }
    }
}
