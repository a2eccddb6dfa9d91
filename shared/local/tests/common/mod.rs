//! A local-mode world for scenario tests: real git repositories in a temporary directory,
//! a SQLite data directory, real bash builds, and a simulated clock.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use train_core::{Config, Stage, Train};
use train_engine::ports::ListQuery;
use train_local::{LocalMode, Runner, SimulatedClock};

pub const GREEN: &str = r#"version: 0.2
phases:
  build:
    commands:
      - test "$(git rev-parse HEAD)" = "$RELEASE_COMMIT"
      - echo "$RELEASE_STAGE build of $RELEASE_COMPONENT at $(git rev-parse HEAD) for $RELEASE_TRAIN_ID"
"#;

pub const RED: &str = r#"version: 0.2
phases:
  build:
    commands:
      - echo "running the tests"
      - test 1 = 2
"#;

/// Monday 2026-11-23 08:59 in Berlin, a minute before the fixture's cut.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T07:59:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub struct Repo<'a> {
    pub name: &'a str,
    pub staging: &'a str,
    pub production: &'a str,
    pub wave: u32,
}

pub fn repo(name: &str) -> Repo<'_> {
    Repo {
        name,
        staging: GREEN,
        production: GREEN,
        wave: 1,
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub struct World {
    pub root: tempfile::TempDir,
    pub local: LocalMode,
    pub runner: Runner,
    pub clock: Arc<SimulatedClock>,
}

impl World {
    /// A train over `repos`, with `train_extra` lines added to `[train]`.
    pub fn new(repos: &[Repo<'_>], train_extra: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        // `train_extra` may set its own promote schedule.
        let promote = if train_extra.contains("promote = ") {
            ""
        } else {
            "promote = \"cron(0 9 ? * WED *)\"\n"
        };
        let mut config = format!(
            "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\n{promote}soak = \"48h\"\n{train_extra}\n"
        );
        for r in repos {
            let dir = root.path().join("repos").join(r.name);
            std::fs::create_dir_all(&dir).unwrap();
            git(&dir, &["init", "-q", "-b", "main"]);
            std::fs::write(dir.join("staging.yml"), r.staging).unwrap();
            std::fs::write(dir.join("production.yml"), r.production).unwrap();
            std::fs::write(dir.join("app.txt"), "v1\n").unwrap();
            git(&dir, &["add", "."]);
            git(&dir, &["commit", "-q", "-m", "v1"]);
            let _ = write!(
                config,
                "\n[[component]]\nname = \"{}\"\nsource = \"repos/{}\"\nstaging = {{ buildspec = \"staging.yml\" }}\nproduction = {{ buildspec = \"production.yml\" }}\nwave = {}\n",
                r.name, r.name, r.wave
            );
        }
        std::fs::write(root.path().join("release-train.toml"), &config).unwrap();
        let config = Arc::new(Config::parse(&config).unwrap());
        let local = LocalMode::open(config, root.path(), &root.path().join("data")).unwrap();
        let clock = Arc::new(SimulatedClock::starting_at(start()));
        let runner = local.runner(clock.clone(), std::time::Duration::from_millis(20));
        Self {
            root,
            local,
            runner,
            clock,
        }
    }

    pub fn repo(&self, name: &str) -> PathBuf {
        self.root.path().join("repos").join(name)
    }

    pub fn commit(&self, name: &str, content: &str) -> String {
        let dir = self.repo(name);
        std::fs::write(dir.join("app.txt"), content).unwrap();
        git(&dir, &["commit", "-q", "-am", content]);
        git(&dir, &["rev-parse", "HEAD"])
    }

    pub async fn latest(&self) -> Option<Train> {
        self.local
            .engine
            .list(&ListQuery {
                limit: 1,
                ..ListQuery::default()
            })
            .await
            .unwrap()
            .into_iter()
            .next()
    }

    /// Steps the runner until `done` holds for the latest train, calling `each` after every
    /// step; panics after `days` simulated days.
    /// Runs until a train after `previous` has settled, for up to `days` simulated days.
    pub async fn next_settled(&self, previous: &train_core::TrainId, days: i64) -> Train {
        self.run_until(
            days,
            |_, _, _| None,
            |t, _| t.id != *previous && t.is_settled(),
        )
        .await
    }

    pub async fn run_until(
        &self,
        days: i64,
        mut each: impl FnMut(&Self, DateTime<Utc>, Option<&Train>) -> Option<DateTime<Utc>>,
        done: impl Fn(&Train, DateTime<Utc>) -> bool,
    ) -> Train {
        let limit = start() + Duration::days(days);
        loop {
            let step = self.runner.step().await.unwrap();
            let train = self.latest().await;
            if let Some(t) = &train
                && done(t, step.now)
            {
                return t.clone();
            }
            assert!(
                step.now < limit,
                "no outcome after {days} days; latest train: {train:#?}"
            );
            let also = each(self, step.now, train.as_ref());
            self.runner.wait(&step, also).await;
        }
    }

    pub fn build_dirs(&self, stage: Stage) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.root.path().join("data/builds"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains(&format!(".{stage}.")))
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    pub fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("build.log")).unwrap_or_default()
    }
}
