//! The CodeBuild builder. Request plumbing and the claims that prevent a second build run
//! against the emulator (its wrapper keeps a build's environment variables, as CodeBuild
//! does, so a start is found by its key). The emulator's CodeBuild is otherwise a stub (it
//! reports every build SUCCEEDED and ignores the other overrides), so the exact request fields, build outcomes, an
//! interrupted start and throttling use the SDK's own mock client (aws-smithy-mocks);
//! the claims always live in the emulator's DynamoDB.

mod common;

use aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput;
use aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectOutput;
use aws_sdk_codebuild::operation::start_build::{StartBuildError, StartBuildOutput};
use aws_sdk_codebuild::types::{
    Build, BuildPhase, BuildPhaseType, EnvironmentVariable, ExportedEnvironmentVariable,
    ProjectEnvironment, StatusType,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::endpoint;
use train_aws::CodeBuildBuilder;
use train_aws::codebuild::token;
use train_core::config::StageTarget;
use train_core::{
    BuildId, BuildOutcome, BuildRequest, Commit, ComponentName, Revision, Span, Stage, TrainId,
};
use train_engine::{Builder, Observed};

async fn claims() -> (aws_sdk_dynamodb::Client, String) {
    let config = train_aws::emulator_config(&endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!(
        "claims-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    train_aws::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    (client, table)
}

fn pin() -> Commit {
    Commit::parse(&"3f".repeat(20)).unwrap()
}

fn request(stage: Stage, key: &str) -> BuildRequest {
    BuildRequest {
        train: TrainId::parse("weekly-2026-W48").unwrap(),
        component: ComponentName::parse("payments-api").unwrap(),
        stage,
        attempt: 1,
        source: "https://example.invalid/payments-api.git".into(),
        revision: if stage == Stage::Production {
            Revision::Commit(pin())
        } else {
            Revision::Branch("main".into())
        },
        target: StageTarget {
            buildspec: Some(format!("buildspec-{stage}.yml")),
            project: Some("payments-api".into()),
            role: None,
        },
        timeout: Span::parse("45m").unwrap(),
        idempotency_key: key.into(),
        previous: Some(Commit::parse(&"2e".repeat(20)).unwrap()),
        branch: None,
    }
}

#[tokio::test]
async fn the_claim_not_the_token_keeps_a_key_to_one_build_on_the_emulator() {
    let config = train_aws::emulator_config(&endpoint()).await;
    let calls = train_aws::CallCounter::default();
    let codebuild = counted_codebuild(&config, &calls);
    project(&codebuild, "payments-api").await;
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    calls.reset();

    let req = request(Stage::Staging, "weekly-2026-W48/payments-api/staging/1");
    let first = builder.start(&req).await.unwrap();
    let again = builder.start(&req).await.unwrap();
    assert_eq!(first, again, "a repeated start returns the recorded build");
    assert_eq!(
        first.commit, None,
        "staging learns its commit when the build resolves it"
    );
    assert_eq!(
        calls.get("StartBuild"),
        1,
        "one build for one key: {:?}",
        calls.snapshot()
    );
    let other = builder
        .start(&request(
            Stage::Staging,
            "weekly-2026-W48/payments-api/staging/2",
        ))
        .await
        .unwrap();
    assert_ne!(
        other.build_id, first.build_id,
        "another attempt is another build"
    );

    let polled = builder
        .poll(std::slice::from_ref(&first.build_id))
        .await
        .unwrap();
    assert_eq!(polled.len(), 1);
    assert!(matches!(polled[0].1, Observed::Finished(_)), "{polled:?}");
    builder.stop(&first.build_id).await.unwrap();
}

/// A CodeBuild project on the emulator; one from an earlier run on a long-lived emulator
/// is as good.
/// A CodeBuild client whose calls `calls` counts.
fn counted_codebuild(
    config: &aws_config::SdkConfig,
    calls: &train_aws::CallCounter,
) -> aws_sdk_codebuild::Client {
    aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(config)
            .interceptor(calls.clone())
            .build(),
    )
}

async fn project(codebuild: &aws_sdk_codebuild::Client, name: &str) {
    let source = aws_sdk_codebuild::types::ProjectSource::builder()
        .r#type(aws_sdk_codebuild::types::SourceType::Github)
        .location("https://example.invalid/payments-api.git")
        .build()
        .unwrap();
    let artifacts = aws_sdk_codebuild::types::ProjectArtifacts::builder()
        .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
        .build()
        .unwrap();
    let environment = ProjectEnvironment::builder()
        .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
        .image("aws/codebuild/amazonlinux2-x86_64-standard:5.0")
        .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
        .build()
        .unwrap();
    let created = codebuild
        .create_project()
        .name(name)
        .source(source)
        .artifacts(artifacts)
        .environment(environment)
        .service_role("arn:aws:iam::123456789012:role/codebuild")
        .send()
        .await;
    if let Err(e) = created {
        assert!(
            e.as_service_error()
                .is_some_and(aws_sdk_codebuild::operation::create_project::CreateProjectError::is_resource_already_exists_exception),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn a_round_of_starts_is_claimed_a_hundred_per_write_and_a_taken_claim_is_searched() {
    let config = train_aws::emulator_config(&endpoint()).await;
    let calls = train_aws::CallCounter::default();
    let codebuild = counted_codebuild(&config, &calls);
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let name = format!("round-{}", std::process::id());
    project(&codebuild, &name).await;
    let (_, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo.clone(), table.clone());
    let run = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let requests: Vec<BuildRequest> = (0..150)
        .map(|i| {
            let mut r = request(Stage::Staging, &format!("round-{run}/c{i}/staging/1"));
            r.target.project = Some(name.clone());
            r
        })
        .collect();
    // One key of the round was claimed before: an earlier start that stopped after it.
    let taken = &requests[7];
    dynamo
        .put_item()
        .table_name(&table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("BUILD#{}", taken.idempotency_key)),
        )
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("H".into()))
        .send()
        .await
        .unwrap();
    calls.reset();

    let refs: Vec<&BuildRequest> = requests.iter().collect();
    builder.claim_starts(&refs).await.unwrap();
    assert_eq!(
        calls.get("TransactWriteItems"),
        3,
        "100 + 50 claims, the first hundred written again without the taken one: {:?}",
        calls.snapshot()
    );
    calls.reset();
    let mut started = Vec::new();
    for r in &requests {
        started.push(builder.start(r).await.unwrap().build_id);
    }
    let snapshot = calls.snapshot();
    assert_eq!(snapshot.get("StartBuild"), Some(&150), "{snapshot:?}");
    assert_eq!(
        snapshot.get("PutItem"),
        Some(&1),
        "only the taken key is claimed on its own (and found taken): {snapshot:?}"
    );
    assert_eq!(
        snapshot.get("ListBuildsForProject"),
        Some(&1),
        "only the taken key is searched for: {snapshot:?}"
    );
    let distinct: std::collections::BTreeSet<&BuildId> = started.iter().collect();
    assert_eq!(distinct.len(), 150, "a build per key");

    // The round again, as after a crash before its builds were recorded: every claim is
    // taken, so each start searches and finds its build, and CodeBuild starts nothing.
    // (The search reads the project's 100 newest builds: one project per component holds
    // one build per train.)
    calls.reset();
    let newest: Vec<&BuildRequest> = refs.iter().rev().take(5).copied().collect();
    builder.claim_starts(&newest).await.unwrap();
    for (r, first) in newest.iter().zip(started.iter().rev()) {
        let again = builder.start(r).await.unwrap();
        assert_eq!(
            &again.build_id, first,
            "the same build for {}",
            r.idempotency_key
        );
    }
    let snapshot = calls.snapshot();
    assert_eq!(snapshot.get("StartBuild"), None, "{snapshot:?}");
    assert_eq!(
        snapshot.get("ListBuildsForProject"),
        Some(&5),
        "{snapshot:?}"
    );
}

#[tokio::test]
async fn production_starts_exactly_the_pin_with_the_release_variables() {
    let key = "weekly-2026-W48/payments-api/production/1";
    let rule = mock!(aws_sdk_codebuild::Client::start_build)
        .match_requests(move |r| {
            let vars: Vec<(&str, &str)> = r
                .environment_variables_override()
                .iter()
                .map(|v| (v.name(), v.value()))
                .collect();
            r.project_name() == Some("payments-api")
                && r.source_version() == Some(pin().as_str())
                && r.buildspec_override() == Some("buildspec-production.yml")
                && r.idempotency_token() == Some(token(key).as_str())
                && r.timeout_in_minutes_override() == Some(45)
                && vars.contains(&("RELEASE_COMMIT", pin().as_str()))
                && vars.contains(&("RELEASE_STAGE", "production"))
                && vars.contains(&("RELEASE_TRAIN_ID", "weekly-2026-W48"))
                && vars.contains(&("RELEASE_COMPONENT", "payments-api"))
                && vars.contains(&("RELEASE_BUILD_KEY", key))
                && vars.contains(&("PREVIOUS_RELEASE_COMMIT", "2e".repeat(20).as_str()))
        })
        .then_output(|| {
            StartBuildOutput::builder()
                .build_value(Build::builder().id("payments-api:1111").build())
                .build()
        });
    let codebuild = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, [&rule]);
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let started = builder
        .start(&request(Stage::Production, key))
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1, "the request carried every field");
    assert_eq!(started.build_id.as_str(), "payments-api:1111");
    assert_eq!(started.commit, Some(pin()));
    let link = started.link.expect("a console link");
    assert!(link.contains(".console.aws.amazon.com/codesuite/codebuild/projects/payments-api/build/payments-api%3A1111"), "{link}");
    assert!(token(key).len() <= 64);
}

#[tokio::test]
async fn an_interrupted_start_is_found_by_its_key_not_started_again() {
    let key = "weekly-2026-W48/payments-api/staging/1";
    let (dynamo, table) = claims().await;
    // A claim without a build id: the last start stopped between StartBuild and recording.
    dynamo
        .put_item()
        .table_name(&table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("BUILD#{key}")),
        )
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("H".into()))
        .send()
        .await
        .unwrap();
    let list = mock!(aws_sdk_codebuild::Client::list_builds_for_project).then_output(|| {
        ListBuildsForProjectOutput::builder()
            .ids("payments-api:2222")
            .ids("payments-api:1111")
            .build()
    });
    let tagged = |id: &str, k: &str| {
        let var = EnvironmentVariable::builder()
            .name("RELEASE_BUILD_KEY")
            .value(k)
            .build()
            .unwrap();
        let env = ProjectEnvironment::builder()
            .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
            .image("x")
            .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
            .environment_variables(var)
            .build()
            .unwrap();
        Build::builder().id(id).environment(env).build()
    };
    let batch = mock!(aws_sdk_codebuild::Client::batch_get_builds).then_output(move || {
        BatchGetBuildsOutput::builder()
            .builds(tagged("payments-api:2222", "some/other/key/1"))
            .builds(tagged("payments-api:1111", key))
            .build()
    });
    let start = mock!(aws_sdk_codebuild::Client::start_build)
        .then_output(|| StartBuildOutput::builder().build());
    let codebuild = mock_client!(
        aws_sdk_codebuild,
        RuleMode::MatchAny,
        [&list, &batch, &start]
    );
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let started = builder.start(&request(Stage::Staging, key)).await.unwrap();
    assert_eq!(started.build_id.as_str(), "payments-api:1111");
    assert_eq!(start.num_calls(), 0, "no second build");
    // The engine records the build in the train; a start that runs again searches again.
    let again = builder.start(&request(Stage::Staging, key)).await.unwrap();
    assert_eq!(again.build_id, started.build_id);
    assert_eq!((list.num_calls(), start.num_calls()), (2, 0));
}

