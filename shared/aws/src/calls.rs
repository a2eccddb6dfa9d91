//! Counting SDK calls by operation, to show how a store scales (the figures in the notes
//! and BENCHMARKS.md come from here). The calls still go to the real endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An interceptor that counts each operation an SDK client starts (retries not included).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
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
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(meta.name().to_owned())
                .or_default() += 1;
        }
        Ok(())
    }
}
