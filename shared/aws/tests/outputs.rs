//! S3 manifests and EventBridge events against the emulator.

mod common;

use chrono::Utc;
use common::endpoint;
use train_aws::events::{DETAIL_TYPE, SOURCE};
use train_aws::{EventBridgeEvents, S3Manifests};
use train_core::{Actor, Announcement, State, TrainId};
use train_engine::ports::Written;
use train_engine::{EventsOut, Manifests};

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

#[tokio::test]
async fn a_manifest_key_is_written_once_in_a_versioned_bucket() {
    let config = train_aws::emulator_config(&endpoint()).await;
    // Path-style addressing: the emulator has no per-bucket host names.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("manifests");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(enabled)
        .send()
        .await
        .unwrap();

    let manifests = S3Manifests::new(client.clone(), &bucket, "trains/");
    let id = TrainId::parse("weekly-2026-W48").unwrap();
    assert_eq!(
        manifests
            .put(&id, State::Soaking, b"{\"first\":true}")
            .await
            .unwrap(),
        Written::Created
    );
    assert_eq!(
        manifests
            .put(&id, State::Soaking, b"{\"second\":true}")
            .await
            .unwrap(),
        Written::AlreadyExists
    );
    assert_eq!(
        manifests.put(&id, State::Released, b"{}").await.unwrap(),
        Written::Created
    );

    let key = manifests.key(&id, State::Soaking);
    assert_eq!(key, "trains/weekly-2026-W48/soaking.json");
    let object = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"{\"first\":true}", "the first write stands");
    let versions = client
        .list_object_versions()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "the retried write made no second version"
    );
}

#[tokio::test]
async fn each_state_change_reaches_the_bus_as_one_event() {
    let config = train_aws::emulator_config(&endpoint()).await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = unique("trains");
    events.create_event_bus().name(&bus).send().await.unwrap();
    // Route the bus's train events to a queue, as a team's rule would, and read them back.
    let queue = sqs
        .create_queue()
        .queue_name(unique("train-events"))
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let pattern = format!(r#"{{"source": ["{SOURCE}"], "detail-type": ["{DETAIL_TYPE}"]}}"#);
    events
        .put_rule()
        .name("train-changes")
        .event_bus_name(&bus)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("train-changes")
        .event_bus_name(&bus)
        .targets(target)
        .send()
        .await
        .unwrap();

    let out = EventBridgeEvents::new(events, &bus);
    let announcement = Announcement {
        train: TrainId::parse("weekly-2026-W48").unwrap(),
        from: Some(State::Soaking),
        to: State::Cancelled,
        actor: Actor::parse("arn:aws:iam::123456789012:user/alice").unwrap(),
        reason: Some("checkout errors in staging".into()),
        at: Utc::now(),
        captain: Some("alice".into()),
        action: Some("cancel".into()),
        excluded: std::collections::BTreeMap::new(),
    };
    out.publish(&announcement).await.unwrap();

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 1);
    let event: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(event["detail-type"], DETAIL_TYPE);
    assert_eq!(event["source"], SOURCE);
    let detail: Announcement = serde_json::from_value(event["detail"].clone()).unwrap();
    assert_eq!(
        detail, announcement,
        "train, from, to, actor and reason arrive intact"
    );
}

#[tokio::test]
async fn only_alarms_in_alarm_are_reported_firing() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
    use train_engine::Alarms;
    let config = train_aws::emulator_config(&endpoint()).await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let (errors, latency) = (unique("checkout-5xx"), unique("p99-latency"));
    for name in [&errors, &latency] {
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
    let alarms = train_aws::CloudWatchAlarms::new(cloudwatch.clone());
    let watched = vec![alarm(&errors), alarm(&latency), alarm("no-such-alarm")];
    assert!(
        alarms.firing(&watched).await.unwrap().is_empty(),
        "new alarms are not in ALARM"
    );
    cloudwatch
        .set_alarm_state()
        .alarm_name(&errors)
        .state_value(StateValue::Alarm)
        .state_reason("5xx spike")
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.firing(&watched).await.unwrap(), [alarm(&errors)]);
    cloudwatch
        .set_alarm_state()
        .alarm_name(&errors)
        .state_value(StateValue::Ok)
        .state_reason("recovered")
        .send()
        .await
        .unwrap();
    assert!(alarms.firing(&watched).await.unwrap().is_empty());
}
