//! A whole week through the deployed shape: the functions' release binaries behind a Lambda
//! Runtime API on loopback, moto as AWS (DynamoDB, S3, EventBridge, CodeBuild's control
//! plane), and the documented payloads (scheduled event, CodeBuild state change, HTTP API
//! v2 request with an IAM authorizer context) from `aws_lambda_events`' fixtures. Every
//! trigger is delivered twice.
//!
//! moto's CodeBuild cannot run builds: `tests/moto_serial.py` lets the test finish each
//! build with the status and commit CodeBuild would report (see that file). Everything
//! else is the real SDK on the real emulator. The soak is seconds long, because the
//! binaries read the real clock.

mod common;

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use common::{ALICE, Answer, Deployment, config_text};
use serde_json::{Value, json};
use train_core::Config;

/// A past cut firing and the promote firing after it, from the configuration.
fn firings(components: &[&str], weeks_ago: i64) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let names: Vec<String> = components.iter().map(|c| (*c).to_owned()).collect();
    let config = Config::parse(&config_text(&names, "1s", "")).unwrap();
    let cut = config
        .train
        .cut
        .last_at_or_before(Utc::now() - Duration::weeks(weeks_ago), Duration::days(8))
        .unwrap();
    let promote = config.train.promote.next_after(cut).unwrap();
    (cut, promote)
}

/// What CloudWatch sends a custom widget's function: the sample event of the Amazon
/// CloudWatch User Guide, "Details about custom widgets in CloudWatch"
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/add_custom_widget_dashboard_about.html>),
/// as the guide prints it.
fn widget_event() -> Value {
    serde_json::from_str(include_str!("fixtures/custom-widget-event.json")).unwrap()
}

fn commit(i: usize) -> String {
    format!("{:040x}", 0x00c0_ffee_u64 * (i as u64 + 1))
}

/// Delivers a CodeBuild state change for each build, twice, as EventBridge may. The
/// builds have all finished, so the first event's pass records them all, and every later
/// event finds its own build recorded, reading only its component.
async fn deliver_build_events(
    d: &Deployment,
    train: &str,
    builds: &[(String, String)],
    status: &str,
) {
    for (i, (component, build)) in builds.iter().enumerate() {
        for delivery in 0..2 {
            let answer = d
                .events
                .ok(common::build_state_change(build, status, train, component))
                .await;
            assert_eq!(answer["train"], train, "{answer}");
            if i > 0 || delivery > 0 {
                assert_eq!(answer["already_recorded"], true, "{answer}");
                assert_eq!(answer["component"], component.as_str(), "{answer}");
                assert_eq!(answer["recorded_status"], status.to_lowercase(), "{answer}");
            } else {
                assert!(answer["builds_finished"].as_u64() > Some(0), "{answer}");
            }
        }
    }
}

