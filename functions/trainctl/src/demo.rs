//! `trainctl demo`: a whole week on a simulated clock, with real git repositories and real
//! buildspecs, printed as a timeline. With `--cancel`, someone cancels during the soak.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use train_core::{Event, Reason, Stage, State, Train};
use train_engine::ports::ListQuery;
use train_local::{LocalMode, SimulatedClock};

use crate::local::{load_config, local_actor};
use crate::render;

const ZONE: Tz = chrono_tz::Europe::Berlin;
const COMPONENTS: [(&str, u32); 3] = [("api", 1), ("web", 2), ("worker", 2)];

const STAGING: &str = r#"version: 0.2
env:
  variables:
    TARGET: staging
phases:
  install:
    commands:
      - echo "nothing to install for $RELEASE_COMPONENT"
  build:
    commands:
      - echo "building $RELEASE_COMPONENT at $RELEASE_COMMIT for train $RELEASE_TRAIN_ID"
      - sh test.sh
      - sleep 1
  post_build:
    commands:
      - echo "deployed $(cat app.txt) to $TARGET"
"#;

const PRODUCTION: &str = r#"version: 0.2
phases:
  build:
    commands:
      - test "$(git rev-parse HEAD)" = "$RELEASE_COMMIT"
      - echo "deploying $(cat app.txt) of $RELEASE_COMPONENT at $RELEASE_COMMIT to production"
      - sleep 1
"#;

fn config_text() -> String {
    let mut s = String::from(
        r#"# The demo's train: weekly, cut Monday 09:00, promote Wednesday 09:00, Berlin time.
[train]
name = "weekly"
time_zone = "Europe/Berlin"
cut = "cron(0 9 ? * MON *)"
promote = "cron(0 9 ? * WED *)"
soak = "48h"
on_component_failure = "halt"
build_timeout = "10m"
"#,
    );
    for (name, wave) in COMPONENTS {
        let _ = write!(
            s,
            "\n[[component]]\nname = \"{name}\"\nsource = \"repos/{name}\"\nbranch = \"main\"\nstaging = {{ buildspec = \"buildspec-staging.yml\" }}\nproduction = {{ buildspec = \"buildspec-production.yml\" }}\nwave = {wave}\n"
        );
    }
    s
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Demo",
            "-c",
            "user.email=demo@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One repository per component, each with a staging and a production buildspec.
fn make_repos(root: &Path) -> Result<(), String> {
    for (name, _) in COMPONENTS {
        let dir = root.join("repos").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        git(&dir, &["init", "-q", "-b", "main"])?;
        std::fs::write(dir.join("app.txt"), format!("{name} version 1\n"))
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("test.sh"), "grep -q version app.txt\n")
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("buildspec-staging.yml"), STAGING).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("buildspec-production.yml"), PRODUCTION)
            .map_err(|e| e.to_string())?;
        git(&dir, &["add", "."])?;
        git(&dir, &["commit", "-q", "-m", "first version"])?;
    }
    std::fs::write(root.join("release-train.toml"), config_text()).map_err(|e| e.to_string())
}

/// The coming Monday, 08:58 in Berlin: two minutes before the cut.
fn start_time() -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&ZONE).date_naive();
    let ahead = (7 - today.weekday().num_days_from_monday()) % 7;
    let monday = today + Duration::days(i64::from(if ahead == 0 { 7 } else { ahead }));
    debug_assert_eq!(monday.weekday(), Weekday::Mon);
    let local = monday.and_time(NaiveTime::from_hms_opt(8, 58, 0).unwrap_or_default());
    ZONE.from_local_datetime(&local)
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

