//! The HTTP API over a real local-mode engine: every route, every rejection, and random
//! input that must only ever get a 2xx or 4xx JSON answer.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use train_core::{Actor, State};
use train_engine::api::{self, Request, Response};

fn alice() -> Actor {
    Actor::parse("local:alice").unwrap()
}

async fn call(world: &World, method: &str, path: &str, body: &str) -> Response {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let req = Request {
        method,
        path,
        query,
        body: body.as_bytes(),
        actor: Some(alice()),
    };
    api::handle(&world.local.engine, req, world.clock_now()).await
}

trait Now {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Now for World {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use train_local::Clock;
        self.clock.now()
    }
}

fn message(r: &Response) -> &str {
    r.body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no error message in {}", r.body))
}

async fn soaking_world() -> (World, String) {
    let world = World::new(&[repo("api")], "");
    let t = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    (world, t.id.to_string())
}

#[tokio::test]
async fn list_and_show_describe_the_train_and_what_blocks_it() {
    let (world, id) = soaking_world().await;
    let r = call(&world, "GET", "/trains", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["trains"][0]["id"], id.as_str());
    assert_eq!(r.body["trains"][0]["state"], "soaking");
    let r = call(&world, "GET", "/trains?state=released", "").await;
    assert_eq!(r.body["trains"].as_array().unwrap().len(), 0);
    let r = call(&world, "GET", &format!("/trains/{id}"), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["components"][0]["name"], "api");
    assert!(r.body["components"][0]["pinned"].as_str().unwrap().len() == 40);
    let blocked: Vec<&str> = r.body["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        blocked
            .iter()
            .any(|b| b.starts_with("soaking until Wed 2026-11-25 09:00")),
        "{blocked:?}"
    );
    assert!(
        blocked.contains(&"waiting for the promote schedule"),
        "{blocked:?}"
    );
}

#[tokio::test]
async fn cancel_records_the_authenticated_actor_and_a_second_cancel_is_a_409() {
    let (world, id) = soaking_world().await;
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/cancel"),
        r#"{"reason": "checkout errors in staging"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "cancelled");
    let last = r.body["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["actor"].as_str(), last["reason"].as_str()),
        (Some("local:alice"), Some("checkout errors in staging"))
    );
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/cancel"),
        r#"{"reason": "again"}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(
        message(&r).contains("already cancelled by local:alice"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn hold_and_resume_round_trip_with_409s_when_they_do_not_apply() {
    let (world, id) = soaking_world().await;
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/resume"),
        r#"{"reason": "nothing held"}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(message(&r).contains("is not held"));
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/hold"),
        r#"{"reason": "p99 latency up"}"#,
    )
    .await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("held")));
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/hold"),
        r#"{"reason": "again"}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(
        &world,
        "POST",
        &format!("/trains/{id}/resume"),
        r#"{"reason": "dashboard bug"}"#,
    )
    .await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("soaking")));
}

