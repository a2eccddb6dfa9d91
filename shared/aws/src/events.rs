//! State changes on the train's EventBridge bus: one event per change, detail-type
//! `Release Train State Change`, source `release-train`.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use train_core::Announcement;
use train_engine::{EventsOut, PortError};

use crate::faults::sdk_fault;

pub const SOURCE: &str = "release-train";
pub const DETAIL_TYPE: &str = "Release Train State Change";

#[derive(Debug, Clone)]
pub struct EventBridgeEvents {
    client: Client,
    bus: String,
}

impl EventBridgeEvents {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventsOut for EventBridgeEvents {
    async fn publish(&self, a: &Announcement) -> Result<(), PortError> {
        let detail = a.detail().to_string();
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .resources(format!("release-train:train/{}", a.train))
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| sdk_fault("events:PutEvents", e))?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            // PutEvents reports per-entry failures (throttling, internal) in a 200 answer.
            return Err(PortError::retryable(format!(
                "PutEvents rejected the event: {why}"
            )));
        }
        Ok(())
    }
}
