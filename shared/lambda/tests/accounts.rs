//! Three accounts, as the reference flow runs them: the train (its table, bus and functions)
//! in one, every staging build in a second, every production build and the production
//! alarm in a third, reached through the roles `[accounts]` names.
//!
//! The emulator keeps accounts apart by credentials: `sts:AssumeRole` into
//! `arn:aws:iam::222222222222:role/...` returns credentials whose calls act in account
//! 222222222222, and a project made with them is invisible to the train's own credentials
//! (measured, ../shared/TESTING.md). So the projects here exist only in the member accounts,
//! and a train that releases proves each call went to the account its stage is in.
//!
//! What the emulator cannot show: it evaluates no IAM, so neither the member role's trust
//! policy (the function roles, `sts:ExternalId`) nor its grants are exercised here; those
//! are checked as text against the template in `tests/template.rs`, and the external id the
//! functions pass is the one `ASSUME_ROLE_EXTERNAL_ID` holds.

mod common;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use chrono::{DateTime, Duration, Utc};
use common::{EXTERNAL_ID, Stack, build_state_change, scheduled_event};
use serde_json::{Value, json};
use train_aws::CloudWatchAlarms;
use train_core::config::{Accounts, RoleArn};
use train_core::{AlarmName, BuildStatus, Stage, State, TrainId};
use train_engine::Alarms;
use train_lambda::{Deployment, Failure, events, scheduled};

const STAGING: &str = "arn:aws:iam::111111111111:role/release-train-builds";
const PRODUCTION: &str = "arn:aws:iam::222222222222:role/release-train-builds";
const ALARM: &str = "checkout-5xx";

fn role(arn: &str) -> RoleArn {
    RoleArn::parse(arn).unwrap()
}

/// The emulator's configuration with the credentials of the role `arn`, as the functions
/// assume it.
fn member(stack: &Stack, arn: &str) -> aws_config::SdkConfig {
    train_aws::accounts::assumed(&stack.sdk, &role(arn), EXTERNAL_ID)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn commit(component: &str) -> String {
    let n = component.bytes().map(u64::from).sum::<u64>();
    format!("{n:040x}")
}

/// A stack whose staging projects live only in the staging account and production
/// projects only in the production account, with `checkout-5xx` (OK) in the production
/// account, and a configuration that says so.
async fn three_accounts(components: &[&str]) -> Stack {
    let stack = Stack::provision(components, "1s").await;
    let own = stack.codebuild();
    for (_, project) in stack.all_projects() {
        own.delete_project().name(project).send().await.unwrap();
    }
    for (arn, stage) in [(STAGING, "staging"), (PRODUCTION, "production")] {
        let codebuild = aws_sdk_codebuild::Client::new(&member(&stack, arn));
        for c in components {
            let project = stack.project(c, stage);
            common::create_project_in(&codebuild, &project, role(arn).account()).await;
            common::drive(&stack.endpoint, &project);
        }
    }
    let cloudwatch = production_cloudwatch(&stack);
    common::create_alarm(&cloudwatch, ALARM).await;
    set_alarm(&cloudwatch, StateValue::Ok).await;
    let text = std::fs::read_to_string(&stack.config).unwrap().replace(
        "on_component_failure = \"halt\"\n",
        &format!("on_component_failure = \"halt\"\nalarms = [\"production:{ALARM}\"]\n"),
    );
    let accounts = format!(
        "[accounts]\nstaging = {{ role = \"{STAGING}\" }}\nproduction = {{ role = \"{PRODUCTION}\" }}\n\n"
    );
    std::fs::write(&stack.config, format!("{accounts}{text}")).unwrap();
    stack
}

fn production_cloudwatch(stack: &Stack) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&member(stack, PRODUCTION))
}

async fn set_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, state: StateValue) {
    common::set_alarm(cloudwatch, ALARM, state).await;
}

/// The builds a project of `account` ran.
async fn builds(client: &aws_sdk_codebuild::Client, project: &str) -> usize {
    client
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .unwrap()
        .ids()
        .len()
}

