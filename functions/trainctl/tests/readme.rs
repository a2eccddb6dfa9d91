//! The README's shell commands are tests: every command in its `sh` code blocks that can run
//! on this machine runs here, as written, in a fresh directory, against a real
//! `trainctl serve` started by the README's own serve command. A README edit that breaks a
//! command (a renamed flag, a wrong path, a socket that is not there) fails this test.
//!
//! As written, except for what a reader supplies: `trainctl` and `cargo run -p trainctl --`
//! are the binary under test (a nested `cargo run` would build the workspace again), the
//! train id `weekly-2026-W48` is the id of the train the run cut, and the
//! `release-train.toml` the README asks the reader to write is one whose cut fires a few
//! seconds after `serve` starts, over two local repositories. Commands that need an AWS
//! account, or that are this test run itself, are skipped, each with the reason printed.
//!
//! A command passes when it exits 0, or when it exits 1 with the API's refusal (`error
//! (4xx)`, the train is not in a state where that command applies: the README lists
//! cancel, hold and resume of the same train one after another); a usage error (exit 2),
//! a connection failure or a crash fails it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRAINCTL: &str = env!("CARGO_BIN_EXE_trainctl");

/// One command of an `sh` code block, with the heading it is under.
#[derive(Debug)]
struct Line {
    heading: String,
    command: String,
}

/// The commands of every `sh` code block (indented ones too), continuation lines joined.
fn commands(readme: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for raw in readme.lines() {
        let line = raw.trim();
        if !in_sh && raw.starts_with('#') {
            raw.trim_start_matches('#').trim().clone_into(&mut heading);
        }
        if line.starts_with("```") {
            in_sh = !in_sh && line == "```sh";
            continue;
        }
        if !in_sh || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        out.push(Line {
            heading: heading.clone(),
            command: std::mem::take(&mut pending),
        });
    }
    out
}

/// Why a command cannot run here, if it cannot.
fn skipped(line: &Line) -> Option<&'static str> {
    let c = line.command.as_str();
    if line.heading.contains("Deploy it to AWS") || line.heading.contains("Step by step") {
        return Some("deploys to or calls an AWS account");
    }
    if c.starts_with("bash tests/run.sh") {
        return Some("the test command itself: this test is part of it");
    }
    if c.starts_with("sam ") || c.starts_with("aws ") || c.contains("--aws-sigv4") {
        return Some("needs an AWS account");
    }
    None
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.invalid"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

/// The reader's `release-train.toml`: a cut a few seconds from now, an hour's soak. Far
/// enough ahead that `trainctl validate`, run first, still sees the cut in the future
/// (validate refuses an `at()` cut that has passed) on a loaded machine.
fn write_config(dir: &Path) {
    let cut = chrono::Utc::now() + chrono::Duration::seconds(15);
    let promote = cut + chrono::Duration::hours(2);
    let mut config = format!(
        "[train]\nname = \"weekly\"\ntime_zone = \"UTC\"\ncut = \"at({})\"\npromote = \"at({})\"\nsoak = \"1h\"\n",
        cut.format("%Y-%m-%dT%H:%M:%S"),
        promote.format("%Y-%m-%dT%H:%M:%S")
    );
    for name in ["api", "web"] {
        let repo = dir.join("repos").join(name);
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(
            repo.join("buildspec.yml"),
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built $RELEASE_COMMIT\n",
        )
        .unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "v1"]);
        let _ = write!(
            config,
            "\n[[component]]\nname = \"{name}\"\nsource = \"repos/{name}\"\nstaging = {{ buildspec = \"buildspec.yml\" }}\nproduction = {{ buildspec = \"buildspec.yml\" }}\n"
        );
    }
    std::fs::write(dir.join("release-train.toml"), config).unwrap();
}

