//! Counting SDK calls by operation, and the time each took, to show how a store scales and
//! where a train's time goes (the figures in the notes and BENCHMARKS.md come from here).
//! The calls still go to the real endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// An interceptor that counts each operation an SDK client starts (retries not included),
/// and the wall time from its serialization to the end of its last attempt.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(
    Arc<Mutex<BTreeMap<String, u64>>>,
    Arc<Mutex<BTreeMap<String, Duration>>>,
);

/// When an operation started, kept in the operation's own config bag.
#[derive(Debug, Clone, Copy)]
struct Started(Instant, &'static str);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl CallCounter {
    /// The time spent in each operation since the last [`CallCounter::reset`].
    pub fn time_spent(&self) -> BTreeMap<String, Duration> {
        self.1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn reset(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }
}

/// The DynamoDB operations that write, as the call budgets count them.
const DYNAMODB_WRITES: [&str; 5] = [
    "TransactWriteItems",
    "PutItem",
    "BatchWriteItem",
    "UpdateItem",
    "DeleteItem",
];

/// DynamoDB write calls in a [`CallCounter::snapshot`].
pub fn dynamodb_writes(counts: &BTreeMap<String, u64>) -> u64 {
    DYNAMODB_WRITES
        .iter()
        .filter_map(|op| counts.get(*op))
        .sum()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // The operation's metadata is in the bag from serialization on, not before execution.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let name = meta.name();
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(name.to_owned())
                .or_default() += 1;
            // The name lives as long as the operation: the ones the adapters call are timed
            // under their own name, the rest together.
            let name = KNOWN
                .iter()
                .copied()
                .find(|k| *k == name)
                .unwrap_or("other");
            cfg.interceptor_state()
                .store_put(Started(Instant::now(), name));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Started(at, name)) = cfg.load::<Started>().copied() {
            *self
                .1
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(name.to_owned())
                .or_default() += at.elapsed();
        }
        Ok(())
    }
}

/// The operations timed under their own name.
const KNOWN: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "TransactWriteItems",
    "StartBuild",
    "BatchGetBuilds",
    "StopBuild",
    "ListBuildsForProject",
    "PutObject",
    "PutEvents",
    "DescribeAlarms",
    "AssumeRole",
];
