//! Shared by the AWS adapter tests: clients on the emulator (moto, started by
//! `tests/run.sh`), and in-memory stand-ins for the ports a test does not exercise.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use train_aws::{CallCounter, DynamoStore};
use train_core::{
    Announcement, BuildId, BuildOutcome, BuildRequest, Config, Metric, State, TrainId,
};
use train_engine::ports::Written;
use train_engine::{
    Builder, Engine, EventsOut, Manifests, Metrics, Observed, PortError, Ports, Started, Store,
};

/// The emulator's address, from the test command.
pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set: run `bash tests/run.sh`, which installs and starts the AWS emulator (moto) on 127.0.0.1")
    })
}

static TABLES: AtomicU64 = AtomicU64::new(0);

/// A DynamoDB store on a fresh table of its own, and a counter of its calls.
pub async fn dynamo() -> (DynamoStore, CallCounter) {
    let config = train_aws::emulator_config(&endpoint()).await;
    let counter = CallCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    let table = format!(
        "trains-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table");
    counter.reset();
    (DynamoStore::new(client, table), counter)
}

pub fn config(components: usize) -> Config {
    let mut text = String::from(
        "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n",
    );
    for i in 0..components {
        let _ = write!(
            text,
            "\n[[component]]\nname = \"c{i:04}\"\nsource = \"repos/c{i}\"\nstaging = {{ buildspec = \"s.yml\" }}\nproduction = {{ buildspec = \"p.yml\" }}\n"
        );
    }
    Config::parse(&text).unwrap()
}

pub fn monday() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A builder whose builds succeed at the next poll, at a commit derived from the request.
/// The store is what these tests examine; scripted builds give both stores identical input.
#[derive(Debug, Default)]
pub struct ScriptedBuilder {
    pub started: Mutex<BTreeMap<String, BuildRequest>>,
    /// Every start call, repeats included.
    pub start_calls: std::sync::atomic::AtomicU64,
}

pub fn commit_for(req: &BuildRequest) -> train_core::Commit {
    match &req.revision {
        train_core::Revision::Commit(c) => c.clone(),
        train_core::Revision::Branch(_) => {
            let n = req
                .component
                .as_str()
                .bytes()
                .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
            train_core::Commit::parse(&format!("{n:016x}{n:016x}{:08x}", n >> 32)).unwrap()
        }
    }
}

#[async_trait]
impl Builder for ScriptedBuilder {
    async fn start(&self, req: &BuildRequest) -> Result<Started, PortError> {
        let id = req.idempotency_key.replace('/', ".");
        self.start_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.started
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_insert_with(|| req.clone());
        Ok(Started {
            build_id: BuildId::parse(&id).unwrap(),
            commit: Some(commit_for(req)),
            link: None,
        })
    }

    async fn poll(&self, builds: &[BuildId]) -> Result<Vec<(BuildId, Observed)>, PortError> {
        let started = self.started.lock().unwrap();
        Ok(builds
            .iter()
            .filter_map(|b| {
                let req = started.get(b.as_str())?;
                Some((
                    b.clone(),
                    Observed::Finished(BuildOutcome::Succeeded {
                        commit: Some(commit_for(req)),
                    }),
                ))
            })
            .collect())
    }

    async fn stop(&self, _: &BuildId) -> Result<(), PortError> {
        Ok(())
    }
}

/// Manifests, events and metrics kept in memory: other tests cover their adapters.
#[derive(Debug, Default)]
pub struct Recorder {
    pub manifests: Mutex<BTreeMap<String, Vec<u8>>>,
    pub events: Mutex<Vec<Announcement>>,
}

#[async_trait]
impl Manifests for Recorder {
    async fn put(&self, train: &TrainId, state: State, body: &[u8]) -> Result<Written, PortError> {
        let mut m = self.manifests.lock().unwrap();
        let key = format!("{train}/{state}.json");
        if m.contains_key(&key) {
            return Ok(Written::AlreadyExists);
        }
        m.insert(key, body.to_vec());
        Ok(Written::Created)
    }
}

#[async_trait]
impl EventsOut for Recorder {
    async fn publish(&self, a: &Announcement) -> Result<(), PortError> {
        self.events.lock().unwrap().push(a.clone());
        Ok(())
    }
}

#[async_trait]
impl Metrics for Recorder {
    async fn emit(&self, _: &TrainId, _: &Metric, _: DateTime<Utc>) -> Result<(), PortError> {
        Ok(())
    }
}

pub struct Rig {
    pub engine: Engine,
    pub builder: Arc<ScriptedBuilder>,
    pub recorder: Arc<Recorder>,
}

pub fn engine(store: Arc<dyn Store>, config: Config) -> Rig {
    let builder = Arc::new(ScriptedBuilder::default());
    let recorder = Arc::new(Recorder::default());
    let ports = Ports {
        store,
        builder: builder.clone(),
        manifests: recorder.clone(),
        events: recorder.clone(),
        metrics: recorder.clone(),
        alarms: Arc::new(train_engine::ports::NoAlarms),
    };
    Rig {
        engine: Engine::new(ports, Arc::new(config)),
        builder,
        recorder,
    }
}
