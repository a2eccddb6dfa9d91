//! The train's data: stages, builds, component runs, phases, the visible state, holds and
//! the audit records.

#[allow(clippy::wildcard_imports)]
use super::*;

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
pub(super) const NOTICES: [&str; 2] = ["promotion deferred", PROMOTION_SOON];

/// The heads-up a soaking train gives before a promote firing (`notify_before`).
pub const PROMOTION_SOON: &str = "promotion soon";

/// After this many faults in a row a build counts as failed: the build system is not
/// coming back by itself, and a person must look.
pub const MAX_FAULTS: u32 = 3;

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub(super) fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Build {
    pub(super) fn requested(attempt: u32, now: DateTime<Utc>) -> Self {
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

    pub(super) fn is_active(&self) -> bool {
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

    pub(super) fn build_mut(&mut self, stage: Stage) -> Option<&mut Build> {
        match stage {
            Stage::Staging => self.staging.as_mut(),
            Stage::Production => self.production.as_mut(),
        }
    }

    pub(super) fn ships(&self) -> bool {
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
    pub alarms: Vec<AlarmName>,
    #[serde(default)]
    pub on_alarm: AlarmPolicy,
    #[serde(default)]
    pub restart_soak_after_alarm: bool,
    #[serde(default)]
    pub staging_order: StagingOrder,
    /// The pause after each production wave before the next (a component may set its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_bake: Option<Span>,
    #[serde(default)]
    pub expedite_skips_bake: bool,
    /// Who may approve (patterns, see [`crate::config::may_approve`]); empty: anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
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

/// Why a due promotion waits: the `Cause` of the `PromotionsDeferred` metric, and what a
/// train remembers so it counts each gate once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deferral {
    Freeze,
    Approval,
    Alarm,
}

impl Deferral {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Freeze => "freeze",
            Self::Approval => "approval",
            Self::Alarm => "alarm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub by: Actor,
    pub reason: Reason,
    pub at: DateTime<Utc>,
}

/// An approval: who gave it, why, when, and the commits it approved. A change of any pin
/// voids it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Actor,
    pub reason: Reason,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub pins: BTreeMap<ComponentName, Commit>,
}

/// The pause between two production waves: the wave that shipped bakes until `until`, then
/// the next starts if no alarm fired, no hold and no freeze stands in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bake {
    /// The wave that shipped.
    pub wave: u32,
    /// The wave that starts next.
    pub next: u32,
    pub until: DateTime<Utc>,
    /// Alarms watched during the bake besides the gating alarms (the wave's `wave_alarms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmName>,
    /// Why the next wave still waits after the bake, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
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
