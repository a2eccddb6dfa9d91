//! Local mode: the train on one machine, with no AWS. Real parts throughout: an embedded
//! SQLite store with the same conditional-write semantics as DynamoDB, real git worktrees
//! at the pinned commit, real bash running each buildspec's phases.
//!
//! # Layout
//! - [`store`]: `SqliteStore`, the train store, its outbox, the schedule's controls, and
//!   the scheduler's cursor (`ScheduleCursor`, local mode's own).
//! - [`builder`]: `LocalBuilder`, mirrors, worktrees, detached exactly-once builds.
//! - [`buildspec`]: buildspec 0.2 to a bash script with CodeBuild's phase rules.
//! - [`outputs`]: manifests, events and metrics as files.
//! - [`clock`]: the system clock and a simulated one that jumps to the next due time.
//! - [`runner`]: the local scheduler loop.
//!
//! A data directory belongs to one process at a time: [`LocalMode::open`] locks it.

pub mod builder;
pub mod buildspec;
pub mod clock;
pub mod outputs;
pub mod runner;
pub mod store;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use train_core::Config;
use train_engine::{Engine, PortError, Ports};

pub use builder::LocalBuilder;
pub use clock::{Clock, SimulatedClock, SystemClock};
pub use outputs::{FileAlarms, FileManifests, LogEvents, LogMetrics};
pub use runner::{Runner, Step};
pub use store::{ScheduleCursor, SqliteStore};

/// The engine wired to local adapters over one data directory.
#[derive(Debug)]
pub struct LocalMode {
    pub engine: Engine,
    pub builder: Arc<LocalBuilder>,
    pub manifests: Arc<FileManifests>,
    pub alarms: Arc<FileAlarms>,
    /// The scheduler's cursor (in the same database as the trains).
    pub cursor: Arc<SqliteStore>,
    pub data_dir: PathBuf,
    _lock: File,
}

impl LocalMode {
    /// The scheduler and reconcile loop over this engine, on `clock`.
    pub fn runner(&self, clock: Arc<dyn Clock>, poll_every: std::time::Duration) -> Runner {
        Runner::new(self.engine.clone(), self.cursor.clone(), clock, poll_every)
    }

    /// Opens (creating if needed) `data_dir` for `config`, whose relative sources are
    /// relative to `config_dir`. Both are made absolute here, once: builds run `git -C`
    /// from their own directories, so a relative path would name another place there.
    pub fn open(
        config: Arc<Config>,
        config_dir: &Path,
        data_dir: &Path,
    ) -> Result<Self, PortError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| PortError::fatal(format!("cannot create {}: {e}", data_dir.display())))?;
        let absolute = |p: &Path| {
            std::fs::canonicalize(p).map_err(|e| PortError::fatal(format!("{}: {e}", p.display())))
        };
        let data_dir = absolute(data_dir)?;
        let data_dir = data_dir.as_path();
        let config_dir = &absolute(config_dir)?;
        let lock = File::create(data_dir.join("lock"))
            .map_err(|e| PortError::fatal(format!("cannot create the lock file: {e}")))?;
        if lock.try_lock().is_err() {
            return Err(PortError::fatal(format!(
                "{} is in use by another trainctl; stop it or choose another --data directory",
                data_dir.display()
            )));
        }
        let store = Arc::new(SqliteStore::open(&data_dir.join("trains.sqlite"))?);
        let builder = Arc::new(LocalBuilder::new(data_dir, config_dir)?);
        let manifests = Arc::new(FileManifests::new(data_dir));
        let alarms = Arc::new(FileAlarms::new(data_dir));
        let ports = Ports {
            store: store.clone(),
            builder: builder.clone(),
            manifests: manifests.clone(),
            events: Arc::new(LogEvents::new(data_dir)),
            metrics: Arc::new(LogMetrics::new(data_dir)),
            alarms: alarms.clone(),
        };
        Ok(Self {
            engine: Engine::new(ports, config),
            builder,
            manifests,
            alarms,
            cursor: store,
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
        })
    }
}
