//! The train store on one DynamoDB table.
//!
//! # Items (partition key `pk`, sort key `sk`)
//!
//! A train is the partition `T#<id>`; beside the trains the table holds `CONTROLS#<name>`
//! (the schedule's controls, one item `H`, conditional on its version) and `BUILD#<key>` (CodeBuild's claim of a build key, `codebuild.rs`). A train's items:
//!
//! | `sk` | item | written |
//! | --- | --- | --- |
//! | `H` | the header: version `v`, state, the train without components and history | every commit, conditionally |
//! | `C#<component>` | one component with its builds, and the version `v` that wrote it | when it changed |
//! | `A#<seq>` | one audit record | once |
//! | `O#<seq>` | a page of one commit's effects, `<seq>` the first effect's id; up to 64 KB | once |
//! | `D#<token>` | the ids of effects that have run | once per `mark_done` |
//! | `J#<v>#<token>#<part>` | a commit too large for one transaction, gzipped | transiently (expires in 7 days) |
//!
//! Stray journals carry `expires_at`, the table's TTL attribute. Outbox pages and done
//! markers stay with the train, like its components and audit records: an effect whose page
//! outlived its done marker would run again.
//!
//! # The outbox
//!
//! A commit stores its effects in pages, not an item each, and a `mark_done` call records
//! what ran in one `D#` item, however many effects it names. The pending effects are the
//! pages' effects minus every id in a `D#` item. A phase of a thousand builds therefore
//! writes its two thousand effects as a handful of items and marks them done with one, and
//! marking done needs no read: a repeat, or two passes marking the same effects at once,
//! only adds ids to a union.
//!
//! A train with a thousand components stays far below 400 KB per item.
//!
//! # Commits (`dynamo/commit.rs`)
//!
//! A commit is conditional on the header's version. Most transitions touch one component,
//! so they are one `TransactWriteItems`: the header and the changed items, all or nothing.
//! A transition with more than 100 items (a cut or a wave of a thousand components) is
//! written as a journal first; the conditional header write that names the journal is the
//! commit point; the journal's items are then applied in transactions of 100, each item
//! conditional on not overwriting a newer version. Any reader that finds a journal named
//! on the header applies it before reading, so a crash half-way is rolled forward, never
//! seen. Writes therefore grow with N/100 calls, not N.
//!
//! A lost condition is an outcome ([`Saved::Conflict`], [`Inserted::AlreadyExists`]), not
//! an error. Throttling, timeouts and 5xx are retryable [`PortError`]s.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tracing::debug;
use train_core::train::{ComponentRun, Record};
use train_core::{ComponentName, Pending, ScheduleControls, Train, TrainId, TrainName, Transition};
use train_engine::PortError;

use crate::faults::{is_condition_failure, sdk_fault, transact_fault};
use train_engine::TrainStore;
use train_engine::ports::{Inserted, ListQuery, Outbox, Saved, ScheduleStore, Stored, Version};

mod commit;

/// Items per `TransactWriteItems` call (DynamoDB's limit).
const TRANSACTION_ITEMS: usize = 100;
/// Journal bytes per item, well under the 400 KB item limit.
const JOURNAL_PART: usize = 300 * 1024;
/// Effect bytes per outbox page. A transaction of a hundred items stays far below its
/// 4 MB limit even when some of them are pages.
const OUTBOX_PAGE: usize = 64 * 1024;
/// Effect ids per done marker: about 11 bytes each, so a marker stays near 110 KB.
const DONE_PER_ITEM: usize = 10_000;
const BY_NAME: &str = "by-name";
/// The TTL attribute: DynamoDB deletes an item some time after this epoch second.
pub const EXPIRES_AT: &str = "expires_at";
const OPEN: &str = "open";

/// The DynamoDB train store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Fault injection: stop right after a journaled commit point, as a crash would.
    crash_before_apply: bool,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn pk(id: &TrainId) -> String {
    format!("T#{id}")
}

fn json_fault(e: &serde_json::Error) -> PortError {
    PortError::fatal(format!("a stored train does not decode: {e}"))
}

fn body<T: Serialize>(value: &T) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| PortError::fatal(format!("encoding: {e}")))
}

/// One item the commit writes besides the header, with the condition that keeps a late or
/// repeated write from overwriting newer data.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    sk: String,
    body: String,
}

