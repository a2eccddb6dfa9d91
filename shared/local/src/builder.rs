//! Local builds: the component's repository is mirrored into the data directory, the
//! exact commit is checked out into a git worktree, and the buildspec's phases run with
//! bash under a timeout, logging to `builds/<id>/build.log`.
//!
//! Builds run detached from `trainctl` (their own process group), like CodeBuild builds run
//! apart from the Lambda that started them: a killed `serve` finds them still running, or
//! finished, when it comes back. Each build directory holds:
//!
//! - `meta.json`: the request and the resolved commit, written before the build is spawned;
//! - `claim/`: created by the wrapper with `mkdir`, which succeeds once: a build spawned a
//!   second time (a retried effect, a restart) exits at once, so no build runs twice;
//! - `pid`, `build.log`, and `exit` (the exit status) when it ends; `stopped` if stopped;
//! - `fault` when the build system failed, not the code: the mirror could not be fetched,
//!   the commit could not be checked out, or the disk refused a write. It is reported as
//!   [`BuildOutcome::Fault`], which the train retries and never counts as the component's
//!   failure (a missing or invalid buildspec, or a missing branch, is the component's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio::sync::Mutex;
use tracing::{info, warn};
use train_core::train::Changelog;
use train_core::{BuildId, BuildOutcome, BuildRequest, Commit, ComponentName, Revision, Stage};
use train_engine::{Builder, Observed, PortError, Started};

use crate::buildspec::{Buildspec, quote};

/// At most this many commits are listed in a changelog (the lead time still sees all).
const CHANGELOG_LINES: usize = 200;

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    key: String,
    train: String,
    component: String,
    stage: String,
    commit: Option<Commit>,
}

#[derive(Debug)]
pub struct LocalBuilder {
    builds: PathBuf,
    mirrors: PathBuf,
    /// Relative `source` paths in the config are relative to the config file.
    config_dir: PathBuf,
    /// Serialises `start` within this process so one key is never set up twice at once.
    starting: Mutex<()>,
    /// Builds that fail on purpose (`trainctl simulate --fail`): component and stage.
    failing: std::sync::Mutex<std::collections::BTreeSet<(ComponentName, Stage)>>,
}

fn io(context: &str, e: &std::io::Error) -> PortError {
    PortError::retryable(format!("{context}: {e}"))
}

/// A directory name from the idempotency key: one key, one directory.
fn build_id_for(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .collect()
}

async fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn pid_alive(pid: u32) -> bool {
    // Linux: a zombie still has a /proc entry, but its state field is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Why a build could not start.
#[derive(Debug)]
enum NotStarted {
    /// The build system's failure (fetch, disk): the train builds again.
    Fault(String),
    /// The component's: its branch or buildspec at the commit.
    Failed(Option<Commit>, String),
}

/// Writes `path` whole or not at all (a temporary file renamed into place): a process
/// killed while writing never leaves half a file for the next one to read.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), PortError> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| io(&format!("writing {}", path.display()), &e))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The variables a build gets, as CodeBuild sets its own and the train passes its `RELEASE_*`.
fn build_env(req: &BuildRequest, commit: &Commit, src: &Path) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("RELEASE_TRAIN_ID".to_owned(), req.train.to_string()),
        ("RELEASE_COMPONENT".to_owned(), req.component.to_string()),
        ("RELEASE_STAGE".to_owned(), req.stage.to_string()),
        ("RELEASE_COMMIT".to_owned(), commit.to_string()),
        (
            "PREVIOUS_RELEASE_COMMIT".to_owned(),
            req.previous
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        (
            "CODEBUILD_BUILD_ID".to_owned(),
            build_id_for(&req.idempotency_key),
        ),
        (
            "CODEBUILD_SRC_DIR".to_owned(),
            src.to_string_lossy().into_owned(),
        ),
        (
            "CODEBUILD_RESOLVED_SOURCE_VERSION".to_owned(),
            commit.to_string(),
        ),
    ])
}

impl LocalBuilder {
    pub fn new(data_dir: &Path, config_dir: &Path) -> Result<Self, PortError> {
        let builds = data_dir.join("builds");
        let mirrors = data_dir.join("repos");
        for d in [&builds, &mirrors] {
            std::fs::create_dir_all(d).map_err(|e| io("creating the data directory", &e))?;
        }
        Ok(Self {
            builds,
            mirrors,
            config_dir: config_dir.to_path_buf(),
            starting: Mutex::new(()),
            failing: std::sync::Mutex::default(),
        })
    }

