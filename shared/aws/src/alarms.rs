//! Gating alarms from CloudWatch: which of the configured alarms are in ALARM.

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::StateValue;
use train_engine::{Alarms, PortError};

use crate::dynamo::sdk_fault;

/// Alarm names per `DescribeAlarms` call (CloudWatch's limit).
const NAMES_PER_CALL: usize = 100;

#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn firing(&self, names: &[String]) -> Result<Vec<String>, PortError> {
        let mut firing = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| sdk_fault("DescribeAlarms", &e))?;
                // The state is checked here rather than with DescribeAlarms' StateValue
                // filter: the emulator ignores that filter when names are given, and a
                // hundred named alarms are one page either way.
                let alarm = Some(&StateValue::Alarm);
                firing.extend(
                    out.metric_alarms()
                        .iter()
                        .filter(|a| a.state_value() == alarm)
                        .filter_map(|a| a.alarm_name().map(str::to_owned)),
                );
                firing.extend(
                    out.composite_alarms()
                        .iter()
                        .filter(|a| a.state_value() == alarm)
                        .filter_map(|a| a.alarm_name().map(str::to_owned)),
                );
                match out.next_token {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => break,
                }
            }
        }
        firing.sort();
        firing.dedup();
        Ok(firing)
    }
}