impl Entry {
    fn to_put(&self, table: &str, pk: &str, version: Version) -> Result<Put, PortError> {
        let mut item = Item::from([
            ("pk".into(), s(pk)),
            ("sk".into(), s(&self.sk)),
            ("body".into(), s(&self.body)),
        ]);
        let put = if self.sk.starts_with("C#") {
            // A component may be rewritten, but never by an older commit.
            item.insert("v".into(), n(version));
            Put::builder()
                .condition_expression("attribute_not_exists(v) OR v <= :v")
                .expression_attribute_values(":v", n(version))
        } else {
            // Audit records and effects are written once; a repeat is a no-op.
            Put::builder().condition_expression("attribute_not_exists(sk)")
        };
        put.table_name(table)
            .set_item(Some(item))
            .build()
            .map_err(|e| PortError::fatal(e.to_string()))
    }
}

/// What a commit writes: the header and the entries that changed.
struct Plan {
    header: Item,
    entries: Vec<Entry>,
    version: Version,
}

fn plan(before: Option<&Train>, t: &Transition, version: Version) -> Result<Plan, PortError> {
    let train = &t.train;
    let mut entries = Vec::new();
    for (name, run) in &train.components {
        if before.and_then(|b| b.components.get(name)) != Some(run) {
            entries.push(Entry {
                sk: format!("C#{name}"),
                body: body(run)?,
            });
        }
    }
    let seen = before.map_or(0, |b| b.history.len());
    for (i, record) in train.history.iter().enumerate().skip(seen) {
        entries.push(Entry {
            sk: format!("A#{i:08}"),
            body: body(record)?,
        });
    }
    entries.extend(outbox_pages(&t.effects)?);
    let mut core = train.clone();
    core.components.clear();
    core.history.clear();
    let mut header = Item::from([
        ("pk".into(), s(pk(&train.id))),
        ("sk".into(), s("H")),
        ("v".into(), n(version)),
        ("body".into(), s(body(&core)?)),
        ("name".into(), s(train.name.as_str())),
        (
            "cut".into(),
            s(format!(
                "{}#{}",
                train.cut_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                train.id
            )),
        ),
        ("state".into(), s(train.state().as_str())),
        ("settled".into(), AttributeValue::Bool(train.is_settled())),
    ]);
    if !train.is_settled() || !t.effects.is_empty() {
        header.insert(OPEN.into(), s("open"));
    }
    Ok(Plan {
        header,
        entries,
        version,
    })
}

/// A commit's effects in pages of up to [`OUTBOX_PAGE`] bytes, each keyed by its first
/// effect's id (ids only grow, so pages never collide). An effect larger than a page gets a
/// page of its own.
fn outbox_pages(effects: &[Pending]) -> Result<Vec<Entry>, PortError> {
    // (first effect id, encoded effects, bytes with their separators)
    let mut pages: Vec<(u64, Vec<String>, usize)> = Vec::new();
    for p in effects {
        let encoded = body(p)?;
        let bytes = encoded.len() + 1;
        match pages.last_mut() {
            Some((_, page, size)) if *size + bytes <= OUTBOX_PAGE => {
                page.push(encoded);
                *size += bytes;
            }
            _ => pages.push((p.id, vec![encoded], bytes)),
        }
    }
    Ok(pages
        .into_iter()
        .map(|(first, page, _)| Entry {
            sk: format!("O#{first:010}"),
            body: format!("[{}]", page.join(",")),
        })
        .collect())
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, PortError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)
        .and_then(|()| enc.finish())
        .map_err(|e| PortError::fatal(format!("gzip: {e}")))
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, PortError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| PortError::fatal(format!("journal: {e}")))?;
    Ok(out)
}

/// A unique-enough token for a journal: the process, the time, a counter.
fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            crash_before_apply: false,
        }
    }

    /// One item by its key, strongly consistent.
    async fn get_consistent(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> Result<Option<Item>, PortError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| sdk_fault("dynamodb:GetItem", e))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// For crash tests: every journaled commit stops after its commit point and before its
    /// items are applied, returning an error as a crashed process would never return.
    #[must_use]
    pub fn crashing_before_apply(mut self) -> Self {
        self.crash_before_apply = true;
        self
    }

    /// Creates the table with its indexes, as the SAM template declares it; for tests and
    /// for trying the service against an emulator.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), PortError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let index = |name: &str,
                     hash: &str,
                     range: &str|
         -> Result<GlobalSecondaryIndex, PortError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash).map_err(|e| PortError::fatal(e.to_string()))?)
                .key_schema(
                    key(range, KeyType::Range).map_err(|e| PortError::fatal(e.to_string()))?,
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(|e| PortError::fatal(e.to_string()))
        };
        let fatal = |e: aws_sdk_dynamodb::error::BuildError| PortError::fatal(e.to_string());
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(fatal)?)
            .key_schema(key("sk", KeyType::Range).map_err(fatal)?)
            .attribute_definitions(attr("pk").map_err(fatal)?)
            .attribute_definitions(attr("sk").map_err(fatal)?)
            .attribute_definitions(attr("name").map_err(fatal)?)
            .attribute_definitions(attr("cut").map_err(fatal)?)
            .attribute_definitions(attr(OPEN).map_err(fatal)?)
            .global_secondary_indexes(index(BY_NAME, "name", "cut")?)
            .global_secondary_indexes(index(OPEN, OPEN, "pk")?)
            .send()
            .await
            .map_err(|e| sdk_fault("dynamodb:CreateTable", e))?;
        let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
            .attribute_name(EXPIRES_AT)
            .enabled(true)
            .build()
            .map_err(|e| PortError::fatal(e.to_string()))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_fault("dynamodb:UpdateTimeToLive", e))?;
        Ok(())
    }
}

