//! The vocabulary around the state machine: what it reacts to ([`Event`]), what it asks
//! the edges to do ([`Effect`]), what it announces, and how it refuses ([`Rejection`]).

#[allow(clippy::wildcard_imports)]
use super::*;

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

impl Announcement {
    /// One line a person reads in an email or a chat: the train, what happened, who and
    /// why, and the command that acts on it now, e.g. "weekly-2026-W48: cancel by
    /// local:alice (soaking -> cancelled): checkout errors in staging".
    pub fn message(&self) -> String {
        let act = self
            .next_step()
            .map(|step| format!("; {step}"))
            .unwrap_or_default();
        format!("{}{}{act}", self.headline(), self.details())
    }

    /// What happened to which train: "weekly-2026-W48: cancel".
    fn headline(&self) -> String {
        let what = self.action.clone().unwrap_or_else(|| self.to.to_string());
        format!("{}: {what}", self.train)
    }

    /// Who, the change of state and why: " by local:alice (soaking -> cancelled): ...".
    fn details(&self) -> String {
        let change = match self.from {
            Some(from) if from != self.to => format!(" ({from} -> {})", self.to),
            _ => String::new(),
        };
        format!(
            " by {}{change}{}",
            crate::text::printable(self.actor.as_str()),
            self.why()
        )
    }

    fn why(&self) -> String {
        self.reason
            .as_deref()
            .map(|r| format!(": {}", crate::text::one_line(r)))
            .unwrap_or_default()
    }

    /// The command that acts on the train now ("to stop it: trainctl cancel ..."), unless
    /// the reason already names one or nothing applies.
    fn next_step(&self) -> Option<String> {
        let id = &self.train;
        match self.to {
            _ if self.why().contains("trainctl ") => None,
            State::Building | State::Soaking => {
                Some(format!("to stop it: trainctl cancel {id} -r REASON"))
            }
            State::Held => Some(format!("to go on: trainctl resume {id} -r REASON")),
            State::Failed => Some(format!("to build again: trainctl retry {id} -r REASON")),
            State::Released => Some(format!("to undo it: trainctl rollback {id} -r REASON")),
            _ => None,
        }
    }

    /// The change as a chat notification: the custom notification format of AWS Chatbot
    /// (Amazon Q Developer in chat applications), which renders an SNS message with
    /// `"version": "1.0"` and `"source": "custom"` and drops anything else ("custom
    /// notifications must use the following event format", Administrator Guide, "Custom
    /// notifications using Amazon Q Developer in chat applications"). One thread per train
    /// (`threadId`). The template's chat rule sends exactly this object to the chat topic.
    pub fn notification(&self) -> serde_json::Value {
        let mark = match self.to {
            State::Released => ":white_check_mark:",
            State::Failed | State::Cancelled => ":x:",
            State::Held => ":double_vertical_bar:",
            State::Promoting | State::RollingBack => ":rocket:",
            State::Soaking => ":hourglass_flowing_sand:",
            _ => ":steam_locomotive:",
        };
        let headline = self.headline();
        serde_json::json!({
            "version": "1.0",
            "source": "custom",
            "id": format!("{}:{}:{}", self.train, self.to, self.at.timestamp_millis()),
            "content": {
                "textType": "client-markdown",
                "title": format!("{mark} {headline}"),
                "description": format!("{headline}{}", self.details()),
                "nextSteps": self.next_step().into_iter().collect::<Vec<_>>(),
                "keywords": [self.train.as_str(), self.to.to_string()],
            },
            "metadata": {
                "threadId": self.train.as_str(),
                "summary": headline,
                "eventType": self.to.to_string(),
                "additionalContext": {
                    "train": self.train.as_str(),
                    "state": self.to.to_string(),
                    "actor": self.actor.as_str(),
                },
            },
        })
    }

    /// The event's detail as the bus carries it: every field, [`Announcement::message`]
    /// and [`Announcement::notification`].
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = serde_json::to_value(self).unwrap_or_default();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("message".into(), self.message().into());
            fields.insert("notification".into(), self.notification());
        }
        detail
    }
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
    /// The promote firing at `scheduled` was never delivered; a reconcile pass treats it as
    /// delivered (see [`crate::catchup`]).
    PromotionOwed {
        scheduled: DateTime<Utc>,
    },
    /// Time passed: re-check timers and gates.
    Tick,
    /// A promote firing is `notify_before` away: a soaking train that would promote then
    /// says so, once per firing.
    PromotionSoon {
        firing: DateTime<Utc>,
    },
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
        alarm: AlarmName,
        firing: bool,
    },
    /// A gating alarm the alarm service does not know (misspelled or deleted): the gate
    /// cannot be read, so it blocks promotion as `alarm:NAME (not found)` until the alarm
    /// exists and is OK (an `AlarmChanged` with `firing: false`).
    AlarmMissing {
        alarm: AlarmName,
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
    /// The caller may not do this (an approval from someone not among `approvers`).
    Forbidden,
}

/// A command or event that does not apply, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

pub(super) fn reject<T>(kind: RejectionKind, message: String) -> Result<T, Rejection> {
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
        firing: Vec<AlarmName>,
    },
    /// Wave `wave` shipped and bakes; wave `next` starts at `until` if nothing fires.
    Baking {
        wave: u32,
        next: u32,
        until: DateTime<Utc>,
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
            Blocker::Alarms { firing } => {
                let names: Vec<&str> = firing.iter().map(AlarmName::as_str).collect();
                format!("alarm(s) in ALARM: {}", names.join(", "))
            }
            Blocker::Approvals { have, need } => {
                format!("{have} of {need} approvals; trainctl approve ID -r WHY")
            }
            Blocker::Baking { wave, next, until } => format!(
                "baking wave {wave}, wave {next} at {}",
                local_time(*until, zone)
            ),
        }
    }
}
