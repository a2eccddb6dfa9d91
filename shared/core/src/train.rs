//! The train state machine: `Train::on(event, now)` decides; the edges commit and act.
//!
//! A train moves `building → soaking → promoting → released`, or ends `cancelled`,
//! `failed` or `skipped`. A hold is not a phase but a gate on the soaking (or still
//! building) train: it shows as `held` and blocks promotion until resumed.
//!
//! Rules the tests hold this module to:
//! - a production build starts only for a component whose staging build succeeded, at the
//!   exact commit that staging build ran, after the soak, with no hold, no freeze, not
//!   cancelled;
//! - a repeated or stale event changes nothing;
//! - a command that does not apply is a [`Rejection`] that says why and what applies.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{AlarmPolicy, ComponentSpec, Config, FailurePolicy, StageTarget};
use crate::freeze::{FreezeCalendar, FreezeHit};
use crate::ids::{Actor, BuildId, Commit, ComponentName, Reason, TrainId, TrainName};
use crate::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Staging,
    Production,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Staging => "staging",
            Stage::Production => "production",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// Decided and in the outbox; the builder has not confirmed it yet.
    Requested,
    Running,
    Succeeded,
    Failed,
    Stopped,
}

impl BuildStatus {
    /// The status as the API and the timeline spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Requested => "requested",
            BuildStatus::Running => "running",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
            BuildStatus::Stopped => "stopped",
        }
    }
}

impl BuildStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BuildStatus::Succeeded | BuildStatus::Failed | BuildStatus::Stopped
        )
    }
}

/// One build of one component for one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub attempt: u32,
    pub status: BuildStatus,
    pub build_id: Option<BuildId>,
    /// The commit the build ran: reported by the builder for staging, the pin for production.
    pub commit: Option<Commit>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed or stopped.
    pub detail: Option<String>,
    /// Where a person reads its log: the CodeBuild console, or a local file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// How many attempts in a row before this one the build system failed
    /// ([`BuildOutcome::Fault`]): a fault is retried, not counted as the component's failure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub faults: u32,
}

/// The train's own records that change no state but are announced all the same: those
/// watching the bus learn why a due promotion waits.
const NOTICES: [&str; 1] = ["promotion deferred"];

/// After this many faults in a row a build counts as failed: the build system is not
/// coming back by itself, and a person must look.
pub const MAX_FAULTS: u32 = 3;

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Build {
    fn requested(attempt: u32, now: DateTime<Utc>) -> Self {
        Self {
            attempt,
            status: BuildStatus::Requested,
            build_id: None,
            commit: None,
            requested_at: now,
            started_at: None,
            finished_at: None,
            detail: None,
            link: None,
            faults: 0,
        }
    }

    fn is_active(&self) -> bool {
        !self.status.is_finished()
    }
}

/// A component as this train carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRun {
    pub spec: ComponentSpec,
    /// The commit staging built and tested; production builds exactly this.
    pub pinned: Option<Commit>,
    pub staging: Option<Build>,
    pub production: Option<Build>,
    /// Why this component does not ship with the train (its build failed under `exclude`).
    pub excluded: Option<String>,
    /// During a rollback: the previous release's commit production goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Commit>,
    /// The commit production ran before this train (the last release that shipped this
    /// component): where its changelog starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Commit>,
    /// The changes from `previous` to the pin, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<Changelog>,
}

/// What a component's new commits are, from the previous release's pin to this train's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    pub from: Option<Commit>,
    pub to: Commit,
    /// One line per commit, newest first (`<short sha> <subject>`), where the builder can
    /// read them.
    #[serde(default)]
    pub commits: Vec<String>,
    /// Where the full changelog is (a build artifact on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// When the oldest commit in the range was committed: where a release's lead time
    /// starts. Unknown when the builder could not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_commit_at: Option<DateTime<Utc>>,
}

impl Changelog {
    /// The range alone, before anyone has read the commits in it.
    pub fn empty(from: Option<&Commit>, to: &Commit) -> Self {
        Self {
            from: from.cloned(),
            to: to.clone(),
            commits: Vec::new(),
            link: None,
            oldest_commit_at: None,
        }
    }
}

impl ComponentRun {
    pub fn build(&self, stage: Stage) -> Option<&Build> {
        match stage {
            Stage::Staging => self.staging.as_ref(),
            Stage::Production => self.production.as_ref(),
        }
    }

