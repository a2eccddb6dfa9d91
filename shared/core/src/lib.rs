//! The release train's pure core.
//!
//! Everything that decides lives here, and nothing here performs I/O, reads a clock, spawns
//! a task or knows about AWS: time comes in as an argument and side effects go out as data.
//! That keeps every rule testable in microseconds, and lets the Lambda functions and local
//! mode share one behaviour.
//!
//! # Layout
//! - [`train`]: the state machine, `Train::on(event, now) -> Result<Transition, Rejection>`,
//!   its events, effects and rejections.
//! - [`config`]: `release-train.toml`, parsed once, with errors naming the line and the fix.
//! - [`schedule`]: EventBridge Scheduler `cron`/`rate`/`at` expressions in a time zone.
//! - [`freeze`]: freeze windows, recurring and one-off.
//! - [`ids`], [`span`]: values that exist only in valid form.
//! - [`text`]: what may be printed as it is, and escaping for what may not.

pub mod config;
pub mod controls;
pub mod freeze;
pub mod ids;
pub mod metrics;
pub mod schedule;
pub mod span;
pub mod text;
pub mod train;

pub use config::{AlarmPolicy, Config, ConfigError, FailurePolicy};
pub use controls::ScheduleControls;
pub use ids::{Actor, BuildId, Commit, ComponentName, Reason, TrainId, TrainName};
pub use schedule::Schedule;
pub use span::Span;
pub use train::{
    Announcement, Blocker, Build, BuildOutcome, BuildRequest, BuildStatus, Effect, Event, Metric,
    Pending, Phase, Rejection, RejectionKind, Revision, Stage, State, Train, Transition,
};
