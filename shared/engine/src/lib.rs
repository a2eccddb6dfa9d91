//! Between the pure core and the adapters: the ports, the service layer that commits each
//! decision together with its effects (the outbox), and the HTTP API both deployments serve.
//!
//! No AWS crate and no async runtime here either: the ports are traits, and whoever builds
//! the [`Engine`] picks the adapters (local mode: `train-local`; AWS: the adapter crate).
//!
//! # Layout
//! - [`ports`]: the store (`TrainStore`, `Outbox`, `ScheduleStore`, together `Store`),
//!   `Builder`, `Manifests`, `EventsOut`, `Metrics`, `Alarms`.
//! - [`service`]: [`Engine`]: cut, promotion due, apply an event, reconcile; which trains
//!   a cut supersedes and which release a rollback returns to, from what the store holds.
//! - [`api`]: routes, request and response types, one `handle` function.

pub mod api;
pub mod ports;
pub mod service;

pub use ports::{
    Alarms, Builder, EventsOut, Manifests, Metrics, Observed, Outbox, PortError, Ports,
    ScheduleStore, Started, Store, TrainStore,
};
pub use service::{Applied, CaughtUp, Cut, Engine, EngineError, Reconciled, ScheduleCommand};
