//! Local stand-ins for S3 manifests, the EventBridge bus, CloudWatch metrics and alarm
//! states: files in the data directory, plus structured log lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::info;
use train_core::{AlarmName, Announcement, Metric, State, TrainId};
use train_engine::ports::Written;
use train_engine::{Alarms, EventsOut, Manifests, Metrics, PortError};

fn io(context: &str, e: &std::io::Error) -> PortError {
    PortError::retryable(format!("{context}: {e}"))
}

fn append_line(path: &Path, line: &str) -> Result<(), PortError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io("opening a log file", &e))?;
    writeln!(f, "{line}").map_err(|e| io("appending a log line", &e))
}

/// `manifests/<train>/<state>.json`, each written once.
#[derive(Debug)]
pub struct FileManifests {
    root: PathBuf,
}

impl FileManifests {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("manifests"),
        }
    }

    pub fn path(&self, train: &TrainId, state: State) -> PathBuf {
        self.root.join(train.as_str()).join(format!("{state}.json"))
    }
}

#[async_trait]
impl Manifests for FileManifests {
    async fn put(&self, train: &TrainId, state: State, body: &[u8]) -> Result<Written, PortError> {
        let path = self.path(train, state);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the manifest directory", &e))?;
        }
        // Write then link: the key appears whole or not at all, and only once.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, body).map_err(|e| io("writing a manifest", &e))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Written::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Written::AlreadyExists),
            Err(e) => Err(io("publishing a manifest", &e)),
        }
    }
}

/// Announcements as JSON lines in `events.jsonl` and as log lines.
#[derive(Debug)]
pub struct LogEvents {
    path: PathBuf,
}

impl LogEvents {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("events.jsonl"),
        }
    }
}

#[async_trait]
impl EventsOut for LogEvents {
    async fn publish(&self, a: &Announcement) -> Result<(), PortError> {
        info!(train = %a.train, from = ?a.from, to = %a.to, actor = %a.actor, reason = a.reason.as_deref().unwrap_or(""), "train event");
        let line = json!({ "detail-type": "Release Train State Change", "source": "release-train", "detail": a.detail() });
        append_line(&self.path, &line.to_string())
    }
}

/// Metrics in `metrics.jsonl`, one CloudWatch Embedded Metric Format document per line:
/// the same documents the functions log on AWS.
#[derive(Debug)]
pub struct LogMetrics {
    path: PathBuf,
}

impl LogMetrics {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("metrics.jsonl"),
        }
    }
}

#[async_trait]
impl Metrics for LogMetrics {
    async fn emit(&self, train: &TrainId, m: &Metric, at: DateTime<Utc>) -> Result<(), PortError> {
        let line = train_core::metrics::emf_line(train, m, at);
        append_line(&self.path, &line.to_string())
    }
}

/// Alarm states as files: `alarms/<name>` containing `ALARM` means the alarm is firing
/// (`echo ALARM > DATA/alarms/checkout-5xx`; `echo OK` or deleting it clears it).
#[derive(Debug)]
pub struct FileAlarms {
    dir: PathBuf,
}

impl FileAlarms {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("alarms"),
        }
    }

    /// Sets an alarm's state, as a person or a test would.
    pub fn set(&self, name: &str, firing: bool) -> Result<(), PortError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io("creating the alarms directory", &e))?;
        std::fs::write(self.dir.join(name), if firing { "ALARM\n" } else { "OK\n" })
            .map_err(|e| io("writing an alarm state", &e))
    }
}

#[async_trait]
impl Alarms for FileAlarms {
    async fn firing(&self, names: &[AlarmName]) -> Result<Vec<AlarmName>, PortError> {
        Ok(names
            .iter()
            .filter(|n| {
                !n.as_str().contains('/')
                    && std::fs::read_to_string(self.dir.join(n.as_str()))
                        .is_ok_and(|s| s.trim().eq_ignore_ascii_case("ALARM"))
            })
            .cloned()
            .collect())
    }
}
