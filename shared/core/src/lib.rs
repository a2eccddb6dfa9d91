//! The release train's pure core.
//!
//! The rules of a train live here, and nothing here performs I/O, reads a clock, spawns a
//! task or calls AWS: time comes in as an argument and side effects go out as data. That
//! keeps every rule testable in microseconds, and lets the Lambda functions and local mode
//! share one behaviour. Two pure renderings of the configuration for AWS are here too,
//! because they are the configuration seen from CloudFormation and CloudWatch: the SAM
//! parameters (`config`) and the dashboard's JSON (`metrics`), with the Embedded Metric
//! Format line a metric is written as. Every decision is here, including which trains a cut
//! supersedes (`Train::supersedes`) and which release a rollback returns to
//! (`Train::rollback_target`); the engine (`train-engine`) only reads the store to ask.
//!
//! # Layout
//! - [`train`]: the state machine, `Train::on(event, now) -> Result<Transition, Rejection>`,
//!   its events, effects and rejections (a folder, one file per concern).
//! - [`command`]: the operators' commands on a train and on the schedule.
//! - [`config`]: `release-train.toml`, parsed once, with errors naming the line and the fix.
//! - [`controls`]: the schedule's pause, skip-next and audit trail.
//! - [`schedule`]: EventBridge Scheduler `cron`/`rate`/`at` expressions in a time zone.
//! - [`catchup`]: which undelivered firings a reconcile pass makes up for, and which it
//!   notes as missed.
//! - [`freeze`]: freeze windows, recurring and one-off.
//! - [`metrics`]: the metric names and units, their EMF lines, and the dashboard.
//! - [`ids`], [`span`]: values that exist only in valid form.
//! - [`text`]: what may be printed as it is, and escaping for what may not.

pub mod catchup;
pub mod command;
pub mod config;
pub mod controls;
pub mod cost;
pub mod freeze;
pub mod ids;
pub mod metrics;
pub mod schedule;
pub mod span;
pub mod text;
pub mod train;

pub use command::{ScheduleCommand, TrainCommand};
pub use config::{AlarmPolicy, Config, ConfigError, FailurePolicy};
pub use controls::ScheduleControls;
pub use ids::{Actor, AlarmName, BuildId, Commit, ComponentName, Reason, TrainId, TrainName};
pub use schedule::Schedule;
pub use span::Span;
pub use train::{
    Announcement, Blocker, Build, BuildOutcome, BuildRequest, BuildStatus, Effect, Event, Metric,
    Pending, Phase, Rejection, RejectionKind, Revision, Stage, State, Train, Transition,
};
