//! The alarm gate on CloudWatch: composite alarms, alarms that do not exist, paging.
//!
//! The contract is `DescribeAlarms`, Amazon CloudWatch API Reference
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html>):
//! "`AlarmTypes`: Use this parameter to specify whether you want the operation to return
//! metric alarms or composite alarms. If you omit this parameter, only metric alarms are
//! returned, even if composite alarms exist in the account"; up to 100 `AlarmNames`; a
//! `NextToken` when there is more. Metric alarms and missing names are tested against the
//! emulator (moto). Composite alarms cannot be: moto 5.2.5 answers `PutCompositeAlarm` with
//! "The `put_composite_alarm` action has not been implemented" (HTTP 500), and it returns
//! metric alarms whatever `AlarmTypes` says. So those tests use the SDK's own mock client
//! (aws-smithy-mocks) with the response the reference documents, and assert the request.

mod common;

use std::sync::Arc;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, CompositeAlarm, MetricAlarm, StateValue, Statistic,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use chrono::{Duration, Utc};
use common::{Recorder, ScriptedBuilder, config, dynamo, endpoint, monday};
use train_aws::CloudWatchAlarms;
use train_core::State;
use train_engine::{Alarms, Cut, Engine, Ports};

/// A gating alarm's name, as the configuration holds it.
fn alarm(name: &str) -> train_core::AlarmName {
    train_core::AlarmName::parse(name).unwrap()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// A CloudWatch client whose answers come from `rules`, in order. Built by hand rather
/// than with `mock_client!`, which needs the SDK crate's `test-util` feature (and with it a
/// change to the lock file) for test credentials alone.
fn mocked(rules: &[&Rule]) -> aws_sdk_cloudwatch::Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "mock",
        ))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

fn asks_for_both_kinds(
    input: &aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsInput,
) -> bool {
    let kinds = input.alarm_types();
    kinds.contains(&AlarmType::MetricAlarm) && kinds.contains(&AlarmType::CompositeAlarm)
}

async fn metric_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Shop")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_composite_gating_alarm_in_alarm_is_firing() {
    // The answer the reference documents for AlarmTypes=[MetricAlarm, CompositeAlarm]:
    // composite alarms in CompositeAlarms, metric alarms in MetricAlarms.
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(asks_for_both_kinds)
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("checkout-health")
                        .alarm_rule("ALARM(\"checkout-5xx\") OR ALARM(\"checkout-p99\")")
                        .state_value(StateValue::Alarm)
                        .build(),
                )
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("checkout-5xx")
                        .state_value(StateValue::Ok)
                        .build(),
                )
                .build()
        });
    let alarms = CloudWatchAlarms::new(mocked(&[&rule]));
    let names = vec![alarm("checkout-health"), alarm("checkout-5xx")];
    let states = alarms.states(&names).await.unwrap();
    assert_eq!(rule.num_calls(), 1, "the request named both alarm types");
    assert_eq!(states.firing, [alarm("checkout-health")]);
    assert!(states.missing.is_empty(), "{states:?}");
}

#[tokio::test]
async fn alarms_on_a_second_page_are_read() {
    let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| asks_for_both_kinds(r) && r.next_token().is_none())
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("a")
                        .state_value(StateValue::Ok)
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| asks_for_both_kinds(r) && r.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("b")
                        .state_value(StateValue::Alarm)
                        .build(),
                )
                .build()
        });
    let alarms = CloudWatchAlarms::new(mocked(&[&first, &second]));
    let states = alarms.states(&[alarm("a"), alarm("b")]).await.unwrap();
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(states.firing, [alarm("b")]);
    assert!(states.missing.is_empty());
}

#[tokio::test]
async fn a_gating_alarm_cloudwatch_does_not_know_is_missing_not_ok() {
    let config = train_aws::emulator_config(&endpoint()).await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let real = unique("checkout-5xx");
    metric_alarm(&cloudwatch, &real).await;
    let typo = unique("chekout-5xx");
    let states = CloudWatchAlarms::new(cloudwatch)
        .states(&[alarm(&real), alarm(&typo)])
        .await
        .unwrap();
    assert!(states.firing.is_empty(), "{states:?}");
    assert_eq!(states.missing, [alarm(&typo)]);
}

#[tokio::test]
async fn a_train_whose_gating_alarm_does_not_exist_does_not_promote() {
    let aws = train_aws::emulator_config(&endpoint()).await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&aws);
    let real = unique("checkout-5xx");
    metric_alarm(&cloudwatch, &real).await;
    let typo = unique("chekout-5xx");
    let mut config = config(2);
    config.train.alarms = vec![alarm(&real), alarm(&typo)];
    let (store, _) = dynamo().await;
    let recorder = Arc::new(Recorder::default());
    let ports = Ports {
        store: Arc::new(store),
        builder: Arc::new(ScriptedBuilder::default()),
        manifests: recorder.clone(),
        events: recorder.clone(),
        metrics: recorder.clone(),
        alarms: Arc::new(CloudWatchAlarms::new(cloudwatch.clone())),
    };
    let engine = Engine::new(ports, Arc::new(config));
    let Cut::Created(train) = engine.cut(monday(), monday()).await.unwrap() else {
        panic!("new train")
    };
    let mut now = monday() + Duration::minutes(5);
    engine.reconcile(now).await.unwrap();
    now += Duration::hours(48);
    engine.promotion_due(now, now).await.unwrap();
    engine.reconcile(now + Duration::minutes(5)).await.unwrap();
    let held = engine.train(&train.id).await.unwrap().unwrap();
    assert_eq!(held.state(), State::Held, "the gate fails closed");
    let why = held.hold.as_ref().expect("held");
    assert_eq!(why.by.to_string(), format!("alarm:{typo}"));
    assert!(
        why.reason
            .to_string()
            .contains(&format!("alarm:{typo} (not found)")),
        "{why:?}"
    );
    assert!(
        held.alarms_firing.contains(&alarm(&typo)) && !held.alarms_firing.contains(&alarm(&real)),
        "{:?}",
        held.alarms_firing
    );

    // Once the alarm exists and is OK, the next pass lifts the hold and the train promotes.
    metric_alarm(&cloudwatch, &typo).await;
    now += Duration::hours(1);
    engine.reconcile(now).await.unwrap();
    engine.promotion_due(now, now).await.unwrap();
    let after = engine.train(&train.id).await.unwrap().unwrap();
    assert!(after.hold.is_none(), "{:?}", after.hold);
    assert!(after.alarms_firing.is_empty());
    assert_eq!(after.state(), State::Promoting);
}