    /// Makes every later build of `component` in `stage` fail in its `build` phase, saying
    /// so in its log, without touching the repository: how `trainctl simulate --fail` shows
    /// what the train does when a component's build fails.
    pub fn fail_on_purpose(&self, component: ComponentName, stage: Stage) {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((component, stage));
    }

    /// Where a build's files live (its log is `build.log` there).
    pub fn build_dir(&self, id: &BuildId) -> PathBuf {
        self.builds.join(id.as_str())
    }

    fn source_url(&self, source: &str) -> String {
        if train_core::config::is_url(source) {
            source.to_owned()
        } else {
            self.config_dir.join(source).to_string_lossy().into_owned()
        }
    }

    /// Brings the component's mirror up to date with its source.
    async fn sync_mirror(&self, component: &str, source: &str) -> Result<PathBuf, String> {
        let mirror = self.mirrors.join(format!("{component}.git"));
        let url = self.source_url(source);
        let m = mirror.to_string_lossy().into_owned();
        if mirror.join("HEAD").exists() {
            git(&[
                "-C",
                &m,
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                &url,
                "+refs/heads/*:refs/heads/*",
            ])
            .await?;
        } else {
            // Cloned beside it, then renamed into place: a clone cut short (serve killed
            // mid-clone) never leaves a half-made mirror that a later build would use.
            let unique = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let partial = self
                .mirrors
                .join(format!(".{component}.git.{}.{unique}", std::process::id()));
            let p = partial.to_string_lossy().into_owned();
            let cloned = git(&["clone", "--quiet", "--mirror", &url, &p])
                .await
                .map_err(|e| format!("cannot clone {url}: {e}"));
            if let Err(e) = cloned {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
            if std::fs::rename(&partial, &mirror).is_err() {
                // Another clone got there first; use it.
                let _ = std::fs::remove_dir_all(&partial);
            }
        }
        Ok(mirror)
    }

    async fn resolve(&self, mirror: &Path, revision: &Revision) -> Result<Commit, String> {
        let m = mirror.to_string_lossy();
        let spec = match revision {
            Revision::Branch(b) => format!("refs/heads/{b}^{{commit}}"),
            Revision::Commit(c) => format!("{c}^{{commit}}"),
        };
        let sha = git(&["-C", &m, "rev-parse", "--verify", "--quiet", &spec])
            .await
            .map_err(|_| match revision {
                Revision::Branch(b) => format!("branch {b:?} does not exist in the repository"),
                Revision::Commit(c) => {
                    format!("commit {c} is not in the repository (was history rewritten?)")
                }
            })?;
        Commit::parse(&sha).map_err(|e| e.to_string())
    }

    /// Everything up to spawning: mirror, commit, buildspec, scripts. An error here ends
    /// the build at once, written to its log: a fault (the train builds again) or the
    /// component's failure.
    async fn prepare(&self, req: &BuildRequest, dir: &Path) -> Result<Commit, NotStarted> {
        let mirror = self
            .sync_mirror(req.component.as_str(), &req.source)
            .await
            .map_err(|e| NotStarted::Fault(format!("cannot fetch the repository: {e}")))?;
        let commit = self
            .resolve(&mirror, &req.revision)
            .await
            .map_err(|e| NotStarted::Failed(None, e))?;
        let path = req.target.buildspec.as_deref().unwrap_or("buildspec.yml");
        let m = mirror.to_string_lossy().into_owned();
        let text = git(&["-C", &m, "show", &format!("{commit}:{path}")])
            .await
            .map_err(|_| {
                NotStarted::Failed(
                    Some(commit.clone()),
                    format!("buildspec {path} not found at commit {}", commit.short()),
                )
            })?;
        let mut spec = Buildspec::parse(&text)
            .map_err(|e| NotStarted::Failed(Some(commit.clone()), format!("{path}: {e}")))?;
        let fails = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(req.component.clone(), req.stage));
        if fails {
            spec.fail_on_purpose(&format!(
                "[release-train] simulate --fail {}: this {} build fails on purpose",
                req.component, req.stage
            ));
        }
        let src = dir.join("src");
        let env = build_env(req, &commit, &src);
        let phases = format!(
            "cd {} || exit 1\n{}",
            quote(&src.to_string_lossy()),
            spec.script(&env)
        );
        let secs = req.timeout.duration().num_seconds();
        let wrapper = format!(
            r#"#!/usr/bin/env bash
# One build, at most once: the mkdir below succeeds for one process only.
cd {dir} || exit 1
mkdir claim 2>/dev/null || exit 0
echo $$ > pid
finish() {{ echo "$1" > exit.tmp && mv exit.tmp exit; }}
note() {{ printf '[release-train] %(%Y/%m/%d %H:%M:%S)T %s\n' -1 "$*" >> build.log; }}
# Each line the build writes gets the time it was written, as CodeBuild's log events carry
# theirs; its own [Container] lines already say it.
stamp() {{
  local l
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in
      '[Container] '*) printf '%s\n' "$l" ;;
      *) printf '%(%Y/%m/%d %H:%M:%S)T %s\n' -1 "$l" ;;
    esac
  done
}}
note "{key}: checking out {commit} into src"
# The build's own files get CodeBuild's modes (umask 022), not serve's private 077: what a
# build packages must be readable where it ships. Its log and markers here stay private.
(umask 022 && git -C {mirror} worktree add --detach --force {src} {commit}) >> build.log 2>&1 || {{
  # The build system's failure, not the code's: the train builds again.
  echo "cannot check out {commit} (git worktree add failed)" > fault
  finish 1
  exit 0
}}
exec 3> >(stamp >> build.log)
stamper=$!
(umask 022 && exec timeout --kill-after=10 {secs} bash phases.sh) >&3 2>&3
code=$?
exec 3>&-
# Its last lines are in the log before the build is seen to end; a process the build left
# running may hold the pipe open, so not for ever.
for _ in $(seq 40); do kill -0 "$stamper" 2>/dev/null || break; sleep 0.05; done
[ "$code" = 124 ] && note "build timed out after {timeout}"
git -C {mirror} worktree remove --force {src} >/dev/null 2>&1
finish "$code"
"#,
            dir = quote(&dir.to_string_lossy()),
            key = req.idempotency_key,
            mirror = quote(&m),
            src = quote(&src.to_string_lossy()),
            timeout = req.timeout,
        );
        let disk =
            |e: std::io::Error| NotStarted::Fault(format!("cannot write the build's scripts: {e}"));
        std::fs::write(dir.join("phases.sh"), phases).map_err(disk)?;
        std::fs::write(dir.join("run.sh"), wrapper).map_err(disk)?;
        Ok(commit)
    }

    fn spawn(dir: &Path) -> Result<(), PortError> {
        let mut child = Command::new("bash")
            .arg(dir.join("run.sh"))
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| io("spawning a build", &e))?;
        // Reap it when it ends; if this process dies first, init does.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(())
    }

    fn observe(&self, id: &BuildId) -> Option<Observed> {
        let dir = self.build_dir(id);
        let meta: Meta =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()?;
        let log = dir.join("build.log");
        if let Ok(code) = std::fs::read_to_string(dir.join("exit")) {
            if let Ok(why) = std::fs::read_to_string(dir.join("fault")) {
                return Some(Observed::Finished(BuildOutcome::Fault {
                    reason: format!("{}; log {}:\n{}", why.trim(), log.display(), tail(&log, 5)),
                }));
            }
            let code = code.trim();
            return Some(Observed::Finished(if code == "0" {
                BuildOutcome::Succeeded {
                    commit: meta.commit,
                }
            } else if dir.join("stopped").exists() {
                BuildOutcome::Stopped
            } else {
                let why = if code == "124" {
                    "timed out".to_owned()
                } else {
                    format!("exit status {code}")
                };
                BuildOutcome::Failed {
                    reason: format!("{why}; log {}:\n{}", log.display(), tail(&log, 5)),
                }
            }));
        }
        if dir.join("stopped").exists() {
            return Some(Observed::Finished(BuildOutcome::Stopped));
        }
        match std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            Some(pid) if pid_alive(pid) => Some(Observed::Running),
            Some(_) => Some(Observed::Finished(BuildOutcome::Failed {
                reason: format!(
                    "the build process ended without a result (killed?); log {}",
                    log.display()
                ),
            })),
            // Between the claim and writing the pid: two lines of the wrapper apart, so a
            // claim older than a few seconds without a pid is a wrapper that died there.
            // The build system's failure, not the code's: the train builds again.
            None if dir.join("claim").exists() => {
                let age = std::fs::metadata(dir.join("claim"))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|at| SystemTime::now().duration_since(at).ok())
                    .unwrap_or_default();
                if age > Duration::from_secs(10) {
                    Some(Observed::Finished(BuildOutcome::Fault {
                        reason: format!(
                            "the build process ended before it began (claimed {}s ago, no pid); log {}",
                            age.as_secs(),
                            log.display()
                        ),
                    }))
                } else {
                    Some(Observed::Running)
                }
            }
            None => {
                // Prepared but never spawned (the process that started it died first).
                // Spawning again is safe: the claim lets one run through.
                let age = std::fs::metadata(dir.join("run.sh"))
                    .and_then(|m| m.modified())
                    .ok()?;
                if SystemTime::now().duration_since(age).unwrap_or_default()
                    > Duration::from_secs(2)
                {
                    warn!(build = %id, "build was prepared but not running; spawning it");
                    let _ = Self::spawn(&dir);
                }
                Some(Observed::Running)
            }
        }
    }
}

