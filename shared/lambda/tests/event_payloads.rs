//! The events function reads only what it needs from EventBridge payloads.
//!
//! Build events: the sample in "Build notifications input format reference", AWS CodeBuild
//! User Guide (<https://docs.aws.amazon.com/codebuild/latest/userguide/sample-build-notifications.html#sample-build-notifications-ref>),
//! kept in `fixtures/codebuild-build-state-change.json` (the same sample `aws_lambda_events`
//! ships); its `build-start-time` ("Sep 1, 2017 4:12:29 PM") and its last phase without an
//! end time are what a strict parser trips on. Alarm events: the composite alarm sample in
//! "Alarm events and EventBridge", Amazon CloudWatch User Guide
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html>).

use serde_json::{Value, json};
use train_lambda::events::{read_alarm_change, read_build_change};

fn documented_build_event() -> Value {
    serde_json::from_str(include_str!("fixtures/codebuild-build-state-change.json")).unwrap()
}

fn minimal(status: &str) -> Value {
    json!({
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "detail": {
            "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/payments-api:8745a7a9",
            "build-status": status,
            "project-name": "payments-api",
        }
    })
}

#[test]
fn the_documented_build_state_change_sample_is_read() {
    let change = read_build_change(&documented_build_event()).unwrap();
    assert_eq!(change.status, "SUCCEEDED");
    assert_eq!(change.project, "my-sample-project");
    assert!(
        change
            .build
            .ends_with(":build/my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX")
    );
    assert_eq!(
        change.train, None,
        "the sample carries no RELEASE_* variables"
    );
}

#[test]
fn an_event_with_only_build_id_status_and_project_is_enough() {
    let change = read_build_change(&minimal("SUCCEEDED")).unwrap();
    assert_eq!(
        (change.status.as_str(), change.project.as_str()),
        ("SUCCEEDED", "payments-api")
    );
    assert_eq!((change.train, change.component), (None, None));
}

#[test]
fn the_release_variables_are_taken_when_the_event_carries_them() {
    let mut event = documented_build_event();
    event["detail"]["additional-information"]["environment"]["environment-variables"] = json!([
        {"name": "RELEASE_TRAIN_ID", "type": "PLAINTEXT", "value": "weekly-2026-W48"},
        {"name": "RELEASE_COMPONENT", "type": "PLAINTEXT", "value": "payments-api"},
    ]);
    // Fields the function never reads may change shape without harm.
    event["detail"]["additional-information"]["build-start-time"] = json!(1_504_282_349);
    event["detail"]["additional-information"]["logs"] = Value::Null;
    let change = read_build_change(&event).unwrap();
    assert_eq!(change.train.as_deref(), Some("weekly-2026-W48"));
    assert_eq!(change.component.as_deref(), Some("payments-api"));
}

#[test]
fn in_progress_and_fault_events_are_read_with_their_status() {
    for status in ["IN_PROGRESS", "FAULT", "FAILED", "STOPPED", "TIMED_OUT"] {
        assert_eq!(read_build_change(&minimal(status)).unwrap().status, status);
    }
}

#[test]
fn an_event_missing_a_needed_field_says_which() {
    let mut event = minimal("SUCCEEDED");
    event["detail"].as_object_mut().unwrap().remove("build-id");
    assert!(
        read_build_change(&event)
            .unwrap_err()
            .contains("detail.build-id")
    );
}

#[test]
fn a_composite_alarm_state_change_is_read() {
    let event = json!({
        "version": "0",
        "id": "d3dfc86d-384d-24c8-0345-9f7986db0b80",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2022-07-22T15:57:45Z",
        "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceAggregatedAlarm"],
        "detail": {
            "alarmName": "ServiceAggregatedAlarm",
            "state": {
                "actionsSuppressedBy": "WaitPeriod",
                "actionsSuppressedReason": "Actions suppressed by WaitPeriod",
                "value": "ALARM",
                "reason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:SuppressionDemo.EventBridge.FirstChild transitioned to ALARM at Friday 22 July, 2022 15:57:45 UTC",
                "reasonData": "{\"triggeringAlarms\":[{\"arn\":\"arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh\",\"state\":{\"value\":\"ALARM\",\"timestamp\":\"2022-07-22T15:57:45.394+0000\"}}]}",
                "timestamp": "2022-07-22T15:57:45.394+0000"
            },
            "previousState": {
                "value": "OK",
                "reason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:SuppressionDemo.EventBridge.Main was created and its alarm rule evaluates to OK",
                "reasonData": "{\"triggeringAlarms\":[]}",
                "timestamp": "2022-07-22T15:56:14.552+0000"
            },
            "configuration": {
                "alarmRule": "ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)",
                "actionsSuppressor": "ServiceMaintenanceAlarm",
                "actionsSuppressorWaitPeriod": 120,
                "actionsSuppressorExtensionPeriod": 180
            }
        }
    });
    let change = read_alarm_change(&event).unwrap();
    assert_eq!(
        (change.alarm.as_str(), change.state.as_str()),
        ("ServiceAggregatedAlarm", "ALARM")
    );
}