    /// The stage whose build has `build_id`, and that build.
    pub fn find_build(&self, build_id: &BuildId) -> Option<(Stage, &Build)> {
        [Stage::Staging, Stage::Production]
            .into_iter()
            .find_map(|stage| {
                self.build(stage)
                    .filter(|b| b.build_id.as_ref() == Some(build_id))
                    .map(|b| (stage, b))
            })
    }

    fn build_mut(&mut self, stage: Stage) -> Option<&mut Build> {
        match stage {
            Stage::Staging => self.staging.as_mut(),
            Stage::Production => self.production.as_mut(),
        }
    }

    fn ships(&self) -> bool {
        self.excluded.is_none()
    }
}

/// The rules a train was cut with. Copied at the cut so a train finishes under the rules
/// it started with; a freeze declared in a hurry is a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The train's time zone, for the times in its messages.
    pub zone: chrono_tz::Tz,
    pub soak: Span,
    pub on_component_failure: FailurePolicy,
    pub build_timeout: Span,
    pub freezes: FreezeCalendar,
    /// Approvals from different people needed before promotion.
    #[serde(default)]
    pub approvals: u32,
    /// Gating CloudWatch alarms, and what one entering ALARM does before promotion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    #[serde(default)]
    pub on_alarm: AlarmPolicy,
    #[serde(default)]
    pub restart_soak_after_alarm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    Building,
    Soaking {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    Promoting {
        since: DateTime<Utc>,
        wave: u32,
    },
    Released {
        at: DateTime<Utc>,
    },
    Cancelled {
        at: DateTime<Utc>,
        by: Actor,
        reason: Reason,
    },
    Failed {
        at: DateTime<Utc>,
        reason: String,
    },
    Skipped {
        reason: String,
    },
    /// Production builds of the previous release's pins, after this train was released.
    RollingBack {
        since: DateTime<Utc>,
        to: TrainId,
    },
    RolledBack {
        at: DateTime<Utc>,
        to: TrainId,
    },
}

impl Phase {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Released { .. }
                | Phase::Cancelled { .. }
                | Phase::Failed { .. }
                | Phase::Skipped { .. }
                | Phase::RolledBack { .. }
        )
    }
}

/// What a person sees: the phase, with a hold shown as its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Building,
    Soaking,
    Held,
    Promoting,
    Released,
    Cancelled,
    Failed,
    Skipped,
    RollingBack,
    RolledBack,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Building,
        State::Soaking,
        State::Held,
        State::Promoting,
        State::Released,
        State::Cancelled,
        State::Failed,
        State::Skipped,
        State::RollingBack,
        State::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Building => "building",
            State::Soaking => "soaking",
            State::Held => "held",
            State::Promoting => "promoting",
            State::Released => "released",
            State::Cancelled => "cancelled",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::RollingBack => "rolling_back",
            State::RolledBack => "rolled_back",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Released | State::Cancelled | State::Failed | State::Skipped | State::RolledBack
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub by: Actor,
    pub reason: Reason,
    pub at: DateTime<Utc>,
}

/// One line of the audit trail: every decision and every command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub from: State,
    pub to: State,
}

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
    pub approvals: Vec<Hold>,
    /// Gating alarms in ALARM now: promotion waits until none is.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub alarms_firing: std::collections::BTreeSet<String>,
    /// Gates that kept a due promotion waiting ("approval", "alarm"), each counted once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub deferred_for: std::collections::BTreeSet<String>,
    /// The person who owns this train, from the configured rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captain: Option<String>,
    pub components: BTreeMap<ComponentName, ComponentRun>,
    pub history: Vec<Record>,
    /// How many effects this train has issued; the next effect's id.
    pub effects_issued: u64,
}

/// What the builder needs to start one build. Everything is decided here; the builder adds
/// nothing but the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRequest {
    pub train: TrainId,
    pub component: ComponentName,
    pub stage: Stage,
    pub attempt: u32,
    pub source: String,
    pub revision: Revision,
    pub target: StageTarget,
    pub timeout: Span,
    /// Unique per train, component, stage and attempt: the builder starts at most one build
    /// per key, and the store (not a provider's short-lived token) remembers it.
    pub idempotency_key: String,
    /// The commit the previous release shipped (`PREVIOUS_RELEASE_COMMIT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Commit>,
    /// The component's branch, also for a production build of a pinned commit: CodeBuild
    /// fetches only that branch for `refs/heads/BRANCH^{SHA}`. Absent in requests stored
    /// before it was carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revision {
    /// Staging builds the branch head; the builder reports which commit that was.
    Branch(String),
    /// Production builds exactly the commit staging built.
    Commit(Commit),
}