#[async_trait]
impl Builder for LocalBuilder {
    async fn start(&self, req: &BuildRequest) -> Result<Started, PortError> {
        let _one_at_a_time = self.starting.lock().await;
        let build_id = BuildId::parse(&build_id_for(&req.idempotency_key))
            .map_err(|e| PortError::fatal(e.to_string()))?;
        let dir = self.build_dir(&build_id);
        // meta.json is written whole (renamed into place) and before the build is spawned:
        // one that does not parse is from before that was so, and its build never ran.
        if let Ok(bytes) = std::fs::read(dir.join("meta.json")) {
            match serde_json::from_slice::<Meta>(&bytes) {
                Ok(meta) => {
                    let link = Some(dir.join("build.log").display().to_string());
                    return Ok(Started {
                        build_id,
                        commit: meta.commit,
                        link,
                    });
                }
                Err(e) => {
                    warn!(build = %build_id, error = %e, "meta.json is unreadable; preparing the build again");
                }
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| io("creating the build directory", &e))?;
        let prepared = self.prepare(req, &dir).await;
        let commit = match &prepared {
            Ok(c) => Some(c.clone()),
            Err(NotStarted::Failed(c, _)) => c.clone(),
            Err(NotStarted::Fault(_)) => None,
        };
        let meta = Meta {
            key: req.idempotency_key.clone(),
            train: req.train.to_string(),
            component: req.component.to_string(),
            stage: req.stage.to_string(),
            commit: commit.clone(),
        };
        let meta = serde_json::to_vec_pretty(&meta).map_err(|e| PortError::fatal(e.to_string()))?;
        match prepared {
            Ok(_) => {
                write_whole(&dir.join("meta.json"), &meta)?;
                Self::spawn(&dir)?;
                info!(build = %build_id, commit = ?commit.as_ref().map(Commit::short), "local build spawned");
            }
            Err(not_started) => {
                // The build ends at once; the train decides what that means. A fault is
                // marked first, so the build is never seen ended without it.
                let (why, fault) = match not_started {
                    NotStarted::Fault(why) => (why, true),
                    NotStarted::Failed(_, why) => (why, false),
                };
                std::fs::write(
                    dir.join("build.log"),
                    format!("[release-train] cannot start: {why}\n"),
                )
                .map_err(|e| io("writing build.log", &e))?;
                if fault {
                    std::fs::write(dir.join("fault"), &why).map_err(|e| io("writing fault", &e))?;
                }
                write_whole(&dir.join("meta.json"), &meta)?;
                std::fs::write(dir.join("exit"), "2\n").map_err(|e| io("writing exit", &e))?;
                warn!(build = %build_id, reason = %why, fault, "build ended before it started");
            }
        }
        let link = Some(dir.join("build.log").display().to_string());
        Ok(Started {
            build_id,
            commit,
            link,
        })
    }

    async fn poll(&self, builds: &[BuildId]) -> Result<Vec<(BuildId, Observed)>, PortError> {
        Ok(builds
            .iter()
            .filter_map(|id| self.observe(id).map(|o| (id.clone(), o)))
            .collect())
    }

    async fn stop(&self, id: &BuildId) -> Result<(), PortError> {
        let dir = self.build_dir(id);
        if !dir.exists() || dir.join("exit").exists() {
            return Ok(());
        }
        std::fs::write(dir.join("stopped"), "").map_err(|e| io("writing stopped", &e))?;
        if let Some(pid) = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            // The wrapper leads its own process group: stop the phases it runs too.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status()
                .await;
        }
        info!(build = %id, "build stopped");
        Ok(())
    }