/// The README's configuration example, with the comments it carries, validates.
#[test]
fn the_readme_configuration_example_validates() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a TOML example");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release-train.toml");
    std::fs::write(&path, example).unwrap();
    let out = Command::new(TRAINCTL)
        .args(["validate", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_shell_command_in_the_readme_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let lines = commands(&readme);
    assert!(
        lines
            .iter()
            .any(|l| l.command.starts_with("trainctl serve")),
        "the README has a serve command: {lines:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    write_config(&work);
    // `trainctl` on PATH is the binary under test.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(TRAINCTL, bin.join("trainctl")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut serve: Option<Killed> = None;
    let mut train_id: Option<String> = None;
    let mut ran = 0;
    let mut report = String::new();
    for line in &lines {
        if let Some(why) = skipped(line) {
            let _ = writeln!(report, "skipped ({why}): {}", line.command);
            continue;
        }
        let mut command = line.command.replace("cargo run -p trainctl --", "trainctl");
        if command.starts_with("trainctl serve") {
            let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
            let child = Command::new("bash")
                .args(["-c", &format!("exec {command}")])
                .current_dir(&work)
                .env("PATH", &path)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let serve = serve.insert(Killed(child));
            train_id = Some(wait_for_a_train(
                &work,
                &mut serve.0,
                &dir.path().join("serve.log"),
            ));
            let _ = writeln!(report, "started: {command}");
            ran += 1;
            continue;
        }
        if let Some(id) = &train_id {
            command = command.replace("weekly-2026-W48", id);
        }
        let out = Command::new("bash")
            .args(["-c", &command])
            .current_dir(&work)
            .env("PATH", &path)
            .env_remove("TRAINCTL_API")
            .env_remove("TRAINCTL_DATA")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let refused = out.status.code() == Some(1) && text.contains("error (4");
        // A curl command is answered in JSON, and not with a refusal of the way it asked
        // (a missing token, the wrong listener for a change): those mean the README is wrong.
        let answered_json = !command.starts_with("curl")
            || serde_json::from_str::<serde_json::Value>(text.trim()).is_ok_and(|v| {
                !matches!(
                    v.pointer("/error/code").and_then(serde_json::Value::as_str),
                    Some("token_required" | "wrong_host" | "use_the_socket" | "cross_site")
                )
            });
        assert!(
            (out.status.success() || refused) && answered_json,
            "README command under {:?} failed ({:?}):\n$ {command}\n{text}",
            line.heading,
            out.status
        );
        let _ = writeln!(
            report,
            "{}: {command}",
            if refused { "refused (4xx)" } else { "ok" }
        );
        ran += 1;
    }
    drop(serve);
    println!("{report}");
    assert!(
        ran >= 20,
        "too few README commands ran ({ran}); the extraction is broken:\n{report}"
    );
    assert!(
        report.contains("ok: trainctl cancel"),
        "the README's cancel worked on a soaking train:\n{report}"
    );
}

/// The README's `serve`, killed however the test ends (a failed assertion included), so it
/// never keeps port 7878 from the next run.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `serve` (started in `work` with `--data .release-train`) to cut its train and
/// soak it; returns the train's id. A serve that exits (port 7878 taken, say) fails the test
/// with what it printed.
fn wait_for_a_train(work: &Path, serve: &mut std::process::Child, log: &Path) -> String {
    let socket: PathBuf = work.join(".release-train/serve.sock");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if socket.exists() {
            let out = Command::new(TRAINCTL)
                .current_dir(work)
                .args(["status", "--json"])
                .output()
                .unwrap();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                && let Some(t) = v["trains"].get(0)
                && t["state"] == "soaking"
            {
                return t["id"].as_str().unwrap().to_owned();
            }
        }
        if let Ok(Some(status)) = serve.try_wait() {
            panic!(
                "serve, started as the README says, exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "serve, started as the README says, did not cut and soak a train within 90s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The repository layout's list of trainctl commands is `trainctl --help`'s, in its order.
#[test]
fn the_readme_lists_every_trainctl_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let listed: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("functions/trainctl"))
        .find_map(|l| l.split_once("the trainctl binary: "))
        .expect("the layout names trainctl's commands")
        .1
        .split(", ")
        .collect();
    let help = Command::new(TRAINCTL).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 10, "{help}");
    assert_eq!(listed, commands);
}