/// A state change, as published to the train's event bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub train: TrainId,
    /// `None` when the train was just cut.
    pub from: Option<State>,
    pub to: State,
    pub actor: Actor,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The train's release captain, when the configuration has a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captain: Option<String>,
    /// What happened, when it is not only a change of state (e.g. "promotion deferred").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Components that do not ship with this train and why (their build failed under
    /// `exclude`): they stay on their last release.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded: BTreeMap<ComponentName, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Count,
    Seconds,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: Unit,
    pub dimensions: BTreeMap<String, String>,
}

/// A side effect, decided by the core and run by the edges after the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    StartBuild(BuildRequest),
    StopBuild {
        component: ComponentName,
        stage: Stage,
        build_id: BuildId,
    },
    Publish(Announcement),
    /// Written once per key, `<train>/<state>.json`, from the train as it is when the
    /// effect runs: the pins no longer change once the soak starts, and an ended train only
    /// records late build results. (Carrying the train here would not fit a 400 KB outbox
    /// item for a train of a thousand components.)
    WriteManifest {
        state: State,
    },
    EmitMetric(Metric),
    /// Read the commits from the previous release's pin to this train's pin.
    ReadChangelog {
        component: ComponentName,
        source: String,
        from: Option<Commit>,
        to: Commit,
        /// The staging build, whose artifacts carry the changelog on AWS.
        build: Option<BuildId>,
    },
}

/// An effect with the id it carries in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub id: u64,
    pub effect: Effect,
}

/// What happened to a build, as the builder reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum BuildOutcome {
    Succeeded {
        commit: Option<Commit>,
    },
    Failed {
        reason: String,
    },
    Stopped,
    /// The build system failed, not the code: CodeBuild's `FAULT`; locally, the repository
    /// could not be fetched or checked out, or the disk refused a write. The train builds
    /// again (a new attempt) and never counts it as the component's failure, up to
    /// [`MAX_FAULTS`] in a row.
    Fault {
        reason: String,
    },
}

/// Everything a train reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    BuildStarted {
        component: ComponentName,
        stage: Stage,
        attempt: u32,
        build_id: BuildId,
        commit: Option<Commit>,
        /// Where a person reads the build's log (a console URL, a file).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    BuildFinished {
        component: ComponentName,
        stage: Stage,
        attempt: u32,
        build_id: BuildId,
        outcome: BuildOutcome,
    },
    /// The promote schedule fired.
    PromotionDue {
        scheduled: DateTime<Utc>,
    },
    /// Time passed: re-check timers and gates.
    Tick,
    Cancel {
        by: Actor,
        reason: Reason,
    },
    Hold {
        by: Actor,
        reason: Reason,
    },
    Resume {
        by: Actor,
        reason: Reason,
    },
    /// Promote once staging is green, without waiting for the soak or the promote time.
    Expedite {
        by: Actor,
        reason: Reason,
    },
    /// Build the failed (or stopped) components again.
    Retry {
        by: Actor,
        reason: Reason,
    },
    Approve {
        by: Actor,
        reason: Reason,
    },
    /// A gating alarm changed state (from an alarm event, or a check before promotion).
    AlarmChanged {
        alarm: String,
        firing: bool,
    },
    /// A gating alarm the alarm service does not know (misspelled or deleted): the gate
    /// cannot be read, so it blocks promotion as `alarm:NAME (not found)` until the alarm
    /// exists and is OK (an `AlarmChanged` with `firing: false`).
    AlarmMissing {
        alarm: String,
    },
    /// The builder read a component's changelog (the commits since the previous release).
    ChangelogReady {
        component: ComponentName,
        changelog: Changelog,
    },
    /// Production builds of `pins`, the commits release `to` shipped.
    Rollback {
        by: Actor,
        reason: Reason,
        to: TrainId,
        pins: BTreeMap<ComponentName, Commit>,
    },
}

/// The new train and the effects to run once it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub train: Train,
    pub effects: Vec<Pending>,
}