#[tokio::test]
async fn bad_requests_get_a_4xx_that_says_what_to_do() {
    let (world, id) = soaking_world().await;
    let cancel = format!("/trains/{id}/cancel");
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "POST",
            cancel.clone(),
            "{not json",
            400,
            "must be JSON like",
        ),
        ("POST", cancel.clone(), "{}", 400, "missing field `reason`"),
        (
            "POST",
            cancel.clone(),
            r#"{"reason": ""}"#,
            400,
            "1 to 500 characters",
        ),
        (
            "POST",
            cancel.clone(),
            r#"{"reason": 42}"#,
            400,
            "must be JSON like",
        ),
        (
            "POST",
            cancel.clone(),
            r#"{"reason": "x", "actor": "mallory"}"#,
            400,
            "the actor is the authenticated caller",
        ),
        (
            "POST",
            "/trains/weekly-2030-W01/cancel".into(),
            r#"{"reason": "x"}"#,
            404,
            "there is no train weekly-2030-W01",
        ),
        (
            "GET",
            "/trains/weekly-2030-W01".into(),
            "",
            404,
            "GET /trains lists them",
        ),
        (
            "GET",
            "/trains/bad id!".into(),
            "",
            400,
            "train ids look like",
        ),
        (
            "POST",
            format!("/trains/{id}/explode"),
            r#"{"reason": "x"}"#,
            404,
            "use one of cancel, hold, resume, approve, retry, expedite, rollback",
        ),
        ("PUT", "/trains".into(), "", 405, "use GET"),
        ("GET", "/nowhere".into(), "", 404, "see GET /trains"),
        (
            "GET",
            "/trains?state=lost".into(),
            "",
            400,
            "use one of building",
        ),
        ("GET", "/trains?limit=0".into(), "", 400, "1 to 200"),
    ];
    for (method, path, body, status, hint) in cases {
        let r = call(&world, method, &path, body).await;
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.body);
        assert!(
            message(&r).contains(hint),
            "{method} {path} {body}: {} should say {hint:?}",
            r.body
        );
    }
    let big = format!(r#"{{"reason": "{}"}}"#, "x".repeat(api::MAX_BODY));
    assert_eq!(call(&world, "POST", &cancel, &big).await.status, 413);
    let unauthenticated = api::handle(
        &world.local.engine,
        Request {
            method: "POST",
            path: &cancel,
            query: None,
            body: b"{\"reason\":\"x\"}",
            actor: None,
        },
        world.clock_now(),
    )
    .await;
    assert_eq!(unauthenticated.status, 401);
    // Nothing above changed the train.
    let r = call(&world, "GET", &format!("/trains/{id}"), "").await;
    assert_eq!(r.body["state"], "soaking");
}

