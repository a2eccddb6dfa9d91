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
    // The fixture's sources are local paths: validate checks they exist.
    let out = trainctl(&["validate", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(":15: component \"api\".source: \"repos/api\" does not exist"),
        "{}",
        text(&out)
    );
    for repo in ["api", "web", "worker"] {
        std::fs::create_dir_all(dir.path().join("repos").join(repo)).unwrap();
    }
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
    /// The status page and reads (TCP, loopback).
    api: String,
    /// The data directory, whose `serve.sock` takes commands.
    data: PathBuf,
}

/// This run's token for reads over TCP (`DATA/serve.token`).
fn token(data: &Path) -> String {
    std::fs::read_to_string(data.join("serve.token"))
        .expect("serve writes its token before its address")
        .trim()
        .to_owned()
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
            // What serve prints, across restarts, for a test to read (ROOT/serve.out).
            .stdout(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(root.join("serve.out"))
                    .unwrap(),
            )
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned from here on, so a failed start is still killed and reaped by Drop.
        let mut serve = Self {
            child,
            api: String::new(),
            data: data.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(addr) = std::fs::read_to_string(data.join("serve.addr"))
                && addr.trim().starts_with("http://")
            {
                addr.trim().clone_into(&mut serve.api);
                assert_eq!(token(&data).len(), 64, "a fresh 32-byte token");
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

    /// A request over the Unix socket, as `trainctl` sends it: the way to change anything.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let stream = std::os::unix::net::UnixStream::connect(self.data.join("serve.sock"))
            .expect("serve listens on DATA/serve.sock");
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, text) = exchange(stream, request.as_bytes());
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("every answer is JSON ({e}): {text}"));
        (status, value)
    }

    /// The raw answer of the TCP listener to `request`, as a browser's request reaches it.
    fn tcp(&self, request: &str) -> (u16, String) {
        let addr = self.api.trim_start_matches("http://");
        let stream = std::net::TcpStream::connect(addr).unwrap();
        exchange(stream, request.as_bytes())
    }

    /// `GET path` over TCP as from this machine's own page (its own `Host`), with `headers`
    /// (each ending in `\r\n`).
    fn tcp_get(&self, path: &str, headers: &str) -> (u16, String) {
        let host = self.api.trim_start_matches("http://");
        self.tcp(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
        ))
    }

    fn data_arg(&self) -> &str {
        self.data.to_str().unwrap()
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

/// Sends `request`, reads the answer to its end (serve closes every connection after one
/// answer), and returns its status and body.
fn exchange(mut stream: impl std::io::Read + std::io::Write, request: &[u8]) -> (u16, String) {
    // A server that refuses a body before reading all of it answers and closes: the rest
    // of the write and the end of the read may then meet a reset, after the answer.
    let written = stream.write_all(request);
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(
        !answer.is_empty(),
        "no answer (write {written:?}, read {read:?})"
    );
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
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
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo staging $RELEASE_COMMIT\n      - touch made-by-build && stat -c 'artifact mode %a' made-by-build\n      - sleep {staging_secs}\n"
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
    // Progress while the builds run: serve says each started, status says for how long.
    let deadline = Instant::now() + Duration::from_secs(10);
    let printed = loop {
        let printed = std::fs::read_to_string(root.path().join("serve.out")).unwrap();
        if printed.contains("staging build of web running") || Instant::now() > deadline {
            break printed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for name in ["api", "web"] {
        assert!(
            printed.contains(&format!("staging build of {name} running")),
            "{printed}"
        );
    }
    let id = printed
        .split_whitespace()
        .find(|w| w.starts_with("live-"))
        .unwrap_or_default()
        .to_owned();
    let status = trainctl(&["status", &id, "--data", serve.data_arg()]);
    let said = text(&status);
    assert!(
        said.lines()
            .any(|l| l.starts_with("api ") && l.contains("running ") && l.contains('s')),
        "running builds show how long they have run: {said}"
    );
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
        "--data",
        serve.data_arg(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("cancelled"), "{}", text(&out));
    let out = trainctl(&["status", &id, "--data", serve.data_arg()]);
    let s = text(&out);
    assert!(
        s.contains("CANCELLED") && s.contains("smoke tests failing") && s.contains("HISTORY"),
        "{s}"
    );
    assert!(
        s.contains("LOGS") && s.contains("api staging: ") && s.contains("build.log"),
        "status links each build's log: {s}"
    );
    let out = trainctl(&[
        "cancel",
        &id,
        "--reason",
        "again",
        "--data",
        serve.data_arg(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("error (409)") && text(&out).contains("already cancelled"),
        "{}",
        text(&out)
    );
    let out = trainctl(&["status", "--data", serve.data_arg()]);
    assert!(text(&out).contains(&id), "{}", text(&out));
}

#[test]
fn expedite_history_and_schedule_commands_work_against_serve() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let api = serve.data_arg().to_owned();

    let out = trainctl(&["approve", &id, "-r", "looks fine", "--data", &api]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("needs no approval"), "{}", text(&out));

    let out = trainctl(&[
        "expedite",
        &id,
        "-r",
        "security fix",
        "--data",
        &api,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(body["state"], "promoting", "{body}");
    let released = serve.wait_for("the release", 30, |t| t["state"] == "released");
    assert_eq!(released["id"], id.as_str());

    let out = trainctl(&["history", &id, "--data", &api]);
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
    // One time format (the train's zone, UTC here, with its abbreviation) and columns as
    // wide as their widest cell: each row's actor starts where the ACTOR heading does.
    let mut lines = s.lines();
    let heading = lines.next().unwrap_or_default();
    let actor_at = heading.find("ACTOR").expect("a heading row");
    for line in lines {
        assert!(line.contains(" UTC "), "{line}");
        assert_eq!(line.get(actor_at - 2..actor_at), Some("  "), "aligned: {s}");
        assert_ne!(line.as_bytes().get(actor_at), Some(&b' '), "aligned: {s}");
    }
    // The builds' logs, from the files local mode writes.
    let out = trainctl(&["logs", &id, "api", "--data", &api]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Entering phase BUILD"),
        "{}",
        text(&out)
    );
    let out = trainctl(&[
        "logs",
        &id,
        "web",
        "--stage",
        "production",
        "--follow",
        "--data",
        &api,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("echo production"), "{}", text(&out));
    let out = trainctl(&["logs", &id, "nonesuch", "--data", &api]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("trainctl status"), "{}", text(&out));
    let out = trainctl(&["history", &id, "--data", &api, "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "released")
    );

    // This train's cut is a one-time `at(...)` schedule: there is no next cut to skip.
    let out = trainctl(&["schedule", "--data", &api, "skip-next", "-r", "offsite"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("never fires again"), "{}", text(&out));
    let out = trainctl(&["schedule", "--data", &api, "pause", "-r", "holidays"]);
    assert!(text(&out).contains("PAUSED by local:"), "{}", text(&out));
    // The pause's time in the same format as the history, not RFC 3339.
    let since = text(&out);
    assert!(
        since.contains(" UTC:") && !since.contains("+00:00"),
        "{since}"
    );
    let out = trainctl(&["schedule", "--data", &api, "pause", "-r", "again"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already paused"), "{}", text(&out));
    let out = trainctl(&["schedule", "--data", &api, "--json"]);
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
    // The address serve prints: the token in the query, kept in a cookie from then on.
    let page = format!("{}/?token={}", serve.api, token(&serve.data));
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

/// The README's command as a person types it: relative `--config` and `--data`, from a
/// directory other than the one the config is in. Every path is resolved once at start-up,
/// so the builds (which run in their own directories) find the repositories and the train
/// ships.
#[test]
fn serve_with_relative_paths_from_another_directory_ships_a_train() {
    let root = tempfile::tempdir().unwrap();
    live_train(root.path(), 0, 4, 8, "2s");
    let cwd = root.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let child = Command::new(TRAINCTL)
        .current_dir(&cwd)
        .args([
            "serve",
            "--config",
            "../release-train.toml",
            "--data",
            "../.release-train",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("USER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let data = root.path().join(".release-train");
    let mut serve = Serve {
        child,
        api: String::new(),
        data: data.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("serve.sock").exists() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(data.join("serve.addr"))
        .unwrap()
        .trim()
        .clone_into(&mut serve.api);
    let released = serve.wait_for("the release", 60, |t| {
        matches!(t["state"].as_str(), Some("released" | "failed"))
    });
    assert_eq!(released["state"], "released", "{released:#}");
    for c in released["components"].as_array().unwrap() {
        assert_eq!(c["production"]["status"], "succeeded", "{c}");
    }
    // From another directory again, relative to it: trainctl finds the same socket.
    let out = Command::new(TRAINCTL)
        .current_dir(root.path())
        .args(["status", "--data", ".release-train"])
        .output()
        .unwrap();
    assert!(text(&out).contains(" released "), "{}", text(&out));
}

/// Another origin's pages that try to act on `target`'s train `id` (a text/plain form and
/// no-cors fetches), served from a port of their own; the server and its port.
fn attacker_site(root: &Path, target: &str, id: &str) -> (Child, String) {
    let site = root.join("evil");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("form.html"),
        format!(
            r#"<html><body><form id="f" method="POST" enctype="text/plain" action="{target}/trains/{id}/hold"><input name='{{"reason":"x","y":"' value='"}}'></form><script>document.getElementById("f").submit();</script></body></html>"#
        ),
    )
    .unwrap();
    std::fs::write(
        site.join("fetch.html"),
        format!(
            r#"<html><body><p id="out">pending</p><script>
const body = JSON.stringify({{reason: "from a web page"}});
Promise.allSettled([
  fetch("{target}/schedule/pause", {{method: "POST", mode: "no-cors", body}}),
  fetch("{target}/trains/{id}/cancel", {{method: "POST", mode: "no-cors", body, headers: {{"Content-Type": "text/plain"}}}}),
]).then(r => {{ document.getElementById("out").textContent = "settled: " + r.map(x => x.status).join(","); }});
</script></body></html>"#
        ),
    )
    .unwrap();
    // The attacker's pages, served from another port of this machine.
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let port_file = root.join("evil.port");
    let evil = Command::new(&python)
        .args([
            "-c",
            "import http.server,socketserver,sys,functools\n\
             h=functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n\
             s=socketserver.TCPServer(('127.0.0.1',0),h)\n\
             open(sys.argv[2],'w').write(str(s.server_address[1]))\n\
             s.serve_forever()",
            site.to_str().unwrap(),
            port_file.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file)
            && !p.is_empty()
        {
            break p;
        }
        assert!(Instant::now() < deadline, "the page server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    (evil, port)
}

/// What a web page in the user's browser can send to the local API, sent by headless
/// Chromium from a page on another local origin: a `<form enctype="text/plain">` post and
/// a `fetch(..., {mode: "no-cors"})`. Both reach the server and are refused; the train and
/// the schedule are as they were. A request under another `Host` (DNS rebinding) is
/// refused too, and the TCP listener takes no command at all.
#[test]
fn no_web_page_can_act_on_a_train() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let target = serve.api.clone();
    let (mut evil, port) = attacker_site(root.path(), &target, &id);
    let profile = root.path().join("chromium");
    let out = chromium(
        &profile,
        &[
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("http://127.0.0.1:{port}/fetch.html"),
        ],
    );
    let fetched = String::from_utf8_lossy(&out.stdout).into_owned();
    let out = chromium(
        &profile,
        &[
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("http://127.0.0.1:{port}/form.html"),
        ],
    );
    let formed = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = evil.kill();
    let _ = evil.wait();
    // The fetches got an answer (an opaque one: no-cors hides it from the page), and the
    // form's navigation shows the refusal.
    assert!(
        fetched.contains("settled: fulfilled,fulfilled"),
        "the fetches reached the server: {fetched}"
    );
    assert!(
        formed.contains("cross_site"),
        "the form was refused: {formed}"
    );

    let train = serve.train().unwrap();
    assert_eq!(train["state"], "soaking", "{train:#}");
    assert!(
        !train["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "hold" || r["action"] == "cancel"),
        "{train:#}"
    );
    let (_, schedule) = serve.call("GET", "/schedule", None);
    assert!(schedule["paused"].is_null(), "{schedule}");

    let port = target.rsplit(':').next().unwrap();
    let (status, body) = serve.tcp(&format!(
        "GET /trains HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(status, 421, "DNS rebinding: {body}");
    assert!(body.contains("wrong_host"), "{body}");
    let (status, body) = serve.tcp(&format!(
        "POST /trains/{id}/cancel HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{{\"reason\":\"x\"}}"
    ));
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("use_the_socket") && body.contains("serve.sock"),
        "{body}"
    );
    // Another account on this machine reaches 127.0.0.1 too: reads need this run's token.
    let (status, body) = serve.tcp_get("/trains", "");
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("token_required") && body.contains("serve.token"),
        "{body}"
    );
    let (status, _) = serve.tcp_get(&format!("/trains/{id}"), "Authorization: Bearer wrong\r\n");
    assert_eq!(status, 401, "a wrong token reads nothing");
    let bearer = format!("Authorization: Bearer {}\r\n", token(&serve.data));
    let (status, body) = serve.tcp_get(&format!("/trains/{id}"), &bearer);
    assert_eq!(status, 200, "the token's holder reads: {body}");
    let (status, _) = serve.tcp_get(&format!("/?token={}", token(&serve.data)), "");
    assert_eq!(
        status, 303,
        "the page's address sets the cookie and drops the token"
    );
    assert_eq!(serve.train().unwrap()["state"], "soaking");
}

/// SIGTERM with a request half sent: serve stops within its shutdown deadline instead of
/// waiting for the request forever, and releases the data directory, so a restart starts.
#[test]
fn sigterm_with_a_half_sent_request_stops_serve_within_its_deadline() {
    let root = tempfile::tempdir().unwrap();
    live_train(root.path(), 0, 3600, 7200, "1h");
    let mut serve = Serve::start(root.path());
    let addr = serve.api.trim_start_matches("http://").to_owned();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut half, b"GET /trains HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    let mut body_pending =
        std::os::unix::net::UnixStream::connect(serve.data.join("serve.sock")).unwrap();
    std::io::Write::write_all(
        &mut body_pending,
        b"POST /schedule/pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\n{\"rea",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = stopping + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 10s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    drop(half);
    drop(body_pending);
    let again = Serve::start(root.path());
    let (status, _) = again.call("GET", "/schedule", None);
    assert_eq!(status, 200, "the restart serves");
    let (_, schedule) = again.call("GET", "/schedule", None);
    assert!(
        schedule["paused"].is_null(),
        "the half-sent pause did nothing: {schedule}"
    );
}

/// Build logs may hold secrets: the data directory is the user's alone (0700), and so is
/// everything serve writes in it; a truncated body is a 400 that says so, not a 413.
#[test]
fn the_data_directory_is_private_and_a_truncated_body_is_a_400() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&serve.data), 0o700, "{}", serve.data.display());
    let mut files = vec![
        serve.data.join("trains.sqlite"),
        serve.data.join("events.jsonl"),
    ];
    for build in builds(root.path()) {
        files.push(build.join("build.log"));
    }
    assert!(files.len() > 2, "{files:?}");
    for f in &files {
        assert_eq!(mode(f) & 0o077, 0, "{} is {:o}", f.display(), mode(f));
    }
    assert_eq!(mode(&serve.data.join("serve.sock")) & 0o077, 0);
    // What a build makes has CodeBuild's modes, not serve's private umask.
    let log = std::fs::read_to_string(builds(root.path())[0].join("build.log")).unwrap();
    assert!(log.contains("artifact mode 644"), "{log}");

    let mut stream =
        std::os::unix::net::UnixStream::connect(serve.data.join("serve.sock")).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("POST /trains/{id}/cancel HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"reason\":").as_bytes(),
    )
    .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("body_incomplete"), "{answer}");
    assert_eq!(serve.train().unwrap()["state"], "soaking");
}

/// `trainctl cut -r REASON` cuts a train now, beside the week's scheduled one, naming the
/// person who typed it (from the socket's peer, not `$USER`).
#[test]
fn trainctl_cut_starts_a_train_now_named_for_the_caller() {
    let root = tempfile::tempdir().unwrap();
    let (serve, id) = soaking_train(root.path());
    let out = Command::new(TRAINCTL)
        .args([
            "cut",
            "-r",
            "hotfix for the login bug",
            "--data",
            serve.data_arg(),
            "--json",
        ])
        .env_remove("USER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cut: Value = serde_json::from_slice(&out.stdout).unwrap();
    let adhoc = cut["id"].as_str().unwrap();
    assert!(adhoc.starts_with("live-adhoc-") && adhoc != id, "{cut}");
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(cut["history"][0]["actor"], format!("local:{me}"), "{cut}");
}

/// OS accounts and their group made for a test, removed when it ends.
struct Accounts(Vec<String>, String);

impl Drop for Accounts {
    fn drop(&mut self) {
        for u in &self.0 {
            let _ = Command::new("userdel").arg(u).output();
        }
        let _ = Command::new("groupdel").arg(&self.1).output();
    }
}

/// `trainctl serve` over `root`'s config and `data`, with `extra` arguments, once its
/// socket is there.
fn serve_with(root: &Path, data: &Path, extra: &[&str]) -> Serve {
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
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut serve = Serve {
        child,
        api: String::new(),
        data: data.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("serve.sock").exists() || !data.join("serve.addr").exists() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(data.join("serve.addr"))
        .unwrap()
        .trim()
        .clone_into(&mut serve.api);
    serve
}

/// Two people on one machine, each their own OS account in a shared group: each one's
/// approval is recorded under their own name (the socket's peer), so `approvals = 2`
/// is met by two people and refused twice from one. Needs root to make the accounts (the
/// test command runs as root); elsewhere it says so and checks nothing.
#[test]
fn two_os_users_approve_as_themselves_and_two_person_approval_works() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: making two OS accounts needs root (tests/run.sh runs as root)");
        return;
    }
    let tag = std::process::id() % 100_000;
    let group = format!("rtg{tag}");
    let users = [format!("rta{tag}"), format!("rtb{tag}")];
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd).args(args).output().unwrap();
        assert!(out.status.success(), "{cmd} {args:?}: {}", text(&out));
    };
    run("groupadd", &[&group]);
    let _accounts = Accounts(users.to_vec(), group.clone());
    for u in &users {
        run("useradd", &["--no-create-home", "--gid", &group, u]);
    }
    // The accounts cannot read root's build tree: give them a copy of the binary.
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        root.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let binary = root.path().join("trainctl");
    std::fs::copy(TRAINCTL, &binary).unwrap();
    live_train(root.path(), 0, 4, 12, "1s");
    let config = std::fs::read_to_string(root.path().join("release-train.toml"))
        .unwrap()
        .replace("soak = \"1s\"", "soak = \"1s\"\napprovals = 2");
    std::fs::write(root.path().join("release-train.toml"), config).unwrap();
    let data = root.path().join("data");
    let serve = serve_with(root.path(), &data, &["--share-with", &group]);
    let soaking = serve.wait_for("the soak", 30, |t| t["state"] == "soaking");
    let id = soaking["id"].as_str().unwrap().to_owned();
    let as_user = |user: &str, command: &str, why: &str| {
        Command::new("setpriv")
            .args(["--reuid", user, "--regid", &group, "--init-groups", "--"])
            .arg(&binary)
            .args([command, &id, "-r", why, "--data", data.to_str().unwrap()])
            .env_remove("USER")
            .output()
            .unwrap()
    };
    let approve = |user: &str, why: &str| as_user(user, "approve", why);
    // The second person holds and resumes: the hold names them, not serve's owner.
    let out = as_user(&users[1], "hold", "checking the dashboards");
    assert!(out.status.success(), "{}", text(&out));
    let held = serve.train().unwrap();
    assert_eq!(held["state"], "held", "{held:#}");
    assert!(
        text(&out).contains("held"),
        "the holder sees the new state: {}",
        text(&out)
    );
    let record = held["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["action"] == "hold")
        .cloned()
        .unwrap();
    assert_eq!(record["actor"], format!("local:{}", users[1]), "{record}");
    let out = as_user(&users[1], "resume", "dashboards fine");
    assert!(out.status.success(), "{}", text(&out));
    let out = approve(&users[0], "staging looks fine");
    assert!(out.status.success(), "{}", text(&out));
    let out = approve(&users[0], "me again");
    assert_eq!(
        out.status.code(),
        Some(1),
        "one person, one approval: {}",
        text(&out)
    );
    assert!(text(&out).contains("already approved"), "{}", text(&out));
    let out = approve(&users[1], "second pair of eyes");
    assert!(out.status.success(), "{}", text(&out));
    let released = serve.wait_for("the release", 60, |t| {
        matches!(t["state"].as_str(), Some("released" | "failed"))
    });
    assert_eq!(released["state"], "released", "{released:#}");
    let approvers: Vec<&str> = released["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("approve"))
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        approvers,
        [format!("local:{}", users[0]), format!("local:{}", users[1])],
        "{released:#}"
    );
}

/// `Key="value"` pairs as `infra-params` prints them.
fn pairs(stdout: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .trim()
        .split("\" ")
        .filter_map(|kv| kv.split_once("=\""))
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
        .collect()
}

#[test]
fn infra_params_prints_the_member_stack_s_parameters_from_the_config_and_the_train_outputs() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/accounts.toml"
    );
    let train = trainctl(&["infra-params", "-c", config]);
    assert!(train.status.success(), "{}", text(&train));
    let p = pairs(&train.stdout);
    assert_eq!(
        p["BuildProjects"], "",
        "every project is in a member account"
    );
    assert_eq!(p["GatingAlarms"], "train-errors");
    assert_eq!(p["MemberAccounts"], "111111111111,222222222222");

    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs.json");
    // The shape `aws cloudformation describe-stacks --query 'Stacks[0].Outputs'` prints.
    std::fs::write(
        &outputs,
        r#"[
  {"OutputKey": "TrainAccountId", "OutputValue": "333333333333", "Description": "This account"},
  {"OutputKey": "FunctionRoles", "OutputValue": "arn:aws:iam::333333333333:role/a,arn:aws:iam::333333333333:role/b"},
  {"OutputKey": "ExternalId", "OutputValue": "8f2c4a1e-0000-4000-8000-000000000000"},
  {"OutputKey": "TrainBusArn", "OutputValue": "arn:aws:events:us-east-1:333333333333:event-bus/rt-trains"},
  {"OutputKey": "ApiUrl", "OutputValue": "https://example.invalid"}
]"#,
    )
    .unwrap();
    let member_with_outputs = || {
        trainctl(&[
            "infra-params",
            "-c",
            config,
            "--member",
            "production",
            "--outputs",
            outputs.to_str().unwrap(),
        ])
    };
    let out = member_with_outputs();
    assert!(out.status.success(), "{}", text(&out));
    let p = pairs(&out.stdout);
    assert_eq!(p["RoleName"], "release-train-builds");
    assert_eq!(
        p["BuildProjects"],
        "db-migrations-production,api-production"
    );
    assert_eq!(p["GatingAlarms"], "checkout-5xx");
    assert_eq!(p["TrainAccountId"], "333333333333");
    assert_eq!(
        p["TrainFunctionRoles"],
        "arn:aws:iam::333333333333:role/a,arn:aws:iam::333333333333:role/b"
    );
    assert_eq!(
        p["TrainBusArn"],
        "arn:aws:events:us-east-1:333333333333:event-bus/rt-trains"
    );
    assert_eq!(p.len(), 7, "{p:?}");

    // Without the outputs: the config's part, and a note on what to add.
    let out = trainctl(&["infra-params", "-c", config, "--member", "staging"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        pairs(&out.stdout)["BuildProjects"],
        "db-migrations-staging,api-staging"
    );
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("TrainFunctionRoles") && note.contains("--outputs FILE"),
        "{note}"
    );

    // Mistakes name the fix and exit 2.
    let out = trainctl(&["infra-params", "-c", config, "--member", "444444444444"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("111111111111, 222222222222"),
        "{}",
        text(&out)
    );
    std::fs::write(&outputs, r#"[{"OutputKey": "ApiUrl", "OutputValue": "x"}]"#).unwrap();
    let out = member_with_outputs();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("has no output TrainAccountId"),
        "{}",
        text(&out)
    );
}

fn trainctl_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(TRAINCTL)
        .current_dir(dir)
        .args(args)
        .env_remove("TRAINCTL_API")
        .output()
        .expect("trainctl runs")
}

#[test]
fn init_then_simulate_ships_a_week_of_your_own_repositories() {
    let root = tempfile::tempdir().unwrap();
    // Two services: one with CodeBuild's default buildspec name, one with none at all.
    for (name, buildspec) in [("payments-api", true), ("web", false)] {
        let repo = root.path().join(name);
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("app.txt"), format!("{name} 1\n")).unwrap();
        if buildspec {
            std::fs::write(
                repo.join("buildspec.yml"),
                "version: 0.2\nphases:\n  build:\n    commands:\n      - grep -q 1 app.txt\n",
            )
            .unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "v1"]);
    }
    let out = trainctl_in(root.path(), &["init"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("with 2 components"), "{said}");
    assert!(
        said.contains(
            "web: web on main: wrote starter buildspec-staging.yml and buildspec-production.yml"
        ),
        "{said}"
    );
    assert!(
        said.contains("git -C"),
        "init says how to commit the starters: {said}"
    );
    let config = std::fs::read_to_string(root.path().join("release-train.toml")).unwrap();
    assert!(config.contains("source = \"payments-api\""), "{config}");
    assert!(
        config.contains("staging = { buildspec = \"buildspec.yml\" }"),
        "{config}"
    );
    // The reader commits the starters, as init says.
    let web = root.path().join("web");
    git(
        &web,
        &["add", "buildspec-staging.yml", "buildspec-production.yml"],
    );
    git(&web, &["commit", "-q", "-m", "release-train buildspecs"]);

    let started = Instant::now();
    let out = trainctl_in(root.path(), &["simulate"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("RELEASED weekly-"), "{said}");
    assert!(said.contains("staging build of web succeeded"), "{said}");
    for name in ["payments-api", "web"] {
        let head = git(
            &root.path().join(name),
            &["rev-parse", "--short=12", "HEAD"],
        );
        assert!(
            said.contains(&format!("staging tested {head}, production shipped {head}")),
            "{name} shipped its tested head {head}: {said}"
        );
    }
    println!("init + simulate of 2 repositories: {:?}", started.elapsed());

    let out = trainctl_in(root.path(), &["simulate", "--cancel-at", "30h"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("CANCELLED weekly-") && said.contains("production shipped -"),
        "{said}"
    );

    simulated_failures(root.path());

    // A second init keeps the file; a bad span names the fix.
    let out = trainctl_in(root.path(), &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    let out = trainctl_in(root.path(), &["simulate", "--cancel-at", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("e.g. --cancel-at 30h"),
        "{}",
        text(&out)
    );
}

/// `simulate --fail` on the repositories `init_then_simulate` made: under init's `halt` the
/// train fails and nothing ships, the build's log says why (each line with its time);
/// under `exclude` the others ship; an unknown component is refused.
fn simulated_failures(root: &Path) {
    // A component whose build fails: under init's `halt` the train fails and nothing
    // ships; the build's log says why, each line with its time.
    let keep = root.join("failed-week");
    let out = trainctl_in(
        root,
        &[
            "simulate",
            "--fail",
            "web",
            "--keep",
            keep.to_str().unwrap(),
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "the train did what halt says: {said}");
    assert!(
        said.contains("FAILED weekly-") && said.contains("production shipped -"),
        "{said}"
    );
    let log = std::fs::read_dir(keep.join("data/builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".web.staging."))
        .map(|p| std::fs::read_to_string(p.join("build.log")).unwrap())
        .expect("web's staging build has a log");
    let line = log
        .lines()
        .find(|l| {
            !l.starts_with("[Container]")
                && l.contains("simulate --fail web: this staging build fails on purpose")
        })
        .unwrap_or_else(|| panic!("{log}"));
    let stamp = &line[..19];
    assert!(
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y/%m/%d %H:%M:%S").is_ok(),
        "each line of a build's output carries its time: {line:?}"
    );
    assert!(log.contains("Phase complete: BUILD State: FAILED"), "{log}");
    // Under `exclude`, the others ship without it.
    let config_path = root.join("release-train.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let excluding = root.join("exclude.toml");
    std::fs::write(
        &excluding,
        config.replace(
            "on_component_failure = \"halt\"",
            "on_component_failure = \"exclude\"",
        ),
    )
    .unwrap();
    let out = trainctl_in(root, &["simulate", "-c", "exclude.toml", "--fail", "web"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("RELEASED weekly-") && said.contains("excluded"),
        "{said}"
    );
    // A component the configuration does not have names the ones it has (exit 2).
    let out = trainctl_in(root, &["simulate", "--fail", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("payments-api, web"), "{}", text(&out));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = trainctl(&["completions", shell]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            script.contains("simulate") && script.contains("infra-params"),
            "{shell}"
        );
    }
    assert_eq!(trainctl(&["completions", "tcsh"]).status.code(), Some(2));
}

/// `trainctl schema` is a JSON Schema an editor can check files with: an independent
/// validator (Python's `jsonschema`, pinned in tests/requirements-moto.txt, reading the TOML
/// with `tomllib`) accepts the README's example and every fixture, and refuses a misspelt
/// field, a wrong enum value and a missing table as the parser does.
#[test]
fn the_schema_accepts_the_files_the_parser_accepts_and_refuses_its_mistakes() {
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
        panic!("TEST_PYTHON is not set: run `bash tests/run.sh`, which installs jsonschema (with moto) into .venv")
    });
    let out = trainctl(&["schema"]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, &out.stdout).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let mut files: Vec<(String, String, bool)> =
        vec![("README example".into(), example.into(), true)];
    for fixture in ["minimal.toml", "waves.toml", "accounts.toml"] {
        let text = std::fs::read_to_string(root.join("tests/fixtures").join(fixture)).unwrap();
        files.push((fixture.into(), text, true));
    }
    let minimal = std::fs::read_to_string(root.join("tests/fixtures/minimal.toml")).unwrap();
    files.push((
        "misspelt".into(),
        minimal.replace("[train]\n", "[train]\nsoak_time = \"1h\"\n"),
        false,
    ));
    files.push((
        "bad enum".into(),
        minimal.replace("[train]\n", "[train]\non_alarm = \"page\"\n"),
        false,
    ));
    files.push((
        "no train".into(),
        minimal.replace("[train]", "[trian]"),
        false,
    ));
    for (name, body, valid) in files {
        let path = dir.path().join("file.toml");
        std::fs::write(&path, &body).unwrap();
        // The parser's verdict first: the schema must agree with it.
        let verdict = trainctl(&["validate", "-c", path.to_str().unwrap()]);
        // (A file that parses may still be refused for what it means, a source path that
        // is not there: the schema cannot know that, so "parses" is the verdict compared.)
        let parses = verdict.status.success() || text(&verdict).contains("parses, but");
        assert_eq!(parses, valid, "{name}: {}", text(&verdict));
        let check = Command::new(&python)
            .args([
                "-c",
                "import json, sys, tomllib, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 jsonschema.Draft202012Validator.check_schema(schema)\n\
                 errors = list(jsonschema.Draft202012Validator(schema).iter_errors(tomllib.load(open(sys.argv[2], 'rb'))))\n\
                 print('; '.join(e.message for e in errors))\n\
                 sys.exit(1 if errors else 0)",
                schema.to_str().unwrap(),
                path.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(
            check.status.success(),
            valid,
            "{name}: the schema says {}",
            text(&check)
        );
    }
}

/// `trainctl plan | head`, as a shell user pipes it: when the reader has gone away,
/// trainctl ends as a SIGPIPE-ended process does (status 141, nothing on stderr) instead of
/// panicking with status 101. The reader is closed before trainctl starts, so every write
/// meets a closed pipe, whatever the timing.
#[test]
fn a_closed_pipe_ends_trainctl_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-train.toml");
    std::fs::write(&path, fixture()).unwrap();
    let config = path.to_str().unwrap();
    for args in [
        &["plan", "--config", config, "--count", "50"][..],
        &["schema"],
        &["completions", "bash"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(TRAINCTL)
            .args(args)
            .stdout(writer)
            .output()
            .expect("trainctl runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
