//! The narrow interfaces the engine drives. Each has a local-mode implementation
//! (`train-local`) and an AWS one; both keep their storage formats to themselves.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use train_core::train::{Changelog, ComponentRun};
use train_core::{
    AlarmName, Announcement, BuildId, BuildOutcome, BuildRequest, Commit, ComponentName, Metric,
    Pending, ScheduleControls, State, Train, TrainId, TrainName, Transition,
};

/// A train's version in the store; every commit is conditional on it.
pub type Version = u64;

/// A fault in an adapter. `retryable` faults (throttling, timeouts, a busy database) leave
/// the work pending for the next pass; the others need a person.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub message: String,
    pub retryable: bool,
    /// The error underneath (an SDK call's, a database's), for whoever walks
    /// [`std::error::Error::source`]; the message already says what it means here.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            source: None,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            source: None,
        }
    }

    /// The same fault, keeping `cause` as its source.
    #[must_use]
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(cause));
        self
    }
}

/// A train as stored, with the version to commit against.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub train: Train,
    pub version: Version,
}

/// The outcome of creating a train: a lost race is an outcome, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created,
    AlreadyExists,
}

/// The outcome of a conditional commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Committed(Version),
    /// Someone else committed first; load again and re-decide.
    Conflict,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub name: Option<TrainName>,
    pub state: Option<State>,
    pub limit: usize,
}

/// Trains. A commit stores the new train and its pending effects (the [`Outbox`]) in one
/// conditional write, so a decision and what it must cause are never separated.
#[async_trait]
pub trait TrainStore: Send + Sync {
    /// Stores a freshly cut train and its effects unless a train with its id exists.
    async fn insert(&self, transition: &Transition) -> Result<Inserted, PortError>;
    /// A strongly consistent read.
    async fn load(&self, id: &TrainId) -> Result<Option<Stored>, PortError>;
    /// Stores `transition` if the train is still at `before.version`. `before` is the train
    /// the transition was decided from, so a store can write only what changed.
    async fn commit(&self, before: &Stored, transition: &Transition) -> Result<Saved, PortError>;
    /// One component of a train as last committed (`None`: no such train or component).
    /// A store may read only that component; the default reads the whole train.
    async fn component(
        &self,
        id: &TrainId,
        name: &ComponentName,
    ) -> Result<Option<ComponentRun>, PortError> {
        Ok(self
            .load(id)
            .await?
            .and_then(|mut s| s.train.components.remove(name)))
    }
    /// Trains, newest cut first.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Train>, PortError>;
    /// Trains that may still change: not settled, or with effects still pending.
    async fn unsettled(&self) -> Result<Vec<TrainId>, PortError>;
    /// The train is settled and its outbox empty at `version`: it may leave `unsettled`.
    /// A store that derives `unsettled` from the data can ignore this.
    async fn close(&self, id: &TrainId, version: Version) -> Result<(), PortError>;
}

/// The effects a commit stored with the train, until they have run.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Effects committed but not yet marked done, oldest first.
    async fn pending(&self, id: &TrainId) -> Result<Vec<Pending>, PortError>;
    /// Marks effects done, many at once; marking one twice is harmless.
    async fn mark_done(&self, id: &TrainId, effects: &[u64]) -> Result<(), PortError>;
}

/// The schedule's controls (pause, skip-next) per train name.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// The schedule controls of a train name (pause, skip-next) and their version; version
    /// 0 and the defaults when none were ever stored.
    async fn controls(&self, name: &TrainName) -> Result<(ScheduleControls, Version), PortError>;
    /// Stores the controls if they are still at `version` (0: never stored).
    async fn set_controls(
        &self,
        name: &TrainName,
        controls: &ScheduleControls,
        version: Version,
    ) -> Result<Saved, PortError>;
}

/// Everything the engine keeps: one store is all three (a table, a database), so a
/// commit can write the train and its outbox together.
pub trait Store: TrainStore + Outbox + ScheduleStore {}