#[tokio::test]
async fn the_operating_actions_answer_with_the_new_state_or_a_409_that_says_why() {
    let (world, id) = soaking_world().await;
    let post = |action: &str| format!("/trains/{id}/{action}");
    let body = r#"{"reason": "release captain call"}"#;
    for (action, hint) in [
        ("approve", "needs no approval"),
        ("retry", "no failed build"),
        ("rollback", "only a released train can be rolled back"),
        ("resume", "not held"),
    ] {
        let r = call(&world, "POST", &post(action), body).await;
        assert_eq!(r.status, 409, "{action}: {}", r.body);
        assert!(message(&r).contains(hint), "{action}: {}", r.body);
    }
    let r = call(&world, "POST", &post("expedite"), body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["state"], "promoting",
        "expedite promotes before the soak ends"
    );
    let expedite = r.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "expedite")
        .unwrap();
    assert_eq!(expedite["actor"], "local:alice");
    assert_eq!(expedite["reason"], "release captain call");
    let again = call(&world, "POST", &post("expedite"), body).await;
    assert_eq!(again.status, 409);
    assert!(
        message(&again).contains("already promoting"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn skip_next_and_pause_stop_cuts_and_promotions_and_say_who_and_why() {
    let (world, soaking) = soaking_world().await;
    let body = r#"{"reason": "company offsite"}"#;
    let r = call(&world, "GET", "/schedule", "").await;
    assert_eq!(
        (r.status, &r.body["paused"]),
        (200, &Value::Null),
        "{}",
        r.body
    );
    let next_cut = r.body["next_cut"].clone();

    let r = call(&world, "POST", "/schedule/skip-next", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["skip"]["firing"], next_cut,
        "the next cut is the one skipped"
    );
    let again = call(&world, "POST", "/schedule/skip-next", body).await;
    assert_eq!(again.status, 409);
    assert!(
        message(&again).contains("already skipped"),
        "{}",
        again.body
    );

    // The skipped cut is a train of its own that says who skipped it and why.
    let skipped = world
        .run_until(10, |_, _, _| None, |t, _| t.id.as_str() != soaking)
        .await;
    assert_eq!(skipped.state(), State::Skipped);
    let record = skipped.history.last().unwrap();
    assert_eq!(record.actor, alice());
    assert_eq!(
        record.reason.as_deref(),
        Some("cut skipped by local:alice: company offsite")
    );
    let older = call(&world, "GET", &format!("/trains/{soaking}"), "").await;
    assert_eq!(
        older.body["state"], "released",
        "the earlier train went its way"
    );

    // Paused: the next cut is skipped too, and says so; pause and resume apply once each.
    let r = call(&world, "POST", "/schedule/pause", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["paused"]["by"], "local:alice");
    assert_eq!(
        call(&world, "POST", "/schedule/pause", body).await.status,
        409
    );
    let skipped_id = skipped.id.clone();
    let paused = world
        .run_until(20, |_, _, _| None, |t, _| t.id != skipped_id)
        .await;
    assert_eq!(paused.state(), State::Skipped);
    assert!(
        paused
            .history
            .last()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .starts_with("schedule paused by local:alice"),
        "{:?}",
        paused.history
    );
    assert_eq!(
        call(&world, "POST", "/schedule/resume", body).await.status,
        200
    );
    let r = call(&world, "POST", "/schedule/resume", body).await;
    assert_eq!(r.status, 409);
    assert!(message(&r).contains("not paused"), "{}", r.body);
    let r = call(&world, "GET", "/schedule", "").await;
    let actions: Vec<&str> = r.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(
        call(&world, "POST", "/schedule/explode", body).await.status,
        404
    );
}

#[tokio::test]
async fn cancel_after_promotion_started_is_rejected_with_what_applies() {
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 3\n";
    let world = World::new(
        &[Repo {
            production: slow,
            ..repo("api")
        }],
        "",
    );
    let t = world
        .run_until(4, |_, _, _| None, |t, _| t.state() == State::Promoting)
        .await;
    let r = call(
        &world,
        "POST",
        &format!("/trains/{}/cancel", t.id),
        r#"{"reason": "too late"}"#,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        message(&r).contains("already promoting") && message(&r).contains("roll back"),
        "{}",
        r.body
    );
    let after = call(&world, "GET", &format!("/trains/{}", t.id), "").await;
    assert_eq!(
        after.body["state"], "promoting",
        "the rejected cancel changed nothing"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn no_input_gets_a_500_or_a_panic(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), Just("PUT".to_owned()), Just("DELETE".to_owned()), "[A-Z]{0,8}"],
        path in prop_oneof![
            Just("/trains".to_owned()),
            "/trains/[a-zA-Z0-9%._-]{0,40}",
            "/trains/weekly-2026-W48/[a-z]{0,10}",
            "/trains/weekly-2026-W48/(cancel|hold|resume|approve|retry|expedite|rollback)",
            "/schedule(/(pause|resume|skip-next|[a-z-]{0,10}))?",
            "/[ -~]{0,60}",
        ],
        body in prop_oneof![
            Just(String::new()),
            "\\PC{0,200}",
            "\\{\"reason\": \"[ -~]{0,40}\"\\}",
            "\\{\"reason\": [0-9]{1,4}\\}",
            "\\{\"[a-z]{1,8}\": \"[a-z]{0,8}\"\\}",
            "\\{\"reason\": \"[ -~]{0,40}\", \"actor\": \"[a-z]{1,8}\"\\}",
            "[\\[\\]{}\":,0-9a-z ]{0,80}",
        ],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let world = WORLD.with(Clone::clone);
        let r = runtime.block_on(async {
            let (path, query) = path.split_once('?').map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
            api::handle(&world.engine, Request { method: &method, path, query, body: body.as_bytes(), actor: Some(alice()) }, chrono::Utc::now()).await
        });
        prop_assert!(r.status < 500, "{} {} {:?} -> {} {}", method, path, body, r.status, r.body);
        prop_assert!(r.body.is_object());
        if r.status >= 400 {
            prop_assert!(r.body.pointer("/error/message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()));
        }
    }
}

/// One engine for the fuzz cases, with a train in it, built once per test thread.
#[derive(Clone)]
struct Shared {
    engine: train_engine::Engine,
    /// Keeps the data directory alive for the engine.
    _world: std::sync::Arc<World>,
}

thread_local! {
    static WORLD: Shared = {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (world, _) = runtime.block_on(soaking_world());
        let world = std::sync::Arc::new(world);
        Shared { engine: world.local.engine.clone(), _world: world }
    };
}

/// A second cut firing in the same week (a second trial run, a firing delivered late)
/// finds the week's train and changes nothing: the schedule's audit trail says so once per
/// firing, naming the train and how to start another, instead of saying nothing.
#[tokio::test]
async fn a_second_cut_in_the_same_week_changes_nothing_and_says_so_once() {
    let (world, id) = soaking_world().await;
    let later = world.clock_now() + chrono::Duration::hours(2);
    for delivery in 0..2 {
        let cut = world
            .local
            .engine
            .cut(later, later + chrono::Duration::seconds(delivery))
            .await
            .unwrap();
        assert!(
            matches!(cut, train_engine::Cut::AlreadyCut(ref t) if t.id.as_str() == id),
            "{cut:?}"
        );
    }
    let r = call(&world, "GET", "/schedule", "").await;
    let notes: Vec<&Value> = r.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"].as_str().unwrap().contains("changed nothing"))
        .collect();
    assert_eq!(notes.len(), 1, "once per firing: {}", r.body);
    assert_eq!(notes[0]["actor"], "schedule:cut");
    let why = notes[0]["reason"].as_str().unwrap();
    assert!(
        why.contains(&id) && why.contains("already exists") && why.contains("trainctl cut"),
        "{why}"
    );
    assert_eq!(
        world
            .local
            .engine
            .list(&train_engine::ports::ListQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// `POST /trains` cuts a train now, outside the schedule, with the caller and the reason
/// in its history; the scheduled train of the week is superseded, as by any newer cut.
#[tokio::test]
async fn a_person_can_cut_a_train_now_with_a_reason_and_it_names_them() {
    let (world, id) = soaking_world().await;
    let r = call(
        &world,
        "POST",
        "/trains",
        r#"{"reason": "hotfix for the login bug"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let adhoc = r.body["id"].as_str().unwrap().to_owned();
    assert!(adhoc.starts_with("weekly-adhoc-"), "{adhoc}");
    let first = &r.body["history"][0];
    assert_eq!(first["actor"], "local:alice", "{first}");
    assert_eq!(first["reason"], "hotfix for the login bug", "{first}");
    let again = call(&world, "POST", "/trains", r#"{"reason": "double click"}"#).await;
    assert_eq!(
        again.status, 409,
        "the same second is the same train: {}",
        again.body
    );
    assert_eq!(again.body["error"]["code"], "already_cut");
    let r = call(&world, "POST", "/trains", "{}").await;
    assert_eq!(r.status, 400, "a cut needs a reason: {}", r.body);
    let r = call(&world, "GET", "/trains", "").await;
    let ids: Vec<&str> = r.body["trains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&adhoc.as_str()) && ids.contains(&id.as_str()),
        "{ids:?}"
    );
}

/// A train's answer carries the newest [`api::HISTORY_PAGE`] history entries and says how
/// many there are; `history_before` pages back through the rest, so a train held and
/// resumed hundreds of times answers as fast as a new one.
#[tokio::test]
async fn a_long_history_comes_in_pages_newest_first() {
    let (world, id) = soaking_world().await;
    for i in 0..80 {
        for action in ["hold", "resume"] {
            let r = call(
                &world,
                "POST",
                &format!("/trains/{id}/{action}"),
                &format!(r#"{{"reason": "{action} {i}"}}"#),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let r = call(&world, "GET", &format!("/trains/{id}"), "").await;
    let total = usize::try_from(r.body["history_total"].as_u64().unwrap()).unwrap();
    assert!(total > 160, "{total}");
    let page = r.body["history"].as_array().unwrap();
    assert_eq!(page.len(), api::HISTORY_PAGE);
    assert_eq!(
        page.last().unwrap()["reason"],
        "resume 79",
        "the newest come first"
    );
    let before = usize::try_from(r.body["history_before"].as_u64().unwrap()).unwrap();
    assert_eq!(before, total - api::HISTORY_PAGE);
    let mut seen = page.len();
    let mut cursor = Some(before);
    while let Some(b) = cursor {
        let r = call(
            &world,
            "GET",
            &format!("/trains/{id}?history_before={b}&history_limit=50"),
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let n = r.body["history"].as_array().unwrap().len();
        assert!(n > 0 && n <= 50, "{n}");
        seen += n;
        cursor = r.body["history_before"]
            .as_u64()
            .map(|v| usize::try_from(v).unwrap());
    }
    assert_eq!(seen, total, "paging reaches every entry exactly once");
    let r = call(&world, "GET", &format!("/trains/{id}?history_limit=0"), "").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(message(&r).contains("history_limit"), "{}", r.body);
}

/// A reason is one line of printable text: a line break, a terminal escape or a bidi
/// override would let one person's reason forge lines in everyone's `trainctl history`.
#[tokio::test]
async fn reasons_with_line_breaks_or_terminal_escapes_are_refused_and_change_nothing() {
    let (world, id) = soaking_world().await;
    for reason in [
        "ok\nFAKE LINE: bob cancelled",
        "ok\r",
        "\u{1b}[2Jcleared",
        "\u{202e}desrever",
    ] {
        let body = serde_json::json!({ "reason": reason }).to_string();
        let r = call(&world, "POST", &format!("/trains/{id}/hold"), &body).await;
        assert_eq!(r.status, 400, "{reason:?}: {}", r.body);
        assert!(
            message(&r).contains("one line of printable text"),
            "{}",
            r.body
        );
    }
    let r = call(&world, "GET", &format!("/trains/{id}"), "").await;
    assert_eq!(r.body["state"], "soaking");
}

/// `events.jsonl` (the local event bus) gets one line per command and per change of state,
/// each naming who: the hold, the resume and the cancel, none skipped.
#[tokio::test]
async fn every_command_reaches_the_event_log_with_its_actor_and_reason() {
    let (world, id) = soaking_world().await;
    for (action, reason) in [
        ("hold", "p99 up"),
        ("resume", "dashboard bug"),
        ("cancel", "bad migration"),
    ] {
        let body = serde_json::json!({ "reason": reason }).to_string();
        let r = call(&world, "POST", &format!("/trains/{id}/{action}"), &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    world.runner.step().await.unwrap();
    let log = std::fs::read_to_string(world.root.path().join("data/events.jsonl")).unwrap();
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["detail"].clone())
        .filter(|d| d["actor"] == "local:alice")
        .collect();
    let walk: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|d| {
            (
                d["from"].as_str().unwrap(),
                d["to"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        walk,
        [
            ("soaking", "held", "p99 up"),
            ("held", "soaking", "dashboard bug"),
            ("soaking", "cancelled", "bad migration"),
        ]
    );
}

/// `approvers` names who may approve: anyone else gets a 403 that says who may, and the
/// train does not change.
#[tokio::test]
async fn an_approval_from_someone_not_among_the_approvers_is_a_403_naming_who_may() {
    let world = World::new(
        &[repo("api")],
        "approvals = 1\napprovers = [\"bob\", \"carol\"]",
    );
    let t = world
        .run_until(3, |_, _, _| None, |t, _| t.state() == State::Soaking)
        .await;
    let r = call(
        &world,
        "POST",
        &format!("/trains/{}/approve", t.id),
        r#"{"reason": "ship it"}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "not_an_approver", "{}", r.body);
    assert!(
        message(&r).contains("local:alice may not approve"),
        "{}",
        r.body
    );
    assert!(message(&r).contains("bob, carol"), "{}", r.body);
    let r = call(&world, "GET", &format!("/trains/{}", t.id), "").await;
    assert!(r.body.get("approvals").is_none(), "{}", r.body);
    assert_eq!(r.body["state"], "soaking");
}
