//! The train store on an embedded SQLite file, with the DynamoDB store's semantics: a
//! commit is conditional on the train's version and carries its outbox in the same
//! transaction.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use train_core::{Pending, ScheduleControls, State, Train, TrainId, TrainName, Transition};
use train_engine::ports::{Inserted, ListQuery, Outbox, Saved, ScheduleStore, Stored, Version};
use train_engine::{PortError, TrainStore};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS trains (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    cut_at  TEXT NOT NULL,
    state   TEXT NOT NULL,
    settled INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trains_by_name ON trains (name, cut_at);
CREATE TABLE IF NOT EXISTS outbox (
    train_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    body     TEXT NOT NULL,
    done     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (train_id, seq)
);
CREATE TABLE IF NOT EXISTS cursors (
    schedule TEXT PRIMARY KEY,
    at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS controls (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);
";

/// Local mode's store. Calls are short synchronous SQLite statements made while holding
/// the connection's lock; at local scale they take microseconds, so they run inline on the
/// async task rather than on a blocking pool.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn fault(e: rusqlite::Error) -> PortError {
    // A busy or locked database clears up; anything else is worth a person's look.
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let message = format!("sqlite: {e}");
    let fault = if busy {
        PortError::retryable(message)
    } else {
        PortError::fatal(message)
    };
    fault.caused_by(e)
}

fn json_fault(e: serde_json::Error) -> PortError {
    PortError::fatal(format!("stored train does not decode: {e}")).caused_by(e)
}

fn decode_all<T: serde::de::DeserializeOwned>(bodies: &[String]) -> Result<Vec<T>, PortError> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(json_fault))
        .collect()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, PortError> {
        let conn = Connection::open(path).map_err(fault)?;
        // WAL survives a killed process with every committed transaction intact.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )
        .and_then(|()| conn.execute_batch(SCHEMA))
        .map_err(fault)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction (SQLite
        // rolls it back), so a poisoned lock is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn write_outbox(
    tx: &rusqlite::Transaction<'_>,
    id: &TrainId,
    effects: &[Pending],
) -> Result<(), PortError> {
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO outbox (train_id, seq, body) VALUES (?1, ?2, ?3)")
        .map_err(fault)?;
    for p in effects {
        let body = serde_json::to_string(p).map_err(json_fault)?;
        stmt.execute(params![
            id.as_str(),
            i64::try_from(p.id).unwrap_or(i64::MAX),
            body
        ])
        .map_err(fault)?;
    }
    Ok(())
}

fn row_values(train: &Train) -> Result<(String, String, bool, String), PortError> {
    let body = serde_json::to_string(train).map_err(json_fault)?;
    Ok((
        ts(train.cut_at),
        train.state().to_string(),
        train.is_settled(),
        body,
    ))
}

#[async_trait]
impl TrainStore for SqliteStore {
    async fn insert(&self, t: &Transition) -> Result<Inserted, PortError> {
        let (cut_at, state, settled, body) = row_values(&t.train)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fault)?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO trains (id, name, cut_at, state, settled, version, body) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                params![t.train.id.as_str(), t.train.name.as_str(), cut_at, state, settled, body],
            )
            .map_err(fault)?;
        if n == 0 {
            return Ok(Inserted::AlreadyExists);
        }
        write_outbox(&tx, &t.train.id, &t.effects)?;
        tx.commit().map_err(fault)?;
        Ok(Inserted::Created)
    }

    async fn load(&self, id: &TrainId) -> Result<Option<Stored>, PortError> {
        let row: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT body, version FROM trains WHERE id = ?1",
                [id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(fault)?;
        row.map(|(body, version)| {
            let train = serde_json::from_str(&body).map_err(json_fault)?;
            Ok(Stored {
                train,
                version: Version::try_from(version).unwrap_or(0),
            })
        })
        .transpose()
    }

    async fn commit(&self, before: &Stored, t: &Transition) -> Result<Saved, PortError> {
        let expected = before.version;
        let (_, state, settled, body) = row_values(&t.train)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fault)?;
        let expected = i64::try_from(expected).unwrap_or(i64::MAX);
        let n = tx
            .execute(
                "UPDATE trains SET state = ?1, settled = ?2, body = ?3, version = version + 1 WHERE id = ?4 AND version = ?5",
                params![state, settled, body, t.train.id.as_str(), expected],
            )
            .map_err(fault)?;
        if n == 0 {
            return Ok(Saved::Conflict);
        }
        write_outbox(&tx, &t.train.id, &t.effects)?;
        tx.commit().map_err(fault)?;
        Ok(Saved::Committed(
            Version::try_from(expected + 1).unwrap_or(0),
        ))
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Train>, PortError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT body FROM trains WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY cut_at DESC, id DESC LIMIT ?3",
            )
            .map_err(fault)?;
        let limit = i64::try_from(if q.limit == 0 { 100 } else { q.limit }).unwrap_or(100);
        let bodies: Vec<String> = stmt
            .query_map(
                params![
                    q.name.as_ref().map(TrainName::as_str),
                    q.state.map(State::as_str),
                    limit
                ],
                |r| r.get(0),
            )
            .and_then(Iterator::collect)
            .map_err(fault)?;
        decode_all(&bodies)
    }

    async fn unsettled(&self) -> Result<Vec<TrainId>, PortError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM trains WHERE settled = 0
                 UNION SELECT DISTINCT train_id FROM outbox WHERE done = 0
                 ORDER BY 1",
            )
            .map_err(fault)?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(fault)?;
        Ok(ids.iter().filter_map(|i| TrainId::parse(i).ok()).collect())
    }

    async fn close(&self, _: &TrainId, _: Version) -> Result<(), PortError> {
        Ok(()) // `unsettled` is a query over the trains and the outbox
    }
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn pending(&self, id: &TrainId) -> Result<Vec<Pending>, PortError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM outbox WHERE train_id = ?1 AND done = 0 ORDER BY seq")
            .map_err(fault)?;
        let bodies: Vec<String> = stmt
            .query_map([id.as_str()], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(fault)?;
        decode_all(&bodies)
    }

    async fn mark_done(&self, id: &TrainId, effects: &[u64]) -> Result<(), PortError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(fault)?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE outbox SET done = 1 WHERE train_id = ?1 AND seq = ?2")
                .map_err(fault)?;
            for effect in effects {
                stmt.execute(params![
                    id.as_str(),
                    i64::try_from(*effect).unwrap_or(i64::MAX)
                ])
                .map_err(fault)?;
            }
        }
        tx.commit().map_err(fault)
    }
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn controls(&self, name: &TrainName) -> Result<(ScheduleControls, Version), PortError> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT version, body FROM controls WHERE name = ?1",
                [name.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(fault)?;
        match row {
            None => Ok((ScheduleControls::default(), 0)),
            Some((version, body)) => {
                let controls = serde_json::from_str(&body)
                    .map_err(|e| PortError::fatal(format!("stored controls of {name}: {e}")))?;
                Ok((controls, u64::try_from(version).unwrap_or(0)))
            }
        }
    }

    async fn set_controls(
        &self,
        name: &TrainName,
        controls: &ScheduleControls,
        version: Version,
    ) -> Result<Saved, PortError> {
        let body = serde_json::to_string(controls)
            .map_err(|e| PortError::fatal(format!("controls of {name}: {e}")))?;
        let expected = i64::try_from(version).unwrap_or(i64::MAX);
        let changed = if version == 0 {
            self.conn().execute(
                "INSERT OR IGNORE INTO controls (name, version, body) VALUES (?1, 1, ?2)",
                params![name.as_str(), body],
            )
        } else {
            self.conn().execute(
                "UPDATE controls SET body = ?1, version = version + 1 WHERE name = ?2 AND version = ?3",
                params![body, name.as_str(), expected],
            )
        }
        .map_err(fault)?;
        Ok(if changed == 1 {
            Saved::Committed(version + 1)
        } else {
            Saved::Conflict
        })
    }
}

/// The last firing `trainctl serve`'s scheduler handled, per schedule: local mode's own,
/// since on AWS Scheduler fires and nothing needs remembering.
#[async_trait]
pub trait ScheduleCursor: Send + Sync + std::fmt::Debug {
    /// The last schedule firing handled for `schedule`.
    async fn cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, PortError>;
    async fn set_cursor(&self, schedule: &str, at: DateTime<Utc>) -> Result<(), PortError>;
}

#[async_trait]
impl ScheduleCursor for SqliteStore {
    async fn cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let raw: Option<String> = self
            .conn()
            .query_row(
                "SELECT at FROM cursors WHERE schedule = ?1",
                [schedule],
                |r| r.get(0),
            )
            .optional()
            .map_err(fault)?;
        Ok(raw
            .and_then(|r| DateTime::parse_from_rfc3339(&r).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    async fn set_cursor(&self, schedule: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        self.conn()
            .execute(
                "INSERT INTO cursors (schedule, at) VALUES (?1, ?2) ON CONFLICT (schedule) DO UPDATE SET at = excluded.at",
                params![schedule, ts(at)],
            )
            .map(drop)
            .map_err(fault)
    }
}
