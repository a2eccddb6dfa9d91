//! The train state machine: `Train::on(event, now)` decides; the edges commit and act.
//!
//! A train moves `building → soaking → promoting → released`, or ends `cancelled`,
//! `failed` or `skipped`; a released train may be rolled back (`rolling_back →
//! rolled_back`). A hold is not a phase but a gate on the soaking (or still
//! building) train: it shows as `held` and blocks promotion until resumed.
//!
//! Rules the tests hold this module to:
//! - a production build starts only for a component whose staging build succeeded, at the
//!   exact commit that staging build ran, after the soak, with no hold, no freeze, not
//!   cancelled;
//! - a repeated or stale event changes nothing;
//! - a command that does not apply is a [`Rejection`] that says why and what applies.
//!
//! Layout: `mod.rs` holds the [`Train`] and its one dispatcher, [`Train::on`]; each concern
//! has its own file: `model` (the data), `events` (events, effects, rejections), `builds`,
//! `commands`, `gates`, `promotion`, `rollback` and `announce`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{
    AlarmPolicy, ComponentSpec, Config, FailurePolicy, StageTarget, StagingOrder, may_approve,
};
use crate::freeze::{FreezeCalendar, FreezeHit};
use crate::ids::{Actor, AlarmName, BuildId, Commit, ComponentName, Reason, TrainId, TrainName};
use crate::metrics::MetricName;
use crate::span::Span;

mod announce;
mod builds;
mod commands;
mod events;
mod gates;
mod model;
mod promotion;
mod rollback;

use builds::BuildRef;
use commands::Act;
pub use events::*;
pub use model::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Train {
    pub id: TrainId,
    pub name: TrainName,
    /// The scheduled cut time this train was derived from.
    pub cut_at: DateTime<Utc>,
    pub policy: Policy,
    pub phase: Phase,
    pub hold: Option<Hold>,
    /// The promote firing this train is waiting to honour, once its gates pass.
    pub promotion_due: Option<DateTime<Utc>>,
    /// The last promote firing a freeze deferred: a repeat of it is not a new request.
    #[serde(default)]
    pub deferred: Option<DateTime<Utc>>,
    /// Promote without waiting for the soak or the promote time (who, why, when).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expedited: Option<Hold>,
    /// Who approved the promotion, when the policy asks for approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    /// Between two production waves: the bake, and what the next wave waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<Bake>,
    /// The promote firing this train gave its heads-up for ("promotion soon"), once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads_up: Option<DateTime<Utc>>,
    /// Gating alarms in ALARM now: promotion waits until none is.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub alarms_firing: std::collections::BTreeSet<AlarmName>,
    /// Gates that kept a due promotion waiting (approvals, alarms), each counted once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub deferred_for: std::collections::BTreeSet<Deferral>,
    /// The person who owns this train, from the configured rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captain: Option<String>,
    pub components: BTreeMap<ComponentName, ComponentRun>,
    pub history: Vec<Record>,
    /// How many effects this train has issued; the next effect's id.
    pub effects_issued: u64,
}

fn local_time(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    crate::text::when(t, zone)
}