#[tokio::test]
async fn build_outcomes_map_to_what_the_train_needs() {
    let phase = |t: BuildPhaseType, s: StatusType| {
        BuildPhase::builder().phase_type(t).phase_status(s).build()
    };
    let batch = mock!(aws_sdk_codebuild::Client::batch_get_builds).then_output(move || {
        BatchGetBuildsOutput::builder()
            .builds(
                Build::builder()
                    .id("p:ok")
                    .build_status(StatusType::Succeeded)
                    .resolved_source_version("3f".repeat(20))
                    .build(),
            )
            .builds(
                Build::builder()
                    .id("p:red")
                    .build_status(StatusType::Failed)
                    .phases(phase(BuildPhaseType::Install, StatusType::Succeeded))
                    .phases(phase(BuildPhaseType::Build, StatusType::Failed))
                    .build(),
            )
            .builds(
                Build::builder()
                    .id("p:late")
                    .build_status(StatusType::TimedOut)
                    .current_phase("BUILD")
                    .build(),
            )
            .builds(
                Build::builder()
                    .id("p:stopped")
                    .build_status(StatusType::Stopped)
                    .build(),
            )
            .builds(
                Build::builder()
                    .id("p:running")
                    .build_status(StatusType::InProgress)
                    .build(),
            )
            .build()
    });
    let codebuild = mock_client!(aws_sdk_codebuild, [&batch]);
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let ids: Vec<BuildId> = ["p:ok", "p:red", "p:late", "p:stopped", "p:running"]
        .iter()
        .map(|i| BuildId::parse(i).unwrap())
        .collect();
    let got: Vec<Observed> = builder
        .poll(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        got[0],
        Observed::Finished(BuildOutcome::Succeeded {
            commit: Some(pin())
        }),
        "the resolved commit becomes the pin"
    );
    assert!(
        matches!(&got[1], Observed::Finished(BuildOutcome::Failed { reason }) if reason == "FAILED in phase BUILD"),
        "{:?}",
        got[1]
    );
    assert!(
        matches!(&got[2], Observed::Finished(BuildOutcome::Failed { reason }) if reason.starts_with("TIMED_OUT")),
        "{:?}",
        got[2]
    );
    assert_eq!(got[3], Observed::Finished(BuildOutcome::Stopped));
    assert_eq!(got[4], Observed::Running);
}