fn text<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// An item's JSON `body`, decoded.
fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, PortError> {
    serde_json::from_str(text(item, "body").unwrap_or_default()).map_err(|e| json_fault(&e))
}

/// Reassembles a train from its partition.
fn assemble(items: &[Item]) -> Result<Option<Stored>, PortError> {
    let Some(header) = items.iter().find(|i| text(i, "sk") == Some("H")) else {
        return Ok(None);
    };
    let mut train: Train = decode(header)?;
    let version = match header.get("v") {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    };
    for item in items {
        let sk = text(item, "sk").unwrap_or_default();
        if let Some(name) = sk.strip_prefix("C#") {
            let name = ComponentName::parse(name).map_err(|e| PortError::fatal(e.to_string()))?;
            train.components.insert(name, decode(item)?);
        } else if sk.starts_with("A#") {
            train.history.push(decode::<Record>(item)?);
        }
    }
    Ok(Some(Stored { train, version }))
}

impl DynamoStore {
    /// One page of the train ids an index holds under `attribute = value`, and where the
    /// next page starts (`None`: this was the last). `newest_first` reads newest cut first,
    /// at most that many.
    async fn index_page(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
        start: Option<Item>,
        newest_first: Option<usize>,
    ) -> Result<(Vec<TrainId>, Option<Item>), PortError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attribute)
            .expression_attribute_values(":v", s(value))
            .set_scan_index_forward(newest_first.map(|_| false))
            .set_limit(newest_first.map(|n| i32::try_from(n).unwrap_or(100)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_fault("dynamodb:Query", e))?;
        let ids = page
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|k| {
                text(k, "pk")?
                    .strip_prefix("T#")
                    .and_then(|i| TrainId::parse(i).ok())
            })
            .collect();
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((ids, next))
    }
}

#[async_trait]
impl TrainStore for DynamoStore {
    async fn insert(&self, t: &Transition) -> Result<Inserted, PortError> {
        let plan = plan(None, t, 1)?;
        if self
            .write(plan, "attribute_not_exists(pk)", Item::new())
            .await?
            .is_some()
        {
            return Ok(Inserted::Created);
        }
        // Finish a first delivery that committed a journal and then stopped.
        self.settled_partition(&t.train.id).await?;
        Ok(Inserted::AlreadyExists)
    }

    async fn load(&self, id: &TrainId) -> Result<Option<Stored>, PortError> {
        assemble(&self.settled_partition(id).await?)
    }

    async fn commit(&self, before: &Stored, t: &Transition) -> Result<Saved, PortError> {
        let plan = plan(Some(&before.train), t, before.version + 1)?;
        let values = Item::from([(":v".to_owned(), n(before.version))]);
        Ok(
            match self
                .write(plan, "v = :v AND attribute_not_exists(journal)", values)
                .await?
            {
                Some(v) => Saved::Committed(v),
                None => Saved::Conflict,
            },
        )
    }