async fn builds_of_project(d: &Deployment, project: &str) -> Vec<aws_sdk_codebuild::types::Build> {
    let cb = d.codebuild();
    let ids = cb
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .unwrap()
        .ids
        .unwrap_or_default();
    if ids.is_empty() {
        return Vec::new();
    }
    cb.batch_get_builds()
        .set_ids(Some(ids))
        .send()
        .await
        .unwrap()
        .builds
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)] // one week, told in order
async fn a_week_cuts_soaks_and_ships_exactly_the_soaked_commits_with_every_trigger_delivered_twice()
{
    let components = ["api", "web", "worker"];
    let d = Deployment::start(&components, "2s").await;
    let (cut_at, promote_at) = firings(&components, 2);

    // Monday: the cut schedule fires, and fires again.
    let first = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await;
    assert_eq!(first["outcome"], "created", "{first}");
    assert_eq!(first["state"], "building");
    let id = first["train"].as_str().unwrap().to_owned();
    let again = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await;
    assert_eq!(
        (again["outcome"].as_str(), again["train"].as_str()),
        (Some("already_cut"), Some(id.as_str()))
    );

    let staging = d.builds(&id, "staging").await;
    assert_eq!(staging.len(), 3, "one staging build per component");
    for c in components {
        assert_eq!(
            builds_of_project(&d, &d.project(c, "staging")).await.len(),
            1,
            "{c}: one staging build"
        );
    }

    // Staging builds go green at known commits; each event arrives twice.
    let pins: BTreeMap<String, String> = staging
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.clone(), commit(i)))
        .collect();
    for (c, build) in &staging {
        d.finish_build(build, "SUCCEEDED", Some(&pins[c]));
    }
    deliver_build_events(&d, &id, &staging, "SUCCEEDED").await;
    let soaking = d.train(&id).await;
    assert_eq!(soaking["state"], "soaking", "{soaking}");
    for c in soaking["components"].as_array().unwrap() {
        assert_eq!(
            c["pinned"].as_str(),
            Some(pins[c["name"].as_str().unwrap()].as_str())
        );
    }

    // Wednesday, after the soak: the promote schedule fires twice.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    for _ in 0..2 {
        let answer = d
            .promote
            .ok(common::scheduled_event(promote_at, json!({})))
            .await;
        assert_eq!(answer["trains"][0]["train"], id.as_str(), "{answer}");
        assert_eq!(answer["trains"][0]["state"], "promoting", "{answer}");
    }

    // Production builds: one per component, at exactly the soaked commit.
    let production = d.builds(&id, "production").await;
    assert_eq!(production.len(), 3);
    for c in components {
        let builds = builds_of_project(&d, &d.project(c, "production")).await;
        assert_eq!(builds.len(), 1, "{c}: one production build");
        assert_eq!(
            builds[0].source_version(),
            Some(pins[c].as_str()),
            "{c} ships its pin"
        );
    }

    // Two production builds finish and their events arrive (twice). The third finishes
    // later and its event is lost: the reconcile schedule finds it finished anyway.
    for (c, build) in &production[..2] {
        d.finish_build(build, "SUCCEEDED", Some(&pins[c]));
    }
    deliver_build_events(&d, &id, &production[..2], "SUCCEEDED").await;
    assert_eq!(d.train(&id).await["state"], "promoting");
    let (last, build) = &production[2];
    d.finish_build(build, "SUCCEEDED", Some(&pins[last]));
    let tick = d
        .promote
        .ok(common::scheduled_event(
            Utc::now(),
            json!({"action": "reconcile"}),
        ))
        .await;
    assert_eq!(tick["reconciled"]["builds_finished"], 1, "{tick}");
    let released = d.train(&id).await;
    assert_eq!(released["state"], "released", "{released}");

    // The released manifest names the shipped commits; CodeBuild saw no extra build.
    let manifest = d
        .s3()
        .get_object()
        .bucket(&d.bucket)
        .key(format!("trains/{id}/released.json"))
        .send()
        .await
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&manifest.body.collect().await.unwrap().into_bytes()).unwrap();
    let shipped = manifest["train"]["components"].as_object().unwrap();
    assert_eq!(shipped.len(), 3);
    for (name, run) in shipped {
        assert_eq!(
            run["production"]["commit"].as_str(),
            Some(pins[name].as_str()),
            "{run}"
        );
        assert_eq!(run["production"]["status"], "succeeded", "{run}");
    }
    for c in components {
        assert_eq!(
            builds_of_project(&d, &d.project(c, "production"))
                .await
                .len(),
            1
        );
        assert_eq!(
            builds_of_project(&d, &d.project(c, "staging")).await.len(),
            1
        );
    }

    // The dashboard's widget draws the released train.
    let html = d.widget.ok(widget_event()).await;
    let html = html.as_str().expect("the widget answers a string of HTML");
    assert!(html.contains("class=\"state released\""), "{html}");

    // Every function logged JSON lines saying which SDK calls it made, and each call is
    // covered by what the template grants that function (template.rs checks the grants
    // themselves): the widget's reads by its read-only role.
    for f in d.functions() {
        let granted = train_lambda::iam::function_actions(&f.name);
        let calls = common::calls_logged(f);
        assert!(!calls.is_empty(), "{}: {}", f.name, f.log_text());
        for op in calls {
            let needs = train_lambda::iam::actions_for(&op)
                .unwrap_or_else(|| panic!("{} calls {op}, which no grant covers", f.name));
            assert!(
                needs.iter().all(|a| granted.contains(a)),
                "{}: {op} needs {needs:?}, its role grants {granted:?}",
                f.name
            );
        }
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_train_never_starts_a_production_build_and_says_who_cancelled() {
    let components = ["api", "web"];
    let d = Deployment::start(&components, "2s").await;
    let (cut_at, promote_at) = firings(&components, 3);
    let id = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await["train"]
        .as_str()
        .unwrap()
        .to_owned();
    let staging = d.builds(&id, "staging").await;
    for (i, (_, build)) in staging.iter().enumerate() {
        d.finish_build(build, "SUCCEEDED", Some(&commit(i)));
    }
    deliver_build_events(&d, &id, &staging, "SUCCEEDED").await;

    let cancel = format!("/trains/{id}/cancel");
    let reason = json!({"reason": "payments bug found in staging"});
    // Without an authenticated caller nothing changes.
    let (status, body) = d.http("POST", &cancel, Some(reason.clone()), None).await;
    assert_eq!(status, 401, "{body}");
    // A body that names its own actor is refused: the actor is the IAM principal.
    let (status, body) = d
        .http(
            "POST",
            &cancel,
            Some(json!({"reason": "x", "actor": "someone-else"})),
            Some(ALICE),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    for attempt in 0..2 {
        let (status, body) = d
            .http("POST", &cancel, Some(reason.clone()), Some(ALICE))
            .await;
        if attempt == 0 {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["state"], "cancelled");
        } else {
            assert_eq!(
                status, 409,
                "a second cancel says it no longer applies: {body}"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("cancelled"),
                "{body}"
            );
        }
    }
    let train = d.train(&id).await;
    let last = train["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], ALICE, "{last}");
    assert_eq!(last["reason"], "payments bug found in staging");

    // The promote schedule fires (twice) after the soak: nothing ships.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    for _ in 0..2 {
        let answer = d
            .promote
            .ok(common::scheduled_event(promote_at, json!({})))
            .await;
        assert_eq!(answer["trains"], json!([]), "{answer}");
    }
    for c in components {
        assert!(
            builds_of_project(&d, &d.project(c, "production"))
                .await
                .is_empty(),
            "{c}"
        );
    }
    assert_eq!(d.train(&id).await["state"], "cancelled");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payloads_that_are_not_ours_are_acknowledged_and_a_schedule_at_an_unplanned_time_is_an_error()
 {
    let d = Deployment::start(&["api"], "2s").await;
    // A build event without the train's variables (whether CodeBuild's events carry
    // overridden variables is not documented): acknowledged, and instead of dropping it
    // every unsettled train's builds are read; there is none yet, so nothing changes.
    let mut foreign = common::build_state_change("other:1234", "SUCCEEDED", "x", "api");
    foreign["detail"]["additional-information"]["environment"]["environment-variables"] = json!([]);
    let answer = d.events.ok(foreign).await;
    assert_eq!(
        (
            answer["trains"].as_u64(),
            answer["builds_finished"].as_u64()
        ),
        (Some(0), Some(0)),
        "{answer}"
    );
    // A cut at a time release-train.toml does not plan: a fault, so it reaches the DLQ.
    let tuesday = firings(&["api"], 1).0 + Duration::days(1);
    match d
        .cut
        .invoke(common::scheduled_event(tuesday, json!({})))
        .await
    {
        Answer::Error(e) => assert!(e.to_string().contains("trainctl infra-params"), "{e}"),
        Answer::Response(r) => panic!("an unplanned cut was accepted: {r}"),
    }
    let (status, body) = d.http("GET", "/trains", None, Some(ALICE)).await;
    assert_eq!((status, &body["trains"]), (200, &json!([])), "{body}");
    d.stop().await;
}

/// Migrations first, through the functions' binaries: db-migrations (wave 1) builds alone
/// in staging and in production; api (wave 2) builds after it in staging, and in
/// production only after wave 1's bake. A CloudWatch alarm in ALARM during the bake holds
/// wave 2 (the history says what shipped) until it is OK again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)] // one week, told in order
async fn migrations_ship_first_and_an_alarm_during_the_bake_holds_wave_two() {
    use aws_sdk_cloudwatch::types::StateValue;
    let components = ["db-migrations", "api"];
    let alarm = format!(
        "checkout-5xx-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let pace = common::Pace {
        waves: vec![1, 2],
        train: format!("wave_bake = \"4s\"\nalarms = [\"{alarm}\"]"),
    };
    let d = Deployment::start_paced(&components, "1s", &pace).await;
    let cloudwatch = d.cloudwatch();
    common::create_alarm(&cloudwatch, &alarm).await;
    let set_alarm = |state: StateValue| common::set_alarm(&cloudwatch, &alarm, state);
    let reconcile = || async {
        d.promote
            .ok(common::scheduled_event(
                Utc::now(),
                json!({"action": "reconcile"}),
            ))
            .await
    };
    let (cut_at, promote_at) = firings(&components, 4);
    let id = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await["train"]
        .as_str()
        .unwrap()
        .to_owned();

    // Staging: wave 1 alone, then wave 2 once it is green.
    let staging = d.builds(&id, "staging").await;
    assert_eq!(
        staging.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["db-migrations"]
    );
    assert!(
        builds_of_project(&d, &d.project("api", "staging"))
            .await
            .is_empty()
    );
    d.finish_build(&staging[0].1, "SUCCEEDED", Some(&commit(0)));
    deliver_build_events(&d, &id, &staging, "SUCCEEDED").await;
    let staging = d.builds(&id, "staging").await;
    assert_eq!(staging.len(), 2, "wave 2 started in staging");
    let (_, api_staging) = staging.iter().find(|(c, _)| c == "api").unwrap();
    d.finish_build(api_staging, "SUCCEEDED", Some(&commit(1)));
    deliver_build_events(
        &d,
        &id,
        &[("api".to_owned(), api_staging.clone())],
        "SUCCEEDED",
    )
    .await;
    assert_eq!(d.train(&id).await["state"], "soaking");

    // Production: wave 1 alone.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let answer = d
        .promote
        .ok(common::scheduled_event(promote_at, json!({})))
        .await;
    assert_eq!(answer["trains"][0]["state"], "promoting", "{answer}");
    let production = d.builds(&id, "production").await;
    assert_eq!(
        production
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["db-migrations"]
    );
    d.finish_build(&production[0].1, "SUCCEEDED", Some(&commit(0)));
    deliver_build_events(&d, &id, &production, "SUCCEEDED").await;
    let baking = d.train(&id).await;
    assert_eq!(baking["state"], "promoting", "{baking}");
    assert_eq!(baking["gates"][0]["gate"], "baking", "{baking}");
    assert!(
        baking["summary"]
            .as_str()
            .unwrap()
            .starts_with("baking wave 1, wave 2 at "),
        "{baking}"
    );
    assert!(
        builds_of_project(&d, &d.project("api", "production"))
            .await
            .is_empty()
    );

    // The alarm fires during the bake: the next reconcile pass reads it and holds wave 2.
    set_alarm(StateValue::Alarm).await;
    reconcile().await;
    let after_alarm = d.train(&id).await;
    assert_eq!(after_alarm["state"], "held", "{after_alarm}");
    let hold = after_alarm["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["action"] == "hold")
        .unwrap()
        .clone();
    assert_eq!(hold["actor"], format!("alarm:{alarm}"), "{hold}");
    let why = hold["reason"].as_str().unwrap();
    assert!(why.contains("during the bake of wave 1"), "{why}");
    assert!(why.contains("shipped: db-migrations"), "{why}");
    // Past the bake, still held: wave 2 never started.
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    reconcile().await;
    assert_eq!(d.train(&id).await["state"], "held");
    assert!(
        builds_of_project(&d, &d.project("api", "production"))
            .await
            .is_empty(),
        "no wave-2 build while the alarm fires"
    );

    // OK again: the hold lifts and wave 2 ships.
    set_alarm(StateValue::Ok).await;
    reconcile().await;
    let production = d.builds(&id, "production").await;
    let (_, api_production) = production
        .iter()
        .find(|(c, _)| c == "api")
        .expect("wave 2 started once the alarm was OK");
    d.finish_build(api_production, "SUCCEEDED", Some(&commit(1)));
    reconcile().await;
    assert_eq!(d.train(&id).await["state"], "released");
    d.stop().await;
}

/// Approvals through the `api` function on DynamoDB: an approval from a principal that
/// `approvers` does not name is a 403 naming who may; one from a named principal (an
/// assumed role's session) records the commits it approves, stored with the train.
/// (Voiding by a staging retry is the core's rule, in `shared/core/tests/waves.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approvals_name_their_commits_and_only_approvers_may_give_them() {
    let components = ["api", "web"];
    let manager = "arn:aws:sts::123456789012:assumed-role/ReleaseManagers/carol";
    let pace = common::Pace {
        waves: vec![1, 1],
        train: "approvals = 1\napprovers = [\"arn:aws:sts::*:assumed-role/ReleaseManagers/*\"]"
            .to_owned(),
    };
    let d = Deployment::start_paced(&components, "1h", &pace).await;
    let (cut_at, _) = firings(&components, 5);
    let id = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await["train"]
        .as_str()
        .unwrap()
        .to_owned();
    let staging = d.builds(&id, "staging").await;
    for (i, (_, build)) in staging.iter().enumerate() {
        d.finish_build(build, "SUCCEEDED", Some(&commit(i)));
    }
    deliver_build_events(&d, &id, &staging, "SUCCEEDED").await;
    assert_eq!(d.train(&id).await["state"], "soaking");

    let approve = format!("/trains/{id}/approve");
    let why = json!({"reason": "staging looks right"});
    let (status, body) = d
        .http("POST", &approve, Some(why.clone()), Some(ALICE))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "not_an_approver", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("arn:aws:sts::*:assumed-role/ReleaseManagers/*"),
        "{body}"
    );
    let (status, body) = d.http("POST", &approve, Some(why), Some(manager)).await;
    assert_eq!(status, 200, "{body}");
    let approval = &body["approvals"][0];
    assert_eq!(approval["by"], manager, "{body}");
    assert_eq!(approval["pins"]["api"], commit(0), "{body}");
    assert_eq!(approval["pins"]["web"], commit(1), "{body}");
    d.stop().await;
}

/// The dashboard's custom widget, as CloudWatch calls it (the documented event), draws the
/// soaking train from the store with the local status page's renderer: state and why it
/// waits, the soak countdown, each component's pinned commit and its builds, the timeline.
/// Rendered in headless Chromium; `WIDGET_PNG` keeps the screenshot (docs/dashboard-widget.png).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_widget_draws_the_current_train_from_the_store() {
    let components = ["api", "web"];
    let d = Deployment::start(&components, "2d").await;
    let (cut_at, _) = firings(&components, 0);
    let first = d.widget.ok(widget_event()).await;
    assert!(first.as_str().unwrap().contains("No train yet"), "{first}");
    let cut = d.cut.ok(common::scheduled_event(cut_at, json!({}))).await;
    let id = cut["train"].as_str().unwrap().to_owned();
    let staging = d.builds(&id, "staging").await;
    let pins = [
        "3f9c2a17e4b0c8d1a6f5e2d3c4b5a69788796a5b",
        "9b1d4e7f20c3a5b6d8e9f0a1b2c3d4e5f6a7b8c9",
    ];
    for ((_, build), pin) in staging.iter().zip(pins) {
        d.finish_build(build, "SUCCEEDED", Some(pin));
    }
    deliver_build_events(&d, &id, &staging, "SUCCEEDED").await;
    let (status, _) = d
        .http(
            "POST",
            &format!("/trains/{id}/hold"),
            Some(json!({"reason": "checkout <errors> up 3%"})),
            Some(ALICE),
        )
        .await;
    assert_eq!(status, 200);

    let html = d.widget.ok(widget_event()).await;
    let html = html.as_str().expect("a string of HTML").to_owned();
    for shown in [
        "<div class=\"rt\">",
        id.as_str(),
        "class=\"state held\"",
        "Soak ends in",
        "Waiting for",
        "checkout &lt;errors&gt; up 3%",
        "<b>api</b>",
        "<b>web</b>",
        &pins[0][..12],
        &pins[1][..12],
        "AWS account",
        "id=\"timeline\"",
    ] {
        assert!(html.contains(shown), "the widget lacks {shown:?}:\n{html}");
    }
    // CloudWatch removes JavaScript from a widget; there is none to remove.
    assert!(!html.contains("<script"), "{html}");
    // Asked to describe itself, it answers Markdown.
    let described = d.widget.ok(json!({"describe": true})).await;
    assert!(
        described.as_str().unwrap().starts_with("## release-train"),
        "{described}"
    );
    // Its calls: reads only.
    let calls = common::calls_logged(&d.widget);
    assert!(
        calls
            .iter()
            .all(|op| train_lambda::iam::STORE_READS.contains(&op.as_str())),
        "{calls:?}"
    );

    // In a browser, as the dashboard embeds it.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("widget.html");
    std::fs::write(
        &page,
        format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0\">{html}</body></html>"),
    )
    .unwrap();
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-widget.png");
    let _ = std::fs::remove_file(&shot);
    let out = common::chromium(
        &dir.path().join("profile"),
        &[
            "--window-size=1280,800",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", page.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert!(
        png.len() > 20_000,
        "a page, not a blank: {} bytes",
        png.len()
    );
    if let Ok(copy) = std::env::var("WIDGET_PNG") {
        std::fs::copy(&shot, copy).unwrap();
    }
    d.stop().await;
}