#[tokio::test]
async fn throttling_is_a_retryable_fault_and_a_project_is_required() {
    let throttled = mock!(aws_sdk_codebuild::Client::start_build).then_error(|| {
        StartBuildError::generic(
            aws_sdk_codebuild::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        )
    });
    let codebuild = mock_client!(aws_sdk_codebuild, [&throttled]);
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let err = builder
        .start(&request(Stage::Staging, "k/1"))
        .await
        .unwrap_err();
    assert!(err.retryable, "{err}");
    let mut no_project = request(Stage::Production, "k/2");
    no_project.target.project = None;
    let err = builder.start(&no_project).await.unwrap_err();
    assert!(
        !err.retryable && err.message.contains("production = { project"),
        "{err}"
    );
}

#[tokio::test]
async fn the_changelog_links_the_staging_build_and_reads_the_oldest_commit_time_it_exported() {
    // The emulator's builds export nothing; the exported variable comes from the SDK's mock.
    let batch = mock!(aws_sdk_codebuild::Client::batch_get_builds)
        .match_requests(|r| r.ids() == ["payments-api:1111"])
        .then_output(|| {
            BatchGetBuildsOutput::builder()
                .builds(
                    Build::builder()
                        .id("payments-api:1111")
                        .build_status(StatusType::Succeeded)
                        .exported_environment_variables(
                            ExportedEnvironmentVariable::builder()
                                .name("OLDEST_COMMIT_AT")
                                .value("1795000000\n")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let codebuild = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, [&batch]);
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let name = ComponentName::parse("payments-api").unwrap();
    let build = BuildId::parse("payments-api:1111").unwrap();
    let previous = Commit::parse(&"1a".repeat(20)).unwrap();
    let log = builder
        .changelog(&name, "src", Some(&previous), &pin(), Some(&build))
        .await
        .unwrap();
    assert_eq!(
        log.oldest_commit_at.map(|t| t.timestamp()),
        Some(1_795_000_000)
    );
    assert_eq!(log.from, Some(previous));
    assert!(log.link.unwrap().contains("/build/payments-api%3A1111"));
    // A first release has no range, so no lead time: nothing to read.
    let first = builder
        .changelog(&name, "src", None, &pin(), Some(&build))
        .await
        .unwrap();
    assert_eq!(first.oldest_commit_at, None);
    assert_eq!(batch.num_calls(), 1);
}

#[tokio::test]
async fn the_changelog_after_a_poll_reuses_what_the_poll_read() {
    // One BatchGetBuilds for the poll; the changelog read that follows in the same
    // invocation takes the exported time from it rather than asking again.
    let batch = mock!(aws_sdk_codebuild::Client::batch_get_builds).then_output(|| {
        BatchGetBuildsOutput::builder()
            .builds(
                Build::builder()
                    .id("payments-api:1111")
                    .build_status(StatusType::Succeeded)
                    .resolved_source_version("3f".repeat(20))
                    .exported_environment_variables(
                        ExportedEnvironmentVariable::builder()
                            .name("OLDEST_COMMIT_AT")
                            .value("1795000000")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let codebuild = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, [&batch]);
    let (dynamo, table) = claims().await;
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let build = BuildId::parse("payments-api:1111").unwrap();
    let seen = builder.poll(std::slice::from_ref(&build)).await.unwrap();
    assert!(matches!(seen[0].1, Observed::Finished(_)));
    let previous = Commit::parse(&"1a".repeat(20)).unwrap();
    let name = ComponentName::parse("payments-api").unwrap();
    let log = builder
        .changelog(&name, "src", Some(&previous), &pin(), Some(&build))
        .await
        .unwrap();
    assert_eq!(
        log.oldest_commit_at.map(|t| t.timestamp()),
        Some(1_795_000_000)
    );
    assert_eq!(
        batch.num_calls(),
        1,
        "the poll's answer served the changelog"
    );
}

/// A build of `payments-api` carrying `RELEASE_BUILD_KEY=key`, started at `started`.
fn keyed_build(id: &str, key: &str, started: chrono::DateTime<chrono::Utc>) -> Build {
    let var = EnvironmentVariable::builder()
        .name("RELEASE_BUILD_KEY")
        .value(key)
        .build()
        .unwrap();
    let env = ProjectEnvironment::builder()
        .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
        .image("x")
        .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
        .environment_variables(var)
        .build()
        .unwrap();
    Build::builder()
        .id(id)
        .environment(env)
        .start_time(aws_smithy_types::DateTime::from_secs(started.timestamp()))
        .build()
}

/// A claim item for `key`, claimed at `at` (as `claim_starts` writes it).
async fn claimed(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
    at: chrono::DateTime<chrono::Utc>,
) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    dynamo
        .put_item()
        .table_name(table)
        .item("pk", S(format!("BUILD#{key}")))
        .item("sk", S("H".into()))
        .item("claimed_at", S(at.to_rfc3339()))
        .send()
        .await
        .unwrap();
}

// ListBuildsForProject, AWS CodeBuild API Reference
// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html):
// "If the project has more than 100 builds, setting the sort order will result in an
// error", and "if there are more than 100 items in the list, only the first 100 items are
// returned, along with a unique string called a nextToken". The emulator accepts a sort
// order on any project and never pages, so the answers are the SDK's mock (aws-smithy-mocks).
#[tokio::test]
async fn a_claimed_start_on_a_busy_project_pages_back_without_a_sort_order() {
    let key = "weekly-2026-W48/payments-api/staging/1";
    let (dynamo, table) = claims().await;
    let claim = chrono::Utc::now() - chrono::Duration::hours(2);
    claimed(&dynamo, &table, key, claim).await;
    let newer: Vec<String> = (0..100)
        .map(|i| format!("payments-api:new-{i:03}"))
        .collect();
    let first_ids = newer.clone();
    let first = mock!(aws_sdk_codebuild::Client::list_builds_for_project)
        .match_requests(|r| r.sort_order().is_none() && r.next_token().is_none())
        .then_output(move || {
            ListBuildsForProjectOutput::builder()
                .set_ids(Some(first_ids.clone()))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_codebuild::Client::list_builds_for_project)
        .match_requests(|r| r.sort_order().is_none() && r.next_token() == Some("page-2"))
        .then_output(|| {
            ListBuildsForProjectOutput::builder()
                .ids("payments-api:ours")
                .ids("payments-api:older")
                .build()
        });
    let later = claim + chrono::Duration::minutes(30);
    let batch_first = mock!(aws_sdk_codebuild::Client::batch_get_builds)
        .match_requests(|r| r.ids().len() == 100)
        .then_output(move || {
            let mut out = BatchGetBuildsOutput::builder();
            for id in &newer {
                out = out.builds(keyed_build(id, "another/train/staging/1", later));
            }
            out.build()
        });
    let batch_second = mock!(aws_sdk_codebuild::Client::batch_get_builds)
        .match_requests(|r| r.ids().first().map(String::as_str) == Some("payments-api:ours"))
        .then_output(move || {
            BatchGetBuildsOutput::builder()
                .builds(keyed_build("payments-api:ours", key, claim))
                .build()
        });
    let start = mock!(aws_sdk_codebuild::Client::start_build)
        .then_output(|| StartBuildOutput::builder().build());
    let codebuild = mock_client!(
        aws_sdk_codebuild,
        RuleMode::MatchAny,
        [&first, &second, &batch_first, &batch_second, &start]
    );
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let started = builder.start(&request(Stage::Staging, key)).await.unwrap();
    assert_eq!(started.build_id.as_str(), "payments-api:ours");
    assert_eq!(
        (first.num_calls(), second.num_calls()),
        (1, 1),
        "no sortOrder, two pages"
    );
    assert_eq!(start.num_calls(), 0, "no second build");
}

#[tokio::test]
async fn the_search_for_an_earlier_start_stops_at_builds_older_than_the_claim() {
    let key = "weekly-2026-W48/payments-api/staging/1";
    let (dynamo, table) = claims().await;
    let claim = chrono::Utc::now();
    claimed(&dynamo, &table, key, claim).await;
    let list = mock!(aws_sdk_codebuild::Client::list_builds_for_project)
        .match_requests(|r| r.sort_order().is_none())
        .then_output(|| {
            ListBuildsForProjectOutput::builder()
                .ids("payments-api:last-week")
                .next_token("more")
                .build()
        });
    let batch = mock!(aws_sdk_codebuild::Client::batch_get_builds).then_output(move || {
        BatchGetBuildsOutput::builder()
            .builds(keyed_build(
                "payments-api:last-week",
                "weekly-2026-W47/payments-api/staging/1",
                claim - chrono::Duration::days(7),
            ))
            .build()
    });
    let start = mock!(aws_sdk_codebuild::Client::start_build).then_output(|| {
        StartBuildOutput::builder()
            .build_value(Build::builder().id("payments-api:fresh").build())
            .build()
    });
    let codebuild = mock_client!(
        aws_sdk_codebuild,
        RuleMode::MatchAny,
        [&list, &batch, &start]
    );
    let builder = CodeBuildBuilder::new(codebuild, dynamo, table);
    let started = builder.start(&request(Stage::Staging, key)).await.unwrap();
    assert_eq!(started.build_id.as_str(), "payments-api:fresh");
    assert_eq!(
        list.num_calls(),
        1,
        "older builds than the claim are not searched"
    );
    assert_eq!(start.num_calls(), 1);
}

// Build.logs is a LogsLocation whose deepLink is "the URL to an individual build log in
// CloudWatch Logs" (LogsLocation, AWS CodeBuild API Reference,
// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html).
#[test]
fn a_build_links_to_its_own_log_or_to_its_page_in_the_region_it_ran_in() {
    let arn = "arn:aws:codebuild:eu-west-1:222222222222:build/payments-api:8745a7a9";
    let with_logs = Build::builder()
        .id("payments-api:8745a7a9")
        .arn(arn)
        .logs(
            aws_sdk_codebuild::types::LogsLocation::builder()
                .deep_link("https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/payments-api;stream=8745a7a9")
                .build(),
        )
        .build();
    assert!(
        train_aws::codebuild::logs_link(&with_logs)
            .unwrap()
            .contains("logEvent:group=/aws/codebuild/payments-api")
    );
    let without = Build::builder()
        .id("payments-api:8745a7a9")
        .arn(arn)
        .build();
    assert_eq!(
        train_aws::codebuild::logs_link(&without).unwrap(),
        "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/payments-api/build/payments-api%3A8745a7a9/?region=eu-west-1"
    );
}
