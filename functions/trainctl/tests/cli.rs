//! `trainctl` as a person uses it: the demo, validate and plan, and `serve` driven over
//! HTTP and killed with SIGKILL mid-train.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TRAINCTL: &str = env!("CARGO_BIN_EXE_trainctl");

fn trainctl(args: &[&str]) -> Output {
    Command::new(TRAINCTL)
        .args(args)
        .env_remove("TRAINCTL_API")
        .output()
        .expect("trainctl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_demo_runs_a_week_and_releases_the_pinned_commits() {
    let out = trainctl(&["demo"]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains("cut")
            && s.contains("soak started")
            && s.contains("promote wave 1")
            && s.contains("[promoting -> released]"),
        "{s}"
    );
    assert!(s.contains("lands on api/main during the soak"), "{s}");
    assert!(s.contains("RELEASED weekly-"), "{s}");
}

#[test]
fn the_demo_with_cancel_starts_no_production_build() {
    let out = trainctl(&["demo", "--cancel"]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("[soaking -> cancelled]"), "{s}");
    assert!(
        s.contains("CANCELLED weekly-") && s.contains("no production builds started"),
        "{s}"
    );
    assert!(!s.contains("production build of"), "{s}");
}

fn fixture() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/minimal.toml"
    ))
    .unwrap()
}