    /// `git log` in the component's mirror: the commits after the previous release's pin up
    /// to this train's (the last 20 when there is no previous release), at most 200.
    async fn changelog(
        &self,
        component: &ComponentName,
        source: &str,
        from: Option<&Commit>,
        to: &Commit,
        _build: Option<&BuildId>,
    ) -> Result<Changelog, PortError> {
        // The staging build that ran `to` left the mirror up to date; fetch only if it is gone.
        let mirror = self.mirrors.join(format!("{component}.git"));
        let mirror = if mirror.join("HEAD").exists() {
            mirror
        } else {
            self.sync_mirror(component.as_str(), source)
                .await
                .map_err(PortError::retryable)?
        };
        let m = mirror.to_string_lossy().into_owned();
        let range = from.map_or_else(|| to.to_string(), |f| format!("{f}..{to}"));
        let mut args = vec!["-C", &m, "log", "--format=%h %ct %s"];
        if from.is_none() {
            // A first release: the recent history, and no lead time (every commit is new).
            args.extend(["-n", "20"]);
        }
        args.push(&range);
        let log = git(&args)
            .await
            .map_err(|e| PortError::fatal(format!("changelog {range}: {e}")))?;
        let mut commits = Vec::new();
        let mut oldest: Option<i64> = None;
        for line in log.lines() {
            let mut parts = line.splitn(3, ' ');
            let (Some(sha), Some(time), subject) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let Ok(t) = time.parse::<i64>() {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
            if commits.len() < CHANGELOG_LINES {
                commits.push(format!("{sha} {}", subject.unwrap_or_default()));
            }
        }
        Ok(Changelog {
            commits,
            oldest_commit_at: oldest
                .filter(|_| from.is_some())
                .and_then(|t| DateTime::from_timestamp(t, 0)),
            ..Changelog::empty(from, to)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use train_core::config::StageTarget;
    use train_core::{Span, Stage, TrainId};

    fn git_in(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.invalid"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    /// A repository with a buildspec, and a builder over a fresh data directory.
    fn world() -> (tempfile::TempDir, LocalBuilder) {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("api");
        std::fs::create_dir_all(&repo).unwrap();
        git_in(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(
            repo.join("buildspec.yml"),
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n",
        )
        .unwrap();
        git_in(&repo, &["add", "."]);
        git_in(&repo, &["commit", "-q", "-m", "v1"]);
        let builder = LocalBuilder::new(&root.path().join("data"), root.path()).unwrap();
        (root, builder)
    }

    fn request(key: &str, source: &str, buildspec: Option<&str>) -> BuildRequest {
        BuildRequest {
            train: TrainId::parse("weekly-2026-W48").unwrap(),
            component: ComponentName::parse("api").unwrap(),
            stage: Stage::Staging,
            attempt: 1,
            source: source.to_owned(),
            revision: Revision::Branch("main".into()),
            target: StageTarget {
                buildspec: buildspec.map(str::to_owned),
                project: None,
                role: None,
            },
            timeout: Span::parse("1m").unwrap(),
            idempotency_key: format!("weekly-2026-W48/api/staging/{key}"),
            previous: None,
            branch: None,
        }
    }

    async fn outcome(builder: &LocalBuilder, req: &BuildRequest) -> BuildOutcome {
        let started = builder.start(req).await.unwrap();
        for _ in 0..400 {
            if let Some(Observed::Finished(o)) = builder.observe(&started.build_id) {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("build {} did not finish", started.build_id);
    }

    #[tokio::test]
    async fn an_unreachable_repository_or_a_failed_checkout_is_a_fault_and_a_bad_buildspec_is_a_failure()
     {
        let (root, builder) = world();
        let repo = root.path().join("api").to_string_lossy().into_owned();

        let gone = root.path().join("nowhere").to_string_lossy().into_owned();
        let o = outcome(&builder, &request("unreachable", &gone, None)).await;
        assert!(
            matches!(&o, BuildOutcome::Fault { reason } if reason.contains("cannot fetch the repository")),
            "{o:?}"
        );

        // The worktree cannot be made where a file already stands: a checkout failure.
        let req = request("checkout", &repo, None);
        let dir = builder.build_dir(&BuildId::parse(&build_id_for(&req.idempotency_key)).unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("src"), "in the way").unwrap();
        let o = outcome(&builder, &req).await;
        assert!(
            matches!(&o, BuildOutcome::Fault { reason } if reason.contains("cannot check out")),
            "{o:?}"
        );

        let o = outcome(&builder, &request("nospec", &repo, Some("missing.yml"))).await;
        assert!(
            matches!(&o, BuildOutcome::Failed { reason } if reason.contains("buildspec missing.yml not found")),
            "the component's failure, not a fault: {o:?}"
        );

        let o = outcome(&builder, &request("green", &repo, None)).await;
        assert!(matches!(o, BuildOutcome::Succeeded { .. }), "{o:?}");
    }
}