pub fn run(cancel: bool, keep: Option<&Path>) -> ExitCode {
    let temp;
    let root = match keep {
        Some(dir) => dir.to_path_buf(),
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("demo: cannot create a temporary directory: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if keep.is_some() && root.join("repos").exists() {
        eprintln!(
            "demo: {} already holds a demo (repos/ is there); give --keep a new or empty directory",
            root.display()
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
    if let Err(e) = make_repos(&root) {
        eprintln!(
            "demo: cannot set up the sample repositories in {}: {e}",
            root.display()
        );
        return ExitCode::FAILURE;
    }
    let (config, config_dir) = match load_config(&root.join("release-train.toml")) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let local = match LocalMode::open(config, &config_dir, &root.join("data")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("demo: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(week(&local, &root, cancel)) {
        Ok(true) => {
            if keep.is_some() {
                println!(
                    "\nkept in {}: repos/, data/builds/*/build.log, data/manifests/, data/events.jsonl",
                    root.display()
                );
            }
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn latest(local: &LocalMode) -> Result<Option<Train>, String> {
    let trains = local
        .engine
        .list(&ListQuery {
            limit: 1,
            ..ListQuery::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(trains.into_iter().next())
}

/// Runs the week; `Ok(true)` when the outcome is the expected one.
async fn week(local: &LocalMode, root: &Path, cancel: bool) -> Result<bool, String> {
    let start = start_time();
    let settings = &local.engine.config().train;
    println!(
        "release-train demo: train {:?} with components api (wave 1), web and worker (wave 2)",
        settings.name.as_str()
    );
    header(local, start);
    let api_repo = root.join("repos/api");
    let script = Script {
        late_commit: Some((start + Duration::hours(6), api_repo.clone())),
        cancel_at: cancel.then(|| (start + Duration::hours(29), "checkout errors in staging")),
    };
    match run_week(local, start, ZONE, &script).await? {
        Some(t) => Ok(report(&t, &api_repo, cancel)),
        None => Ok(false),
    }
}

/// The train's schedules and the simulated clock's start, before the timeline.
pub fn header(local: &LocalMode, start: DateTime<Utc>) {
    let settings = &local.engine.config().train;
    println!(
        "  zone {}, cut {}, promote {}, soak {}",
        settings.zone,
        settings.cut.expression(),
        settings.promote.expression(),
        settings.soak
    );
    println!(
        "  the clock is simulated from {}; builds really run (git worktree + bash)\n",
        render::local(start, settings.zone)
    );
}

/// What happens during a simulated week besides the schedules.
#[derive(Debug, Default)]
pub struct Script {
    /// A commit lands on this repository's branch during the soak (it must not ship).
    pub late_commit: Option<(DateTime<Utc>, std::path::PathBuf)>,
    /// Someone cancels the soaking train then, saying why.
    pub cancel_at: Option<(DateTime<Utc>, &'static str)>,
}

/// Runs the schedules on a simulated clock from `start`, printing the latest train's
/// timeline, until that train settles (after a cancel: until the promote firing has
/// passed, to show it promotes nothing) or eight days pass. Answers the settled train.
pub async fn run_week(
    local: &LocalMode,
    start: DateTime<Utc>,
    zone: Tz,
    script: &Script,
) -> Result<Option<Train>, String> {
    let clock = Arc::new(SimulatedClock::starting_at(start));
    let runner = local.runner(clock.clone(), std::time::Duration::from_millis(100));
    let settings = &local.engine.config().train;
    let give_up = start + Duration::days(8);
    let promote_at = settings.promote.next_after(start).unwrap_or(give_up);
    let cancel = script.cancel_at.is_some();
    let (mut printed, mut committed_late, mut cancelled) = (0, script.late_commit.is_none(), false);
    loop {
        let step = runner.step().await.map_err(|e| e.to_string())?;
        let train = latest(local).await?;
        if let Some(t) = &train {
            for r in &t.history[printed..] {
                println!("{}", render::record(r, zone));
            }
            printed = t.history.len();
            if t.is_settled() && (!cancel || step.now > promote_at) {
                if cancel {
                    println!(
                        "{}  schedule:promote fired: nothing to promote, {} is {}",
                        render::local(promote_at, zone),
                        t.id,
                        t.state()
                    );
                }
                return Ok(train);
            }
        }
        if step.now > give_up {
            println!("\nthe week ended without a finished train");
            return Ok(None);
        }
        let soaking = train.as_ref().is_some_and(|t| t.state() == State::Soaking);
        if let Some((at, repo)) = &script.late_commit
            && !committed_late
            && step.now >= *at
            && soaking
        {
            std::fs::write(repo.join("app.txt"), "api version 2 (untested)\n")
                .map_err(|e| e.to_string())?;
            git(
                repo,
                &["commit", "-q", "-am", "a change that lands during the soak"],
            )?;
            let head = git(repo, &["rev-parse", "--short=12", "HEAD"])?;
            println!(
                "{}  (a new commit {head} lands on api/main during the soak; this train will not ship it)",
                render::local(step.now, zone)
            );
            committed_late = true;
        }
        if let Some((at, why)) = script.cancel_at
            && !cancelled
            && step.now >= at
            && soaking
        {
            let t = train.as_ref().expect("soaking implies a train");
            let reason = Reason::parse(why).map_err(|e| e.to_string())?;
            local
                .engine
                .apply(
                    &t.id,
                    &Event::Cancel {
                        by: local_actor(),
                        reason,
                    },
                    step.now,
                )
                .await
                .map_err(|e| e.to_string())?;
            cancelled = true;
            continue;
        }
        let scripted = [
            script
                .late_commit
                .as_ref()
                .map(|(at, _)| *at)
                .filter(|_| !committed_late),
            script.cancel_at.map(|(at, _)| at).filter(|_| !cancelled),
            cancel.then_some(promote_at + Duration::minutes(1)),
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > step.now)
        .min();
        runner.wait(&step, scripted).await;
    }
}

fn report(t: &Train, api_repo: &Path, cancel: bool) -> bool {
    println!();
    let production: Vec<_> = t
        .components
        .values()
        .filter_map(|r| r.build(Stage::Production).map(|b| (r, b)))
        .collect();
    match (cancel, t.state()) {
        (false, State::Released) => {
            for (run, build) in &production {
                let pin = run.pinned.as_ref().map_or("-", |c| c.short());
                let built = build.commit.as_ref().map_or("-", |c| c.short());
                println!(
                    "  {:<8} staging tested {pin}, production shipped {built}",
                    run.spec.name.as_str()
                );
            }
            let head = git(api_repo, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
            let all_pinned = production
                .iter()
                .all(|(run, b)| b.commit.is_some() && b.commit == run.pinned);
            println!(
                "  api/main is now at {head}; production shipped what soaked, not the branch head"
            );
            println!(
                "\nRELEASED {}: every production build ran the exact commit its staging build tested.",
                t.id
            );
            all_pinned && production.len() == t.components.len()
        }
        (true, State::Cancelled) => {
            let none = production.is_empty();
            println!(
                "CANCELLED {}: {} production builds started.",
                t.id,
                if none { "no" } else { "SOME" }
            );
            none
        }
        (_, state) => {
            println!("unexpected outcome: train {} is {state}", t.id);
            false
        }
    }
}