#[test]
fn validate_accepts_a_good_file_and_names_line_field_and_fix_for_each_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-train.toml");
    std::fs::write(&path, fixture()).unwrap();
    let out = trainctl(&["validate", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("valid"));

    let mistakes = [
        (
            "time_zone = \"Europe/Berlin\"",
            "time_zone = \"Mars/Olympus\"",
            ":4: train.time_zone: unknown time zone",
        ),
        ("soak = \"48h\"", "soak = \"a while\"", ":7: train.soak:"),
        (
            "cut = \"cron(0 9 ? * MON *)\"",
            "cut = \"cron(0 9 * * MON *)\"",
            ":5: train.cut:",
        ),
        (
            "wave = 2\n",
            "wave = 0\n",
            "wave: must be a whole number from 1 to 100",
        ),
        ("soak = \"48h\"", "soak = 48h", ":7: syntax:"),
        (
            "soak = \"48h\"",
            "soak = \"48h\"\nsoke = 1",
            ":8: syntax: unknown field `soke`",
        ),
    ];
    for (from, to, want) in mistakes {
        std::fs::write(&path, fixture().replacen(from, to, 1)).unwrap();
        let out = trainctl(&["validate", "--config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains(want), "{to}: {err:?} should contain {want:?}");
        assert_eq!(err.trim().lines().count(), 1, "one line per mistake: {err}");
        assert!(err.starts_with(path.to_str().unwrap()), "{err}");
    }
    let missing = trainctl(&["validate", "--config", "/nonexistent/release-train.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn plan_lists_cuts_and_promotions_and_marks_frozen_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-train.toml");
    let frozen = format!(
        "{}\n[[freeze]]\nname = \"always\"\nstarts = \"cron(0 0 ? * MON *)\"\nlasts = \"10h\"\n",
        fixture()
    );
    std::fs::write(&path, frozen).unwrap();
    let out = trainctl(&["plan", "--config", path.to_str().unwrap(), "--count", "2"]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    let cuts: Vec<&str> = s
        .lines()
        .filter(|l| l.trim_start().starts_with("cut"))
        .collect();
    let promotes: Vec<&str> = s
        .lines()
        .filter(|l| l.trim_start().starts_with("promote"))
        .collect();
    assert_eq!((cuts.len(), promotes.len()), (2, 2), "{s}");
    assert!(
        cuts.iter().all(|l| l.contains("Mon")
            && l.contains("09:00")
            && l.contains("weekly-")
            && l.contains("FROZEN by \"always\"")),
        "{s}"
    );
    assert!(
        promotes
            .iter()
            .all(|l| l.contains("Wed") && !l.contains("FROZEN")),
        "{s}"
    );
}

/// A running `trainctl serve` over a data directory.
struct Serve {
    child: Child,
    api: String,
}

impl Serve {
    fn start(root: &Path) -> Self {
        let data = root.join("data");
        let _ = std::fs::remove_file(data.join("serve.addr"));
        let child = Command::new(TRAINCTL)
            .args([
                "serve",
                "--config",
                root.join("release-train.toml").to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned from here on, so a failed start is still killed and reaped by Drop.
        let mut serve = Self {
            child,
            api: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(addr) = std::fs::read_to_string(data.join("serve.addr"))
                && addr.trim().starts_with("http://")
            {
                addr.trim().clone_into(&mut serve.api);
                return serve;
            }
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.api);
        let mut res = match (method, body) {
            ("GET", _) => agent.get(&url).call().unwrap(),
            (_, Some(b)) => agent
                .post(&url)
                .content_type("application/json")
                .send(b)
                .unwrap(),
            _ => agent.post(&url).send_empty().unwrap(),
        };
        let status = res.status().as_u16();
        (
            status,
            res.body_mut().read_json().expect("every answer is JSON"),
        )
    }

    fn train(&self) -> Option<Value> {
        let (_, list) = self.call("GET", "/trains", None);
        let id = list["trains"].get(0)?["id"].as_str()?.to_owned();
        Some(self.call("GET", &format!("/trains/{id}"), None).1)
    }

    fn wait_for(&self, what: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(t) = self.train()
                && done(&t)
            {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.train()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn at(offset: Duration) -> String {
    let t = chrono::Utc::now() + chrono::Duration::from_std(offset).unwrap();
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Repositories and a config whose cut and promote fire a few seconds from now. `serve`
/// fires nothing that was due before its first start, so `cut_in` leaves it time to start
/// on a loaded machine.
fn live_train(root: &Path, staging_secs: u32, cut_in: u64, promote_in: u64, soak: &str) -> PathBuf {
    let mut config = format!(
        "[train]\nname = \"live\"\ntime_zone = \"UTC\"\ncut = \"{}\"\npromote = \"{}\"\nsoak = \"{soak}\"\n",
        at(Duration::from_secs(cut_in)),
        at(Duration::from_secs(promote_in))
    );
    for name in ["api", "web"] {
        let dir = root.join("repos").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        let staging = format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo staging $RELEASE_COMMIT\n      - sleep {staging_secs}\n"
        );
        let production = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$(git rev-parse HEAD)\" = \"$RELEASE_COMMIT\"\n      - echo production $RELEASE_COMMIT\n";
        std::fs::write(dir.join("staging.yml"), staging).unwrap();
        std::fs::write(dir.join("production.yml"), production).unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-q", "-m", "v1"]);
        let _ = write!(
            config,
            "\n[[component]]\nname = \"{name}\"\nsource = \"repos/{name}\"\nstaging = {{ buildspec = \"staging.yml\" }}\nproduction = {{ buildspec = \"production.yml\" }}\n"
        );
    }
    let path = root.join("release-train.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A train cut a few seconds from now, soaking for an hour under a running `serve`, and
/// its id.
fn soaking_train(root: &Path) -> (Serve, String) {
    live_train(root, 0, 4, 3600, "1h");
    let serve = Serve::start(root);
    let train = serve.wait_for("the soak", 30, |t| t["state"] == "soaking");
    let id = train["id"].as_str().unwrap().to_owned();
    (serve, id)
}

fn builds(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("data/builds"))
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn serve_killed_during_a_staging_build_and_during_the_soak_still_ships_once() {
    let root = tempfile::tempdir().unwrap();
    live_train(root.path(), 4, 4, 16, "2s");
    let serve = Serve::start(root.path());
    // Kill it while both staging builds are running.
    serve.wait_for("staging builds running", 30, |t| {
        t["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["staging"]["status"] == "running")
    });
    serve.kill9();
    let serve = Serve::start(root.path());
    let soaking = serve.wait_for("the soak", 30, |t| t["state"] == "soaking");
    serve.kill9();
    let serve = Serve::start(root.path());
    let released = serve.wait_for("the release", 60, |t| {
        t["state"] == "released"
            && t["components"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["production"]["status"] == "succeeded")
    });

    assert_eq!(released["id"], soaking["id"]);
    let dirs = builds(root.path());
    assert_eq!(
        dirs.len(),
        4,
        "one staging and one production build per component: {dirs:?}"
    );
    for dir in &dirs {
        let log = std::fs::read_to_string(dir.join("build.log")).unwrap();
        assert_eq!(
            log.matches("Entering phase BUILD").count(),
            1,
            "{} ran once: {log}",
            dir.display()
        );
    }
    for c in released["components"].as_array().unwrap() {
        assert_eq!(c["production"]["commit"], c["pinned"], "{c}");
        assert_eq!(c["staging"]["commit"], c["pinned"], "{c}");
    }
    let (status, list) = serve.call("GET", "/trains", None);
    assert_eq!(
        (status, list["trains"].as_array().unwrap().len()),
        (200, 1),
        "a restart never cuts twice"
    );
}

#[test]
fn serve_answers_bad_requests_with_json_errors_and_cancels_with_trainctl() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());

    let (status, body) = serve.call("POST", &format!("/trains/{id}/cancel"), Some("{oops"));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be JSON"),
        "{body}"
    );
    let (status, body) = serve.call("POST", &format!("/trains/{id}/cancel"), Some("{}"));
    assert_eq!(status, 400, "{body}");
    let (status, body) = serve.call("GET", "/trains/live-1999-01-01", None);
    assert_eq!(status, 404, "{body}");
    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(100_000));
    let (status, _) = serve.call("POST", &format!("/trains/{id}/cancel"), Some(&huge));
    assert_eq!(status, 413);

    let out = trainctl(&[
        "cancel",
        &id,
        "--reason",
        "smoke tests failing",
        "--api",
        &serve.api,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("cancelled"), "{}", text(&out));
    let out = trainctl(&["status", &id, "--api", &serve.api]);
    let s = text(&out);
    assert!(
        s.contains("CANCELLED") && s.contains("smoke tests failing") && s.contains("HISTORY"),
        "{s}"
    );
    assert!(
        s.contains("LOGS") && s.contains("api staging: ") && s.contains("build.log"),
        "status links each build's log: {s}"
    );
    let out = trainctl(&["cancel", &id, "--reason", "again", "--api", &serve.api]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("error (409)") && text(&out).contains("already cancelled"),
        "{}",
        text(&out)
    );
    let out = trainctl(&["status", "--api", &serve.api]);
    assert!(text(&out).contains(&id), "{}", text(&out));
}

#[test]
fn expedite_history_and_schedule_commands_work_against_serve() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let api = serve.api.clone();

    let out = trainctl(&["approve", &id, "-r", "looks fine", "--api", &api]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("needs no approval"), "{}", text(&out));

    let out = trainctl(&[
        "expedite",
        &id,
        "-r",
        "security fix",
        "--api",
        &api,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(body["state"], "promoting", "{body}");
    let released = serve.wait_for("the release", 30, |t| t["state"] == "released");
    assert_eq!(released["id"], id.as_str());

    let out = trainctl(&["history", &id, "--api", &api]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    let expedite = s
        .lines()
        .find(|l| l.contains("expedite"))
        .unwrap_or_default();
    assert!(
        expedite.contains("local:") && expedite.contains("security fix"),
        "the history names who expedited and why: {s}"
    );
    let out = trainctl(&["history", &id, "--api", &api, "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "released")
    );

    // This train's cut is a one-time `at(...)` schedule: there is no next cut to skip.
    let out = trainctl(&["schedule", "--api", &api, "skip-next", "-r", "offsite"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("never fires again"), "{}", text(&out));
    let out = trainctl(&["schedule", "--api", &api, "pause", "-r", "holidays"]);
    assert!(text(&out).contains("PAUSED by local:"), "{}", text(&out));
    let out = trainctl(&["schedule", "--api", &api, "pause", "-r", "again"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already paused"), "{}", text(&out));
    let out = trainctl(&["schedule", "--api", &api, "--json"]);
    let schedule: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schedule["history"].as_array().unwrap().len(),
        1,
        "{schedule}"
    );
    assert_eq!(schedule["paused"]["reason"], "holidays");
}

#[test]
fn a_second_serve_on_the_same_data_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    live_train(root.path(), 0, 3600, 7200, "1h");
    let _first = Serve::start(root.path());
    let out = Command::new(TRAINCTL)
        .args([
            "serve",
            "--config",
            root.path().join("release-train.toml").to_str().unwrap(),
            "--data",
            root.path().join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("in use by another trainctl"),
        "{}",
        text(&out)
    );
}

/// The verifier (`tests/sigv4_verifier.py`) checks each request's SigV4 signature with
/// botocore, independently of the Rust signer. It needs the Python environment the test
/// command installs (`TEST_PYTHON`, with botocore).
struct Verifier {
    child: Child,
    url: String,
}

impl Verifier {
    fn start(secret: &str) -> Self {
        let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
            panic!("TEST_PYTHON is not set: run `bash tests/run.sh`, which installs botocore (with moto) into .venv")
        });
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sigv4_verifier.py");
        let child = Command::new(python)
            .arg(script)
            .args([port_file.to_str().unwrap(), "AKIDTEST", secret, "eu-west-1"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && !p.is_empty()
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the verifier did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signed_trainctl(args: &[&str], secret: &str) -> Output {
    Command::new(TRAINCTL)
        .args(args)
        .env_remove("TRAINCTL_API")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", "session-token")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .expect("trainctl runs")
}

#[test]
fn trainctl_signs_requests_with_sigv4_that_an_independent_verifier_accepts() {
    let verifier = Verifier::start("the-secret");
    let out = signed_trainctl(&["status", "--api", &verifier.url, "--sigv4"], "the-secret");
    assert!(out.status.success(), "GET: {}", text(&out));
    let out = signed_trainctl(
        &[
            "cancel",
            "weekly-2026-W48",
            "-r",
            "payments bug",
            "--api",
            &verifier.url,
            "--sigv4",
        ],
        "the-secret",
    );
    assert!(out.status.success(), "POST with a body: {}", text(&out));
    assert!(text(&out).contains("signature verified"), "{}", text(&out));
    let out = signed_trainctl(
        &["schedule", "--api", &verifier.url, "--sigv4", "--json"],
        "the-secret",
    );
    assert!(out.status.success(), "{}", text(&out));

    // Signed with another secret: the verifier refuses it, so it really verifies.
    let out = signed_trainctl(
        &["status", "--api", &verifier.url, "--sigv4"],
        "a-wrong-secret",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("error (403)") && text(&out).contains("signature mismatch"),
        "{}",
        text(&out)
    );
}

/// Debian's `chromium`, which the test command installs.
fn chromium(user_data: &Path, args: &[&str]) -> Output {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", user_data.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{binary} does not run ({e}); install Debian's chromium (tests/run.sh does)")
        })
}

#[test]
fn the_status_page_shows_the_running_train_in_headless_chromium() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let (status, _) = serve.call(
        "POST",
        &format!("/trains/{id}/hold"),
        Some(r#"{"reason": "checkout <errors> up 3%"}"#),
    );
    assert_eq!(status, 200);
    let page = format!("{}/", serve.api);
    let profile = root.path().join("chromium");

    // The DOM after the page's own script ran: what a person sees.
    let out = chromium(
        &profile,
        &["--virtual-time-budget=3000", "--dump-dom", &page],
    );
    assert!(out.status.success(), "{}", text(&out));
    let dom = String::from_utf8_lossy(&out.stdout);
    for shown in [
        id.as_str(),
        "class=\"state held\"",
        "Soak ends in",
        "Waiting for",
        "held by local:",
        "checkout &lt;errors&gt; up 3%",
        "soak started",
        "Past trains",
        "<b>api</b>",
        "<b>web</b>",
    ] {
        assert!(dom.contains(shown), "the page lacks {shown:?}:\n{dom}");
    }
    // The countdown is live: the script rewrote it as hours, minutes and seconds under an
    // hour (the soak is 1h).
    let countdown = dom
        .split("data-remaining=\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|text| text.split('<').next())
        .unwrap_or_default();
    assert!(
        countdown.starts_with("0h ") && countdown.ends_with('s'),
        "countdown {countdown:?}"
    );

    // And a screenshot of it, kept with the test's output (STATUS_PAGE_PNG copies it).
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &profile,
        &[
            "--window-size=1280,1000",
            "--virtual-time-budget=3000",
            &format!("--screenshot={}", shot.display()),
            &page,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1000));
    assert!(
        png.len() > 20_000,
        "a page, not a blank: {} bytes",
        png.len()
    );
    if let Ok(copy) = std::env::var("STATUS_PAGE_PNG") {
        std::fs::copy(&shot, copy).unwrap();
    }
}

/// What a released train looks like, without what differs between runs (times, hashes):
/// its state, the audit trail's actions (in any order), and per component whether staging, the pin and
/// production agree on the repository's head, and how often each build phase ran.
fn end_state(root: &Path, serve: &Serve) -> Value {
    let (_, list) = serve.call("GET", "/trains", None);
    let train = serve.train().unwrap();
    let components: Vec<Value> = train["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap();
            let head = git(&root.join("repos").join(name), &["rev-parse", "HEAD"]);
            serde_json::json!({
                "name": name,
                "pinned_is_head": c["pinned"] == head.as_str(),
                "staging_at_pin": c["staging"]["commit"] == c["pinned"],
                "production_at_pin": c["production"]["commit"] == c["pinned"],
                "production": c["production"]["status"],
            })
        })
        .collect();
    let runs: Vec<usize> = builds(root)
        .iter()
        .map(|dir| {
            std::fs::read_to_string(dir.join("build.log"))
                .unwrap_or_default()
                .matches("Entering phase BUILD")
                .count()
        })
        .collect();
    // As a multiset: when the promote firing lands relative to the staging builds is a
    // matter of timing; a missing or a repeated record is not.
    let mut actions: Vec<&str> = train["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    serde_json::json!({
        "trains": list["trains"].as_array().unwrap().len(),
        "state": train["state"],
        "actions": actions,
        "components": components,
        "build_phase_runs": runs,
    })
}

/// One train with `serve` killed (SIGKILL) after `kill_after`, started again, and run to
/// its release; `None` runs it without a kill.
fn killed_run(kill_after: Option<Duration>) -> Value {
    let root = tempfile::tempdir().unwrap();
    live_train(root.path(), 1, 3, 5, "2s");
    let serve = Serve::start(root.path());
    let serve = match kill_after {
        Some(after) => {
            std::thread::sleep(after);
            serve.kill9();
            Serve::start(root.path())
        }
        None => serve,
    };
    serve.wait_for("the release", 90, |t| {
        t["state"] == "released"
            && t["components"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["production"]["status"] == "succeeded")
    });
    end_state(root.path(), &serve)
}

#[test]
fn serve_killed_at_random_points_ends_in_the_same_state_each_time() {
    let points: usize = std::env::var("RELIABILITY_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let reference = killed_run(None);
    assert_eq!(reference["state"], "released", "{reference:#}");
    // Kill points spread over the whole train: before the cut (3 s), during the staging
    // builds (1 s each), the soak (2 s), the promotion (5 s) and after the release.
    let mut rng = fastrand::Rng::with_seed(50);
    let kills: Vec<Duration> = (0..points)
        .map(|_| Duration::from_millis(rng.u64(0..9000)))
        .collect();
    let started = Instant::now();
    for wave in kills.chunks(10) {
        let ends: Vec<(Duration, Value)> = std::thread::scope(|s| {
            let runs: Vec<_> = wave
                .iter()
                .map(|k| s.spawn(move || (*k, killed_run(Some(*k)))))
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for (kill, end) in ends {
            assert_eq!(
                end, reference,
                "killed after {kill:?}: {end:#} differs from the run without a kill"
            );
        }
    }
    println!(
        "RELIABILITY sigkill points={points} wall={:.1}s",
        started.elapsed().as_secs_f64()
    );
}