    /// One `GetItem`. Component items are written only by commits that passed their
    /// commit point and never by an older one, so this is a committed state, at worst
    /// older than a journal still being applied.
    async fn component(
        &self,
        id: &TrainId,
        name: &ComponentName,
    ) -> Result<Option<ComponentRun>, PortError> {
        self.get_consistent(pk(id), format!("C#{name}"))
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Train>, PortError> {
        let Some(name) = &q.name else {
            return Err(PortError::fatal(
                "the DynamoDB store lists one train name at a time",
            ));
        };
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (ids, next) = self
                .index_page(BY_NAME, "name", name.as_str(), start.take(), Some(limit))
                .await?;
            for id in ids {
                if let Some(stored) = self.load(&id).await?
                    && q.state.is_none_or(|s| stored.train.state() == s)
                {
                    out.push(stored.train);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    async fn unsettled(&self) -> Result<Vec<TrainId>, PortError> {
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (page, next) = self
                .index_page(OPEN, OPEN, "open", start.take(), None)
                .await?;
            ids.extend(page);
            match next {
                Some(k) => start = Some(k),
                None => return Ok(ids),
            }
        }
    }

    async fn close(&self, id: &TrainId, version: Version) -> Result<(), PortError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(id)))
            .key("sk", s("H"))
            .update_expression("REMOVE #o")
            .condition_expression("v = :v")
            .expression_attribute_names("#o", OPEN)
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()), // changed since: still open
            Err(e) => Err(sdk_fault("dynamodb:UpdateItem", e)),
        }
    }
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn pending(&self, id: &TrainId) -> Result<Vec<Pending>, PortError> {
        let items = self.settled_outbox(id).await?;
        let mut effects = Vec::new();
        let mut done = std::collections::HashSet::new();
        for item in &items {
            let sk = text(item, "sk").unwrap_or_default();
            if sk.starts_with("O#") {
                effects.extend(decode::<Vec<Pending>>(item)?);
            } else if sk.starts_with("D#") {
                done.extend(decode::<Vec<u64>>(item)?);
            }
        }
        effects.retain(|p| !done.contains(&p.id));
        effects.sort_by_key(|p| p.id);
        Ok(effects)
    }

    async fn mark_done(&self, id: &TrainId, effects: &[u64]) -> Result<(), PortError> {
        // One put per ten thousand ids, whatever pages they are on. A repeat (or an SDK
        // retry of a put that did land) writes ids already in the union: harmless.
        for chunk in effects.chunks(DONE_PER_ITEM) {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk(id)))
                .item("sk", s(format!("D#{}", token())))
                .item("body", s(body(&chunk)?))
                .send()
                .await
                .map_err(|e| sdk_fault("dynamodb:PutItem", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn controls(&self, name: &TrainName) -> Result<(ScheduleControls, Version), PortError> {
        let Some(item) = self.get_consistent(format!("CONTROLS#{name}"), "H").await? else {
            return Ok((ScheduleControls::default(), 0));
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let controls = text(&item, "body")
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| PortError::fatal(format!("stored controls of {name}: {e}")))?
            .unwrap_or_default();
        Ok((controls, version))
    }

    async fn set_controls(
        &self,
        name: &TrainName,
        controls: &ScheduleControls,
        version: Version,
    ) -> Result<Saved, PortError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("CONTROLS#{name}")))
            .item("sk", s("H"))
            .item("version", AttributeValue::N((version + 1).to_string()))
            .item("body", s(body(controls)?));
        put = if version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
        };
        match put.send().await {
            Ok(_) => Ok(Saved::Committed(version + 1)),
            Err(e) if is_condition_failure(&e) => Ok(Saved::Conflict),
            Err(e) => Err(sdk_fault("dynamodb:PutItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use train_core::train::Unit;
    use train_core::{Effect, Metric};

    fn effect(id: u64, name_len: usize) -> Pending {
        Pending {
            id,
            effect: Effect::EmitMetric(Metric {
                name: "m".repeat(name_len),
                value: 1.0,
                unit: Unit::Count,
                dimensions: std::collections::BTreeMap::new(),
            }),
        }
    }

    proptest! {
        /// Pages hold every effect once, in order, each keyed by its first effect, and no
        /// page passes the limit unless one effect alone does.
        #[test]
        fn outbox_pages_keep_every_effect_in_order(
            sizes in prop::collection::vec(1usize..40_000, 0..40),
            first in 0u64..1_000_000,
        ) {
            let effects: Vec<Pending> = sizes
                .iter()
                .zip(first..)
                .map(|(len, id)| effect(id, *len))
                .collect();
            let pages = outbox_pages(&effects).unwrap();
            let mut read = Vec::new();
            for page in &pages {
                let on_page: Vec<Pending> = serde_json::from_str(&page.body).unwrap();
                prop_assert_eq!(&page.sk, &format!("O#{:010}", on_page[0].id));
                prop_assert!(page.body.len() <= OUTBOX_PAGE + 2 || on_page.len() == 1);
                read.extend(on_page);
            }
            prop_assert_eq!(read, effects);
        }
    }
}