impl Transition {
    pub fn changed(&self, before: &Train) -> bool {
        self.train != *before
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    /// The command does not apply in the train's current state.
    NotNow,
    /// The event names something the train does not have.
    Unknown,
}

/// A command or event that does not apply, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

fn reject<T>(kind: RejectionKind, message: String) -> Result<T, Rejection> {
    Err(Rejection { kind, message })
}

/// Why a train is not promoting right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "gate")]
pub enum Blocker {
    StagingBuilds {
        running: usize,
    },
    Soak {
        until: DateTime<Utc>,
    },
    Held {
        by: Actor,
        reason: Reason,
    },
    Frozen {
        window: String,
        until: DateTime<Utc>,
    },
    AwaitingPromoteTime,
    Approvals {
        have: u32,
        need: u32,
    },
    Alarms {
        firing: Vec<String>,
    },
}

impl Blocker {
    /// The gate in words, with times in `zone`.
    pub fn describe(&self, zone: chrono_tz::Tz) -> String {
        match self {
            Blocker::StagingBuilds { running } => {
                format!("{running} staging build(s) still running")
            }
            Blocker::Soak { until } => format!("soaking until {}", local_time(*until, zone)),
            Blocker::Held { by, reason } => format!("held by {by}: {reason}"),
            Blocker::Frozen { window, until } => {
                format!("freeze {window:?} until {}", local_time(*until, zone))
            }
            Blocker::AwaitingPromoteTime => "waiting for the promote schedule".to_owned(),
            Blocker::Alarms { firing } => format!("alarm(s) in ALARM: {}", firing.join(", ")),
            Blocker::Approvals { have, need } => {
                format!("{have} of {need} approvals; POST /trains/{{id}}/approve")
            }
        }
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
        let cutter = Actor::parse("schedule:cut").expect("valid actor");
        let id = config.train.train_id(scheduled);
        Self::cut_as(config, id, scheduled, now, previous, skip, (&cutter, None))
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
            },
            phase: Phase::Building,
            hold: None,
            promotion_due: None,
            deferred: None,
            expedited: None,
            approvals: Vec::new(),
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
            let names: Vec<ComponentName> = train.components.keys().cloned().collect();
            for name in names {
                effects.push(train.request_build(&name, Stage::Staging, 1, now));
            }
            effects.push(metric("TrainsCut", 1.0, Unit::Count, &[]));
        }
        train.announce_if_changed(None, &mut effects, now);
        let mut t = Transition {
            train,
            effects: Vec::new(),
        };
        t.train.number(effects, &mut t.effects);
        t
    }

    /// The state a person sees.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Building | Phase::Soaking { .. } if self.hold.is_some() => State::Held,
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
                next.build_started(
                    component,
                    *stage,
                    *attempt,
                    build_id,
                    commit.as_ref(),
                    now,
                    &mut effects,
                )?;
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
                next.build_finished(
                    component,
                    *stage,
                    *attempt,
                    build_id,
                    outcome,
                    now,
                    &mut effects,
                )?;
            }
            Event::PromotionDue { scheduled } => {
                if matches!(next.phase, Phase::Building | Phase::Soaking { .. })
                    && next.promotion_due.is_none()
                    && next.deferred != Some(*scheduled)
                {
                    next.promotion_due = Some(*scheduled);
                    let actor = Actor::parse("schedule:promote").expect("valid actor");
                    next.record(now, &actor, "promotion due", None, before);
                }
            }
            Event::Tick => {}
            Event::Cancel { by, reason } => next.cancel(by, reason, now, &mut effects)?,
            Event::Hold { by, reason } => next.hold(by, reason, now, &mut effects)?,
            Event::Resume { by, reason } => next.resume(by, reason, now)?,
            Event::Expedite { by, reason } => next.expedite(by, reason, now)?,
            Event::Retry { by, reason } => next.retry(by, reason, now, &mut effects)?,
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
            Event::Approve { by, reason } => next.approve(by, reason, now)?,
            Event::Rollback {
                by,
                reason,
                to,
                pins,
            } => next.rollback(by, reason, to, pins, now, &mut effects)?,
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

    /// Why this train is not promoting now (empty when it is promoting or could).
    pub fn blockers(&self, now: DateTime<Utc>) -> Vec<Blocker> {
        let mut out = Vec::new();
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

    /// Publishes one announcement per audit record this transition added that changed the
    /// state, came from outside the train (a person, an alarm) or is one of [`NOTICES`], in
    /// the order of the history: a resume followed at once by a promotion is two events,
    /// and an approval (which changes no state) is one, so whoever watches the bus learns
    /// who did what, in order. Writes the final manifest on a terminal state.
    fn announce_changes(
        &mut self,
        before: State,
        recorded_before: usize,
        effects: &mut Vec<Effect>,
        now: DateTime<Utc>,
    ) {
        let after = self.state();
        let excluded: BTreeMap<ComponentName, String> = self
            .components
            .iter()
            .filter_map(|(n, r)| r.excluded.clone().map(|why| (n.clone(), why)))
            .collect();
        let mut announced_after = false;
        for r in self.history.iter().skip(recorded_before) {
            if r.from == r.to && r.actor.is_the_train() && !NOTICES.contains(&r.action.as_str()) {
                continue;
            }
            announced_after = r.to == after;
            effects.push(Effect::Publish(Announcement {
                train: self.id.clone(),
                from: Some(r.from),
                to: r.to,
                actor: r.actor.clone(),
                reason: r.reason.clone(),
                at: now,
                captain: self.captain.clone(),
                action: Some(r.action.clone()),
                excluded: excluded.clone(),
            }));
        }
        if before != after && !announced_after {
            // A change no record explains (none today): still one event for it.
            self.announce_if_changed(Some(before), effects, now);
        } else if before != after && self.is_terminal() {
            effects.push(Effect::WriteManifest { state: after });
        }
    }

    /// Publishes a change of the visible state; writes the final manifest on a terminal one.
    fn announce_if_changed(
        &mut self,
        before: Option<State>,
        effects: &mut Vec<Effect>,
        now: DateTime<Utc>,
    ) {
        let after = self.state();
        if before == Some(after) {
            return;
        }
        let last = self.history.last();
        effects.push(Effect::Publish(Announcement {
            train: self.id.clone(),
            from: before,
            to: after,
            actor: last.map_or_else(Actor::system, |r| r.actor.clone()),
            reason: last.and_then(|r| r.reason.clone()),
            at: now,
            captain: self.captain.clone(),
            action: last.map(|r| r.action.clone()),
            excluded: self
                .components
                .iter()
                .filter_map(|(n, r)| r.excluded.clone().map(|why| (n.clone(), why)))
                .collect(),
        }));
        if self.is_terminal() {
            effects.push(Effect::WriteManifest { state: after });
        }
    }

    fn request_build(
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
    fn set_link(
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

    #[allow(clippy::too_many_arguments)]
    fn build_started(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        attempt: u32,
        build_id: &BuildId,
        commit: Option<&Commit>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
            return self.finish_build(
                component,
                stage,
                BuildStatus::Failed,
                Some(reason),
                None,
                now,
                effects,
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn build_finished(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        attempt: u32,
        build_id: &BuildId,
        outcome: &BuildOutcome,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
        self.finish_build(
            component,
            stage,
            status,
            detail,
            commit.as_ref(),
            now,
            effects,
        )
    }

    /// A build the build system failed: built again as a new attempt while the train still
    /// needs it, so a fault never excludes a component or halts a train by itself; after
    /// [`MAX_FAULTS`] in a row it fails, saying the build system failed.
    fn build_faulted(
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
            return self.finish_build(
                component,
                stage,
                BuildStatus::Failed,
                Some(detail),
                None,
                now,
                effects,
            );
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

    #[allow(clippy::too_many_arguments)]
    fn finish_build(
        &mut self,
        component: &ComponentName,
        stage: Stage,
        status: BuildStatus,
        detail: Option<String>,
        commit: Option<&Commit>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
        let commit = commit.cloned();
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
            "BuildDuration",
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
                "BuildFailures",
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
    fn why_nothing_ships(&self, stage: Stage) -> String {
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

    fn fail(&mut self, reason: String, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        let before = self.state();
        if self.phase == Phase::Building {
            self.stop_active(Stage::Staging, effects);
        }
        self.phase = Phase::Failed {
            at: now,
            reason: reason.clone(),
        };
        self.record(now, &Actor::system(), "failed", Some(reason), before);
        effects.push(metric("TrainsFailed", 1.0, Unit::Count, &[]));
    }

    fn stop_active(&self, stage: Stage, effects: &mut Vec<Effect>) {
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

    fn cancel(
        &mut self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
            "Cancellations",
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

    fn hold(
        &mut self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
            Phase::Promoting { .. } => {
                return reject(
                    RejectionKind::NotNow,
                    format!(
                        "train {} is already promoting; a hold only blocks a promotion that has not started",
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
        effects.push(metric("Holds", 1.0, Unit::Count, &[("Cause", "person")]));
        Ok(())
    }

    fn resume(&mut self, by: &Actor, reason: &Reason, now: DateTime<Utc>) -> Result<(), Rejection> {
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

    /// The alarm gate. An alarm entering ALARM before promotion holds the train (actor
    /// `alarm:NAME`) or cancels it, as the policy says; when the alarm is OK again its hold
    /// lifts, and the soak may start over. Alarms the configuration does not name are not
    /// gates. A `missing` alarm blocks like one in ALARM but never cancels: a typo in the
    /// configuration is no reason to cancel a train.
    fn alarm_changed(
        &mut self,
        alarm: &str,
        firing: bool,
        missing: bool,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) {
        if !self.policy.alarms.iter().any(|a| a == alarm)
            || self.alarms_firing.contains(alarm) == firing
        {
            return;
        }
        let Ok(actor) = Actor::parse(&format!("alarm:{alarm}")) else {
            return;
        };
        let before = self.state();
        let open = matches!(self.phase, Phase::Building | Phase::Soaking { .. });
        if firing {
            self.alarms_firing.insert(alarm.to_owned());
            let why = if missing {
                format!(
                    "alarm:{alarm} (not found): CloudWatch has no alarm of this name; create it or fix train.alarms in release-train.toml"
                )
            } else {
                format!("alarm {alarm} is in ALARM")
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
                        "Cancellations",
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
                    effects.push(metric("Holds", 1.0, Unit::Count, &[("Cause", "alarm")]));
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

    fn approved(&self) -> bool {
        self.approvals.len() >= usize::try_from(self.policy.approvals).unwrap_or(usize::MAX)
    }

    /// The rejection for a command that only applies before promotion, when the train is
    /// promoting or over.
    fn not_before_promotion(&self, action: &str) -> Rejection {
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

    fn expedite(
        &mut self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
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

    fn approve(
        &mut self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        let before = self.state();
        if !matches!(self.phase, Phase::Building | Phase::Soaking { .. }) {
            return Err(self.not_before_promotion("approve"));
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
        self.approvals.push(Hold {
            by: by.clone(),
            reason: reason.clone(),
            at: now,
        });
        let have = self.approvals.len();
        self.record(
            now,
            by,
            &format!("approve ({have} of {need})"),
            Some(reason.to_string()),
            before,
        );
        Ok(())
    }

    /// Builds the failed or stopped components again: production ones when the train
    /// failed (or is promoting) with production failures, staging ones otherwise. A staging
    /// retry goes back to building, so the soak starts again with the new builds.
    fn retry(
        &mut self,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
        for (name, attempt) in retried {
            if let Some(run) = self.components.get_mut(&name) {
                run.excluded = None;
            }
            effects.push(self.request_build(&name, stage, attempt + 1, now));
        }
        Ok(())
    }

    fn rollback(
        &mut self,
        by: &Actor,
        reason: &Reason,
        to: &TrainId,
        pins: &BTreeMap<ComponentName, Commit>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Rejection> {
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
            "ChangeFailures",
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

    fn ended_message(&self, action: &str) -> String {
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

    /// Moves the train on by itself where it can: building to soaking, soaking to promoting,
    /// one wave to the next, the last wave to released.
    fn advance(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
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
                self.defer_promotion("freeze", reason, now, effects);
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
                effects.push(metric("SoakTime", seconds(now - since), Unit::Seconds, &[]));
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
    fn release(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>, before: State) {
        self.phase = Phase::Released { at: now };
        let shipped = self.components.values().filter(|r| r.ships()).count();
        let reason = format!("{shipped} of {} components released", self.components.len());
        self.record(now, &Actor::system(), "released", Some(reason), before);
        effects.push(metric(
            "TimeToRelease",
            seconds(now - self.cut_at),
            Unit::Seconds,
            &[],
        ));
        effects.push(metric("Releases", 1.0, Unit::Count, &[]));
        if let Some(oldest) = self.oldest_commit_at() {
            effects.push(metric(
                "LeadTime",
                // A commit clock ahead of ours is no negative lead time.
                seconds(now - oldest).max(0.0),
                Unit::Seconds,
                &[],
            ));
        }
        if let Some(e) = &self.expedited {
            // An expedited train is a fix for what the last release broke.
            effects.push(metric(
                "ChangeFailures",
                1.0,
                Unit::Count,
                &[("Cause", "expedited_fix")],
            ));
            effects.push(metric(
                "TimeToRestore",
                seconds(now - e.at),
                Unit::Seconds,
                &[("Cause", "expedited_fix")],
            ));
        }
    }

    /// A promotion that is due but waits for approvals or a firing alarm is recorded once
    /// per gate, so the history and the metrics say why the train did not move.
    fn defer_on_gates(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
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
                "approval",
                format!(
                    "promotion due, waiting for approvals ({} of {})",
                    self.approvals.len(),
                    self.policy.approvals
                ),
            ));
        }
        if !self.alarms_firing.is_empty() {
            let firing: Vec<&str> = self.alarms_firing.iter().map(String::as_str).collect();
            waiting.push((
                "alarm",
                format!(
                    "promotion due, waiting for alarm(s) to clear: {}",
                    firing.join(", ")
                ),
            ));
        }
        for (cause, reason) in waiting {
            if self.deferred_for.insert(cause.to_owned()) {
                self.defer_promotion(cause, reason, now, effects);
            }
        }
    }

    /// Records why a due promotion waits, tells the bus, and counts it by cause.
    fn defer_promotion(
        &mut self,
        cause: &str,
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
            "PromotionsDeferred",
            1.0,
            Unit::Count,
            &[("Cause", cause)],
        ));
    }

    /// When the oldest commit this train ships was committed, where the builder could read it.
    pub fn oldest_commit_at(&self) -> Option<DateTime<Utc>> {
        self.components
            .values()
            .filter(|r| r.ships())
            .filter_map(|r| r.changelog.as_ref()?.oldest_commit_at)
            .min()
    }

    /// How long this unsettled train has been in its state, for the stuck-train alarms
    /// (emitted by each reconcile pass); `None` once the train has ended.
    pub fn time_in_state(&self, now: DateTime<Utc>) -> Option<Metric> {
        if self.is_terminal() {
            return None;
        }
        let since = self
            .history
            .iter()
            .rev()
            .find(|r| r.from != r.to)
            .map_or(self.cut_at, |r| r.at);
        Some(new_metric(
            "TimeInState",
            seconds(now - since).max(0.0),
            Unit::Seconds,
            &[("State", self.state().as_str())],
        ))
    }

    /// A rollback ends when every rolled-back component's production build succeeded.
    fn finish_rollback(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
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
            effects.push(metric("Rollbacks", 1.0, Unit::Count, &[]));
            effects.push(metric(
                "TimeToRestore",
                seconds(now - since),
                Unit::Seconds,
                &[("Cause", "rollback")],
            ));
        }
    }

    fn start_wave(
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

    fn first_wave_after(&self, wave: u32) -> Option<u32> {
        self.components
            .values()
            .filter(|r| r.ships() && r.spec.wave > wave)
            .map(|r| r.spec.wave)
            .min()
    }

    fn wave_done(&self, wave: u32) -> bool {
        self.components
            .values()
            .filter(|r| r.ships() && r.spec.wave == wave)
            .all(|r| {
                r.production
                    .as_ref()
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
    }

    fn all_shipping_done(&self, stage: Stage) -> bool {
        let mut shipping = self.components.values().filter(|r| r.ships()).peekable();
        shipping.peek().is_some()
            && shipping.all(|r| {
                r.build(stage)
                    .is_some_and(|b| b.status == BuildStatus::Succeeded)
            })
    }
}

fn local_time(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
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

fn metric(name: &str, value: f64, unit: Unit, dims: &[(&str, &str)]) -> Effect {
    Effect::EmitMetric(new_metric(name, value, unit, dims))
}

fn new_metric(name: &str, value: f64, unit: Unit, dims: &[(&str, &str)]) -> Metric {
    Metric {
        name: name.to_owned(),
        value,
        unit,
        dimensions: dims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}