impl<T: TrainStore + Outbox + ScheduleStore + ?Sized> Store for T {}

/// A build the builder accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub build_id: BuildId,
    /// The commit being built, when the builder knows it at start.
    pub commit: Option<Commit>,
    /// Where a person reads the build's log.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Running,
    Finished(BuildOutcome),
}

/// Runs builds. `start` is idempotent by the request's key: a second call returns the first
/// build, never a new one.
#[async_trait]
pub trait Builder: Send + Sync {
    async fn start(&self, request: &BuildRequest) -> Result<Started, PortError>;
    /// Called with a round's build requests before any of them is started, so a builder
    /// that must remember each key it starts can claim them all in a few batched writes
    /// instead of one write per build. A key it could not claim here is claimed by
    /// `start` as usual. The default does nothing.
    async fn claim_starts(&self, _requests: &[&BuildRequest]) -> Result<(), PortError> {
        Ok(())
    }
    /// What each build is doing now (builds the builder does not know are left out).
    async fn poll(&self, builds: &[BuildId]) -> Result<Vec<(BuildId, Observed)>, PortError>;
    async fn stop(&self, build: &BuildId) -> Result<(), PortError>;
    /// The commits of `component` from `from` (the previous release's pin) to `to` in `source`, as far as
    /// this builder can read them; `build` is the staging build that ran `to`.
    async fn changelog(
        &self,
        _component: &ComponentName,
        _source: &str,
        from: Option<&Commit>,
        to: &Commit,
        _build: Option<&BuildId>,
    ) -> Result<Changelog, PortError> {
        Ok(Changelog::empty(from, to))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    /// The key was written before (a retried effect): the first write stands.
    AlreadyExists,
}

/// Write-once manifests, one per train and state.
#[async_trait]
pub trait Manifests: Send + Sync {
    async fn put(&self, train: &TrainId, state: State, body: &[u8]) -> Result<Written, PortError>;
}

/// Where state changes are announced. Delivery is at least once.
#[async_trait]
pub trait EventsOut: Send + Sync {
    async fn publish(&self, announcement: &Announcement) -> Result<(), PortError>;
}

#[async_trait]
pub trait Metrics: Send + Sync {
    async fn emit(
        &self,
        train: &TrainId,
        metric: &Metric,
        at: DateTime<Utc>,
    ) -> Result<(), PortError>;
}

/// What the alarm service said about the named alarms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmStates {
    /// In ALARM now.
    pub firing: Vec<AlarmName>,
    /// Named but unknown to the service (misspelled or deleted): the gate cannot be read,
    /// so it stays closed.
    pub missing: Vec<AlarmName>,
}

/// The gating alarms: which of the named alarms are in ALARM now. Read before a train can
/// promote, so a missed alarm event never lets one through.
#[async_trait]
pub trait Alarms: Send + Sync {
    async fn firing(&self, names: &[AlarmName]) -> Result<Vec<AlarmName>, PortError>;
    /// Firing and missing alarms. The default knows no missing alarms (a port whose alarms
    /// always exist, such as local mode's flags).
    async fn states(&self, names: &[AlarmName]) -> Result<AlarmStates, PortError> {
        Ok(AlarmStates {
            firing: self.firing(names).await?,
            missing: Vec::new(),
        })
    }
}

/// Every port the engine needs, built once per process.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub builder: Arc<dyn Builder>,
    pub manifests: Arc<dyn Manifests>,
    pub events: Arc<dyn EventsOut>,
    pub metrics: Arc<dyn Metrics>,
    pub alarms: Arc<dyn Alarms>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// No alarm is ever firing: for deployments and tests without gating alarms.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAlarms;

#[async_trait]
impl Alarms for NoAlarms {
    async fn firing(&self, _: &[AlarmName]) -> Result<Vec<AlarmName>, PortError> {
        Ok(Vec::new())
    }
}
