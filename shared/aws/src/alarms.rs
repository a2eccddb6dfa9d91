//! Gating alarms from CloudWatch: which of the configured alarms are in ALARM, and which
//! CloudWatch does not know.
//!
//! The gate fails closed. `DescribeAlarms` returns metric alarms only unless `AlarmTypes`
//! asks for both ("If you omit this parameter, only metric alarms are returned, even if
//! composite alarms exist in the account": `DescribeAlarms`, Amazon CloudWatch API Reference,
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html>),
//! so a composite gating alarm would read as OK; and a name CloudWatch does not answer for
//! (misspelled, deleted, or a composite the role may not read: composite alarms need
//! `cloudwatch:DescribeAlarms` on resource `*`) is reported missing, which blocks promotion.
//! An alarm named `staging:NAME` or `production:NAME` is `NAME` in that stage's account
//! (`[accounts]`), read with that account's credentials and reported by its prefixed name.

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use train_core::AlarmName;
use train_core::Stage;
use train_core::config::accounts::alarm_stage;
use train_core::config::{Accounts, RoleArn};
use train_engine::ports::AlarmStates;
use train_engine::{Alarms, PortError};

use crate::faults::sdk_fault;

/// Alarm names per `DescribeAlarms` call (CloudWatch's limit: "Array Members: Maximum
/// number of 100 items").
const NAMES_PER_CALL: usize = 100;

#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: Client,
    /// Clients for the stages `[accounts]` names (`production:checkout-5xx` is
    /// `checkout-5xx` read with the production client; `config::accounts::alarm_stage`).
    members: Vec<(Stage, Client)>,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            members: Vec::new(),
        }
    }

    /// Reads `staging:`/`production:` alarms in the stage's account, through the client
    /// `client` makes for the stage's role.
    #[must_use]
    pub fn with_accounts(
        mut self,
        accounts: &Accounts,
        mut client: impl FnMut(&RoleArn) -> Client,
    ) -> Self {
        self.members = [Stage::Staging, Stage::Production]
            .into_iter()
            .filter_map(|stage| Some((stage, client(accounts.role(stage)?))))
            .collect();
        self
    }

    /// The stage whose account holds `name` (none: the train's own), its client, and the
    /// name that account knows it by.
    fn place<'a>(&self, name: &'a AlarmName) -> (Option<Stage>, &Client, &'a str) {
        if let Some((stage, local)) = alarm_stage(name.as_str())
            && let Some((_, client)) = self.members.iter().find(|(s, _)| *s == stage)
        {
            return (Some(stage), client, local);
        }
        (None, &self.client, name.as_str())
    }
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn firing(&self, names: &[AlarmName]) -> Result<Vec<AlarmName>, PortError> {
        Ok(self.states(names).await?.firing)
    }

    async fn states(&self, names: &[AlarmName]) -> Result<AlarmStates, PortError> {
        let mut firing = Vec::new();
        let mut found = std::collections::BTreeSet::new();
        // Each account is asked for its own alarms, by the names it knows them by.
        let mut by_account: Vec<(Option<Stage>, &Client, Vec<&str>)> = Vec::new();
        for name in names {
            let (stage, client, local) = self.place(name);
            match by_account.iter_mut().find(|(s, _, _)| *s == stage) {
                Some((_, _, local_names)) => local_names.push(local),
                None => by_account.push((stage, client, vec![local])),
            }
        }
        for (stage, client, local_names) in by_account {
            let prefix = stage.map(|s| format!("{s}:")).unwrap_or_default();
            for chunk in local_names.chunks(NAMES_PER_CALL) {
                let mut token: Option<String> = None;
                loop {
                    let out = client
                        .describe_alarms()
                        .set_alarm_names(Some(chunk.iter().map(|n| (*n).to_owned()).collect()))
                        .alarm_types(AlarmType::MetricAlarm)
                        .alarm_types(AlarmType::CompositeAlarm)
                        .set_next_token(token.take())
                        .send()
                        .await
                        .map_err(|e| sdk_fault("cloudwatch:DescribeAlarms", e))?;
                    // The state is checked here rather than with DescribeAlarms' StateValue
                    // filter: the emulator ignores that filter when names are given, and a
                    // filter would hide which alarms exist.
                    let alarm = Some(&StateValue::Alarm);
                    let metric = out
                        .metric_alarms()
                        .iter()
                        .map(|a| (a.alarm_name(), a.state_value()));
                    let composite = out
                        .composite_alarms()
                        .iter()
                        .map(|a| (a.alarm_name(), a.state_value()));
                    for (name, state) in metric.chain(composite) {
                        // Only the names asked for come back, and those are valid names.
                        let Some(name) =
                            name.and_then(|n| AlarmName::parse(&format!("{prefix}{n}")).ok())
                        else {
                            continue;
                        };
                        if state == alarm {
                            firing.push(name.clone());
                        }
                        found.insert(name);
                    }
                    match out.next_token {
                        Some(t) if !t.is_empty() => token = Some(t),
                        _ => break,
                    }
                }
            }
        }
        firing.sort();
        firing.dedup();
        let mut missing: Vec<AlarmName> = names
            .iter()
            .filter(|n| !found.contains(*n))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        Ok(AlarmStates { firing, missing })
    }
}