/// Plays CodeBuild and EventBridge until the train is in `until`: finishes each running
/// build green (staging at the component's commit, production at its pin), delivers its
/// state change from `account`, then runs the reconcile pass.
async fn drive(stack: &Stack, d: &Deployment, id: &TrainId, now: DateTime<Utc>, until: State) {
    for _ in 0..20 {
        let train = d.engine.train(id).await.unwrap().unwrap();
        if train.state() == until {
            return;
        }
        for (stage, account) in [
            (Stage::Staging, "111111111111"),
            (Stage::Production, "222222222222"),
        ] {
            for (component, build) in train.active_builds(stage) {
                let Some(build_id) = &build.build_id else {
                    continue;
                };
                if build.status == BuildStatus::Running || build.status == BuildStatus::Requested {
                    let at = build
                        .commit
                        .as_ref()
                        .map_or_else(|| commit(component.as_str()), ToString::to_string);
                    stack.finish_build(build_id.as_str(), "SUCCEEDED", Some(&at));
                    let mut event = build_state_change(
                        build_id.as_str(),
                        "SUCCEEDED",
                        id.as_str(),
                        component.as_str(),
                    );
                    event["account"] = json!(account);
                    events::handle(d, event, now).await.unwrap();
                }
            }
        }
        let reconcile = scheduled_event(now, json!({ "action": scheduled::RECONCILE }));
        scheduled::promote(d, reconcile, now).await.unwrap();
    }
    panic!("train {id} did not reach {until:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_builds_in_one_account_production_in_another_and_the_gate_reads_the_third() {
    let components = ["db-migrations", "api"];
    let stack = three_accounts(&components).await;
    let d = stack.deployment(&stack.sdk);

    let firing = at("2026-11-23T08:00:00Z");
    let cut = scheduled::cut(&d, scheduled_event(firing, json!({})), firing)
        .await
        .unwrap();
    let id = TrainId::parse(cut["train"].as_str().unwrap()).unwrap();
    drive(
        &stack,
        &d,
        &id,
        firing + Duration::minutes(5),
        State::Soaking,
    )
    .await;
    let promote_at = firing + Duration::days(2);
    scheduled::promote(&d, scheduled_event(promote_at, json!({})), promote_at)
        .await
        .unwrap();
    drive(
        &stack,
        &d,
        &id,
        promote_at + Duration::minutes(5),
        State::Released,
    )
    .await;

    let train = d.engine.train(&id).await.unwrap().unwrap();
    let staging = aws_sdk_codebuild::Client::new(&member(&stack, STAGING));
    let production = aws_sdk_codebuild::Client::new(&member(&stack, PRODUCTION));
    for c in components {
        assert_eq!(
            builds(&staging, &stack.project(c, "staging")).await,
            1,
            "{c}"
        );
        assert_eq!(
            builds(&production, &stack.project(c, "production")).await,
            1,
            "{c}"
        );
        let (_, run) = train
            .components
            .iter()
            .find(|(n, _)| n.as_str() == c)
            .unwrap();
        let built = |b: &Option<train_core::Build>| b.as_ref().and_then(|b| b.commit.clone());
        assert_eq!(
            built(&run.staging),
            Some(train_core::Commit::parse(&commit(c)).unwrap())
        );
        assert_eq!(
            built(&run.production),
            built(&run.staging),
            "{c}: production built what staging tested"
        );
    }

    // The train's own credentials do not reach a member's project: "ResourceNotFoundException:
    // The specified AWS resource cannot be found" (StartBuild, Errors, AWS CodeBuild API
    // Reference, https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html).
    // A production build started without the role would not find its project.
    let own = stack.codebuild();
    let project = stack.project("api", "production");
    let refused = own
        .start_build()
        .project_name(&project)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some("ResourceNotFoundException"),
        "{refused:?}"
    );
    let listed = own
        .list_builds_for_project()
        .project_name(&project)
        .send()
        .await;
    assert_eq!(
        listed.unwrap_err().code(),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn a_production_alarm_is_read_in_the_production_account_by_its_prefixed_name() {
    let stack = three_accounts(&["api"]).await;
    let config = stack.settings().load_config().unwrap();
    let alarms = CloudWatchAlarms::new(stack.cloudwatch()).with_accounts(&config.accounts, |r| {
        aws_sdk_cloudwatch::Client::new(&train_aws::accounts::assumed(&stack.sdk, r, EXTERNAL_ID))
    });
    let name = AlarmName::parse(&format!("production:{ALARM}")).unwrap();
    let states = alarms.states(std::slice::from_ref(&name)).await.unwrap();
    assert!(
        states.firing.is_empty() && states.missing.is_empty(),
        "{states:?}"
    );

    set_alarm(&production_cloudwatch(&stack), StateValue::Alarm).await;
    let states = alarms.states(std::slice::from_ref(&name)).await.unwrap();
    assert_eq!(states.firing, std::slice::from_ref(&name));

    // The same name in the train's own account does not exist: read there, the gate would
    // report it missing (and block), not OK.
    let own = CloudWatchAlarms::new(stack.cloudwatch())
        .with_accounts(&Accounts::default(), |_| unreachable!());
    let bare = AlarmName::parse(ALARM).unwrap();
    assert_eq!(
        own.states(std::slice::from_ref(&bare))
            .await
            .unwrap()
            .missing,
        [bare]
    );
}

#[tokio::test]
async fn events_count_from_the_train_s_and_the_member_accounts_only() {
    let stack = three_accounts(&["api"]).await;
    let d = stack.deployment(&stack.sdk);
    let now = Utc::now();
    let alarm = |account: &str, name: &str| {
        json!({
            "version": "0",
            "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": account,
            "time": "2026-11-24T10:00:00Z",
            "region": "us-east-1",
            "resources": [format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:{name}")],
            "detail": { "alarmName": name, "state": { "value": "OK" } }
        })
    };
    // From the production account, `checkout-5xx` is the config's `production:checkout-5xx`.
    let answer = events::handle(&d, alarm("222222222222", ALARM), now)
        .await
        .unwrap();
    assert_eq!(answer["gating"], true, "{answer}");
    assert_eq!(answer["alarm"], format!("production:{ALARM}"));
    // The same name from the train's own account is another alarm.
    let answer = events::handle(&d, alarm(common::EMULATOR_ACCOUNT, ALARM), now)
        .await
        .unwrap();
    assert_eq!(answer["gating"], false, "{answer}");
    // A build event from a member account is the train's; the train is unknown here.
    let mut build = build_state_change("api-staging-x:1", "SUCCEEDED", "weekly-2026-W01", "api");
    build["account"] = json!("111111111111");
    match events::handle(&d, build.clone(), now).await {
        Err(Failure::Ignored(why)) => assert!(why.contains("does not know"), "{why}"),
        other => panic!("{other:?}"),
    }
    // From any other account, or without one, nothing is read.
    for account in [json!("999999999999"), Value::Null] {
        build["account"] = account.clone();
        match events::handle(&d, build.clone(), now).await {
            Err(Failure::Ignored(why)) => {
                assert!(
                    why.contains("is neither the train's (123456789012)"),
                    "{why}"
                );
                assert!(
                    why.contains("add the account's role to [accounts]"),
                    "{why}"
                );
            }
            other => panic!("{account}: {other:?}"),
        }
    }
}