#[allow(clippy::cast_precision_loss)]
fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn humanize(d: Duration) -> String {
    let m = d.num_minutes();
    if m >= 120 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

fn metric(name: MetricName, value: f64, unit: Unit, dims: &[(&str, &str)]) -> Effect {
    Effect::EmitMetric(new_metric(name, value, unit, dims))
}

fn new_metric(name: MetricName, value: f64, unit: Unit, dims: &[(&str, &str)]) -> Metric {
    Metric {
        name: name.as_str().to_owned(),
        value,
        unit,
        dimensions: dims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

impl Train {
    /// Cuts the train for the cut firing at `scheduled`: one staging build per component, or
    /// a skipped train when a freeze covers the cut.
    pub fn cut(config: &Config, scheduled: DateTime<Utc>, now: DateTime<Utc>) -> Transition {
        Self::cut_after(config, scheduled, now, &BTreeMap::new(), None)
    }

    /// A cut that knows what each component's production runs now (`previous`, from the
    /// last releases), so builds get `PREVIOUS_RELEASE_COMMIT` and changelogs a start; or
    /// a skipped train, recording who and why, when a person skipped this cut or paused
    /// the schedule (`skip`).
    pub fn cut_after(
        config: &Config,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        previous: &BTreeMap<ComponentName, Commit>,
        skip: Option<(Actor, String)>,
    ) -> Transition {
        Self::cut_firing(config, scheduled, now, previous, skip, false)
    }

    /// The cut of the firing at `scheduled` made by a later pass, because that firing's
    /// delivery never came: the cut record says so.
    pub fn cut_late(
        config: &Config,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        previous: &BTreeMap<ComponentName, Commit>,
        skip: Option<(Actor, String)>,
    ) -> Transition {
        Self::cut_firing(config, scheduled, now, previous, skip, true)
    }

    fn cut_firing(
        config: &Config,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        previous: &BTreeMap<ComponentName, Commit>,
        skip: Option<(Actor, String)>,
        late: bool,
    ) -> Transition {
        let cutter = Actor::cut_schedule();
        let id = config.train.train_id(scheduled);
        let why = late.then(|| {
            format!(
                "cut late: the firing at {} was not delivered",
                local_time(scheduled, config.train.zone)
            )
        });
        Self::cut_as(config, id, scheduled, now, previous, skip, (&cutter, why))
    }

    /// Whether the promote firing at `scheduled` is one this train still waits for: it was
    /// cut before it, has not started promoting, and has not heard it (or had it deferred).
    pub fn owes_promotion(&self, scheduled: DateTime<Utc>) -> bool {
        matches!(self.phase, Phase::Building | Phase::Soaking { .. })
            && self.cut_at <= scheduled
            && self.promotion_due.is_none()
            && self.deferred != Some(scheduled)
    }

    /// A train a person cut now, outside the schedule (a hotfix): its id says so
    /// ([`crate::config::TrainSettings::adhoc_train_id`]), so it never collides with a
    /// scheduled train, and its first record names who cut it and why.
    pub fn cut_adhoc(
        config: &Config,
        now: DateTime<Utc>,
        previous: &BTreeMap<ComponentName, Commit>,
        by: &Actor,
        reason: &Reason,
    ) -> Transition {
        let id = config.train.adhoc_train_id(now);
        Self::cut_as(
            config,
            id,
            now,
            now,
            previous,
            None,
            (by, Some(reason.to_string())),
        )
    }

    fn cut_as(
        config: &Config,
        id: TrainId,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        previous: &BTreeMap<ComponentName, Commit>,
        skip: Option<(Actor, String)>,
        (cutter, why): (&Actor, Option<String>),
    ) -> Transition {
        let settings = &config.train;
        let mut train = Train {
            id,
            name: settings.name.clone(),
            cut_at: scheduled,
            policy: Policy {
                zone: settings.zone,
                soak: settings.soak,
                on_component_failure: settings.on_component_failure,
                build_timeout: settings.build_timeout,
                freezes: config.freezes.clone(),
                approvals: settings.approvals,
                alarms: settings.alarms.clone(),
                on_alarm: settings.on_alarm,
                restart_soak_after_alarm: settings.restart_soak_after_alarm,
                staging_order: settings.staging_order,
                wave_bake: settings.wave_bake,
                expedite_skips_bake: settings.expedite_skips_bake,
                approvers: settings.approvers.clone(),
            },
            phase: Phase::Building,
            hold: None,
            promotion_due: None,
            deferred: None,
            expedited: None,
            approvals: Vec::new(),
            bake: None,
            heads_up: None,
            captain: settings.captain_for(scheduled),
            alarms_firing: std::collections::BTreeSet::new(),
            deferred_for: std::collections::BTreeSet::new(),
            components: config
                .components
                .iter()
                .map(|spec| {
                    let run = ComponentRun {
                        spec: spec.clone(),
                        pinned: None,
                        staging: None,
                        production: None,
                        excluded: None,
                        rollback: None,
                        previous: previous.get(&spec.name).cloned(),
                        changelog: None,
                    };
                    (spec.name.clone(), run)
                })
                .collect(),
            history: Vec::new(),
            effects_issued: 0,
        };
        let mut effects = Vec::new();
        if let Some((by, why)) = skip {
            train.phase = Phase::Skipped {
                reason: why.clone(),
            };
            train.record(now, &by, "cut skipped", Some(why), State::Building);
        } else if let Some(FreezeHit { window, until, .. }) = config.freezes.at(scheduled) {
            let reason = format!(
                "cut falls in freeze {window:?} (until {})",
                local_time(until, settings.zone)
            );
            train.phase = Phase::Skipped {
                reason: reason.clone(),
            };
            train.record(now, cutter, "cut skipped", Some(reason), State::Building);
        } else {
            train.record(now, cutter, "cut", why, State::Building);
            let first = train.components.values().map(|r| r.spec.wave).min();
            let names: Vec<ComponentName> = train
                .components
                .iter()
                .filter(|(_, r)| {
                    train.policy.staging_order == StagingOrder::Parallel
                        || Some(r.spec.wave) == first
                })
                .map(|(n, _)| n.clone())
                .collect();
            for name in names {
                effects.push(train.request_build(&name, Stage::Staging, 1, now));
            }
            effects.push(metric(MetricName::TrainsCut, 1.0, Unit::Count, &[]));
        }
        train.announce_if_changed(None, &mut effects, now);
        let mut t = Transition {
            train,
            effects: Vec::new(),
        };
        t.train.number(effects, &mut t.effects);
        t
    }

    /// Whether this train, just cut, replaces `older`: a train of the same name cut before
    /// it that has not ended and, if it has not started promoting, would otherwise ship
    /// older commits after this one (the cancel that carries it out is refused for a train
    /// already promoting).
    pub fn supersedes(&self, older: &Train) -> bool {
        older.id != self.id
            && older.name == self.name
            && older.cut_at < self.cut_at
            && !older.is_terminal()
    }

    /// The state a person sees.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Building | Phase::Soaking { .. } | Phase::Promoting { .. }
                if self.hold.is_some() =>
            {
                State::Held
            }
            Phase::Building => State::Building,
            Phase::Soaking { .. } => State::Soaking,
            Phase::Promoting { .. } => State::Promoting,
            Phase::Released { .. } => State::Released,
            Phase::Cancelled { .. } => State::Cancelled,
            Phase::Failed { .. } => State::Failed,
            Phase::Skipped { .. } => State::Skipped,
            Phase::RollingBack { .. } => State::RollingBack,
            Phase::RolledBack { .. } => State::RolledBack,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.phase.is_terminal()
    }

    /// Ended and with no build still requested or running: nothing will change it again.
    pub fn is_settled(&self) -> bool {
        self.is_terminal()
            && self
                .active_builds(Stage::Staging)
                .chain(self.active_builds(Stage::Production))
                .next()
                .is_none()
    }

    /// The build of `component` for `stage` whose builder id is `build_id`.
    pub fn find_build(&self, build_id: &BuildId) -> Option<(&ComponentName, Stage, &Build)> {
        self.components.iter().find_map(|(name, run)| {
            run.find_build(build_id)
                .map(|(stage, build)| (name, stage, build))
        })
    }

    /// Decides what `event` at `now` does to this train.
    pub fn on(&self, event: &Event, now: DateTime<Utc>) -> Result<Transition, Rejection> {
        let mut next = self.clone();
        let before = self.state();
        let mut effects = Vec::new();
        match event {
            Event::BuildStarted {
                component,
                stage,
                attempt,
                build_id,
                commit,
                link,
            } => {
                let build = BuildRef::new(component, *stage, *attempt, build_id);
                next.build_started(build, commit.as_ref(), now, &mut effects)?;
                if let Some(link) = link {
                    next.set_link(component, *stage, build_id, link);
                }
            }
            Event::BuildFinished {
                component,
                stage,
                attempt,
                build_id,
                outcome,
            } => {
                let build = BuildRef::new(component, *stage, *attempt, build_id);
                next.build_finished(build, outcome, now, &mut effects)?;
            }
            Event::PromotionDue { scheduled } => {
                if next.owes_promotion(*scheduled) {
                    next.promotion_due = Some(*scheduled);
                    let actor = Actor::promote_schedule();
                    next.record(now, &actor, "promotion due", None, before);
                }
            }
            Event::PromotionOwed { scheduled } => {
                if next.owes_promotion(*scheduled) {
                    next.promotion_due = Some(*scheduled);
                    let why = format!(
                        "the promote firing at {} was not delivered; treated as delivered",
                        next.local(*scheduled)
                    );
                    next.record(now, &Actor::system(), "promotion due", Some(why), before);
                }
            }
            Event::Tick => {}
            Event::PromotionSoon { firing } => next.promotion_soon(*firing, now, before),
            Event::Cancel { by, reason } => next.cancel(Act { by, reason, now }, &mut effects)?,
            Event::Hold { by, reason } => next.hold(Act { by, reason, now }, &mut effects)?,
            Event::Resume { by, reason } => next.resume(Act { by, reason, now })?,
            Event::Expedite { by, reason } => next.expedite(Act { by, reason, now })?,
            Event::Retry { by, reason } => next.retry(Act { by, reason, now }, &mut effects)?,
            Event::AlarmChanged { alarm, firing } => {
                next.alarm_changed(alarm, *firing, false, now, &mut effects);
            }
            Event::AlarmMissing { alarm } => {
                next.alarm_changed(alarm, true, true, now, &mut effects);
            }
            Event::ChangelogReady {
                component,
                changelog,
            } => {
                let run = next.run_mut(component)?;
                if run.pinned.as_ref() == Some(&changelog.to) {
                    run.changelog = Some(changelog.clone());
                }
            }
            Event::Approve { by, reason } => next.approve(Act { by, reason, now })?,
            Event::Rollback {
                by,
                reason,
                to,
                pins,
            } => next.rollback(Act { by, reason, now }, to, pins, &mut effects)?,
        }
        next.advance(now, &mut effects);
        next.announce_changes(before, self.history.len(), &mut effects, now);
        let mut t = Transition {
            train: next,
            effects: Vec::new(),
        };
        t.train.number(effects, &mut t.effects);
        Ok(t)
    }

    /// `t` in the train's zone, for messages.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        local_time(t, self.policy.zone)
    }

    fn record(
        &mut self,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        reason: Option<String>,
        from: State,
    ) {
        let to = self.state();
        self.history.push(Record {
            at,
            actor: actor.clone(),
            action: action.to_owned(),
            reason,
            from,
            to,
        });
    }

    fn number(&mut self, effects: Vec<Effect>, out: &mut Vec<Pending>) {
        for effect in effects {
            out.push(Pending {
                id: self.effects_issued,
                effect,
            });
            self.effects_issued += 1;
        }
    }

    fn run_mut(&mut self, component: &ComponentName) -> Result<&mut ComponentRun, Rejection> {
        let id = self.id.clone();
        self.components.get_mut(component).map_or_else(
            || {
                reject(
                    RejectionKind::Unknown,
                    format!("train {id} has no component {component}"),
                )
            },
            Ok,
        )
    }
}
