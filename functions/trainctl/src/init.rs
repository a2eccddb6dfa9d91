//! `trainctl init [REPO...]`: a commented `release-train.toml` for the repositories given
//! (paths or git URLs; none: the git repositories directly under the current directory),
//! and, in a local repository without them, starter buildspecs that succeed as they are.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use train_core::{ComponentName, Config};

use crate::EXIT_CONFIG;

/// The buildspecs `init` names for each component, at the repository's root.
pub const STAGING_BUILDSPEC: &str = "buildspec-staging.yml";
pub const PRODUCTION_BUILDSPEC: &str = "buildspec-production.yml";

/// A staging buildspec that succeeds as it is: each phase says what it stands for, with the
/// reference buildspec's commands (buildspecs/serverless-backend/staging.yml) to replace it.
const STAGING: &str = r#"# Staging build (a starter from `trainctl init`): it succeeds as it is. Replace each
# phase's echo with your own commands; the reference buildspecs in release-train's
# buildspecs/ (serverless-backend, web-app, android-app) show complete ones.
version: 0.2
phases:
  install:
    commands:
      # e.g. - npm ci
      - echo "install - the dependencies of $RELEASE_COMPONENT"
  pre_build:
    commands:
      # e.g. - npm test
      - echo "test - train $RELEASE_TRAIN_ID, $RELEASE_STAGE, at $(git rev-parse HEAD)"
  build:
    commands:
      # e.g. - npx serverless deploy --stage staging --conceal
      - echo "deploy $RELEASE_COMPONENT to staging"
  post_build:
    commands:
      # e.g. the changelog since PREVIOUS_RELEASE_COMMIT, as the reference buildspecs write it
      - echo "new since the last release" && git log --oneline ${PREVIOUS_RELEASE_COMMIT:+$PREVIOUS_RELEASE_COMMIT..}HEAD | head -20
"#;

/// A production buildspec that succeeds as it is and checks it builds the pinned commit.
const PRODUCTION: &str = r#"# Production build (a starter from `trainctl init`): it succeeds as it is. It builds
# exactly the commit staging tested (RELEASE_COMMIT); replace the echo with your deploy.
version: 0.2
phases:
  pre_build:
    commands:
      - test "$(git rev-parse HEAD)" = "$RELEASE_COMMIT"
  build:
    commands:
      # e.g. - npx serverless deploy --stage production --conceal
      - echo "deploy $RELEASE_COMPONENT at $RELEASE_COMMIT to production"
"#;

/// One repository to put on the train.
#[derive(Debug)]
struct Repo {
    name: String,
    source: String,
    branch: String,
    /// The local checkout, where starter buildspecs may be written.
    local: Option<PathBuf>,
    /// The buildspecs each stage runs: ones the repository has at HEAD, or the starters'.
    staging: String,
    production: String,
}

/// Where a repository's buildspecs usually are, per stage, in the order they are taken
/// (`buildspec.yml` is CodeBuild's default name, for both stages).
const STAGING_AT: [&str; 3] = [STAGING_BUILDSPEC, "buildspecs/staging.yml", "buildspec.yml"];
const PRODUCTION_AT: [&str; 3] = [
    PRODUCTION_BUILDSPEC,
    "buildspecs/production.yml",
    "buildspec.yml",
];

/// The first of `paths` committed at HEAD of `dir`.
fn committed(dir: &Path, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find(|p| git(dir, &["cat-file", "-e", &format!("HEAD:{p}")]).is_some())
        .map(|p| (*p).to_owned())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A component name from the last part of a path or URL: lowercase letters, digits and
/// hyphens, as component names are.
fn component_name(source: &str) -> String {
    let last = source
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(source)
        .trim_end_matches(".git");
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "service".to_owned()
    } else {
        name.to_owned()
    }
}

fn repo(arg: &str, config_dir: &Path) -> Result<Repo, String> {
    let path = Path::new(arg);
    let is_url = arg.contains("://") || (arg.contains('@') && arg.contains(':'));
    if is_url {
        return Ok(Repo {
            name: component_name(arg),
            source: arg.to_owned(),
            branch: "main".to_owned(),
            local: None,
            staging: STAGING_BUILDSPEC.to_owned(),
            production: PRODUCTION_BUILDSPEC.to_owned(),
        });
    }
    let dir = std::fs::canonicalize(path).map_err(|e| format!("{arg}: {e}"))?;
    if git(&dir, &["rev-parse", "--git-dir"]).is_none() {
        return Err(format!(
            "{arg} is not a git repository; give a repository's path or URL (git init it first)"
        ));
    }
    let branch = git(&dir, &["symbolic-ref", "--short", "HEAD"]).unwrap_or_else(|| "main".into());
    let config_dir = std::fs::canonicalize(config_dir).unwrap_or(config_dir.to_path_buf());
    // Relative to the config file, as local mode reads it.
    let source = dir
        .strip_prefix(&config_dir)
        .map_or_else(|_| dir.display().to_string(), |p| p.display().to_string());
    Ok(Repo {
        name: component_name(&dir.display().to_string()),
        source: if source.is_empty() {
            ".".into()
        } else {
            source
        },
        branch,
        staging: committed(&dir, &STAGING_AT).unwrap_or_else(|| STAGING_BUILDSPEC.into()),
        production: committed(&dir, &PRODUCTION_AT).unwrap_or_else(|| PRODUCTION_BUILDSPEC.into()),
        local: Some(dir),
    })
}

/// The git repositories directly under `dir`.
fn repos_under(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".git").exists())
        .map(|p| p.display().to_string())
        .collect();
    found.sort();
    found
}

fn config_text(repos: &[Repo]) -> String {
    let mut s = String::from(
        r#"# release-train.toml, written by `trainctl init`. Check it with `trainctl validate`,
# see the coming weeks with `trainctl plan`, run a week in seconds with `trainctl simulate`.
# Every field is described in release-train's README ("Configuration").

[train]
name = "weekly"                    # part of every train id, e.g. weekly-2026-W48
time_zone = "UTC"                  # an IANA zone, e.g. "Europe/Berlin"; schedules are in it
cut = "cron(0 9 ? * MON *)"        # Monday 09:00: staging builds of each branch head
promote = "cron(0 9 ? * WED *)"    # Wednesday 09:00: production builds of what soaked
soak = "24h"                       # from the last green staging build
on_component_failure = "halt"      # or "exclude": ship the others without the failed one
# approvals = 1                    # approvals needed before promotion
# alarms = ["checkout-5xx"]        # CloudWatch alarms that hold the train (on AWS)

# [[freeze]]
# name = "weekend"
# starts = "cron(0 17 ? * FRI *)"
# lasts = "64h"
"#,
    );
    for r in repos {
        let _ = write!(
            s,
            "\n[[component]]\nname = {:?}\nsource = {:?}\nbranch = {:?}\nstaging = {{ buildspec = {:?} }}      # on AWS add project = \"...\"\nproduction = {{ buildspec = {:?} }}\n# wave = 1                         # production (and staging) order: wave 1 first\n",
            r.name, r.source, r.branch, r.staging, r.production
        );
    }
    s
}

pub fn run(args: &[String], config: &Path, force: bool) -> ExitCode {
    if config.exists() && !force {
        eprintln!(
            "{} exists; edit it, or pass --force to write it anew",
            config.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let config_dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let args: Vec<String> = if args.is_empty() {
        repos_under(Path::new("."))
    } else {
        args.to_vec()
    };
    if args.is_empty() {
        eprintln!(
            "no git repositories under the current directory; name them: trainctl init ../api ../web (paths or git URLs)"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let mut repos = Vec::new();
    for arg in &args {
        match repo(arg, config_dir) {
            Ok(r) => repos.push(r),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &mut repos {
        let base = r.name.clone();
        let mut n = 2;
        while !seen.insert(r.name.clone()) {
            r.name = format!("{base}-{n}");
            n += 1;
        }
        if let Err(e) = ComponentName::parse(&r.name) {
            eprintln!(
                "{}: {e}; rename the component in the written file",
                r.source
            );
        }
    }
    let text = config_text(&repos);
    if let Err(e) = Config::parse(&text) {
        eprintln!("trainctl init wrote a configuration that does not validate (a bug):\n{e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(config, &text) {
        eprintln!("cannot write {}: {e}", config.display());
        return ExitCode::FAILURE;
    }
    let n = repos.len();
    println!(
        "wrote {} with {n} component{}",
        config.display(),
        if n == 1 { "" } else { "s" }
    );
    for r in &repos {
        if let Err(e) = starters(r) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "next: trainctl validate -c {0}, trainctl plan -c {0}, trainctl simulate -c {0}",
        config.display()
    );
    ExitCode::SUCCESS
}

/// Writes the starter buildspecs `r` lacks and says what to commit.
fn starters(r: &Repo) -> Result<(), String> {
    let Some(dir) = &r.local else {
        println!(
            "  {}: {} (a URL: add its buildspecs in the repository)",
            r.name, r.source
        );
        return Ok(());
    };
    let mut written = Vec::new();
    let mut uncommitted = Vec::new();
    for (file, text) in [(&r.staging, STAGING), (&r.production, PRODUCTION)] {
        let path = dir.join(file);
        if !path.exists() {
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written.push(file.as_str());
        }
        if committed(dir, &[file.as_str()]).is_none() && !uncommitted.contains(&file.as_str()) {
            uncommitted.push(file.as_str());
        }
    }
    let wrote = if written.is_empty() {
        String::new()
    } else {
        format!(": wrote starter {}", written.join(" and "))
    };
    println!("  {}: {} on {}{wrote}", r.name, r.source, r.branch);
    if !uncommitted.is_empty() {
        println!(
            "    builds run what is committed: git -C {0} add {1} && git -C {0} commit -m \"release-train buildspecs\"",
            dir.display(),
            uncommitted.join(" ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_buildspecs_are_buildspecs() {
        for text in [STAGING, PRODUCTION] {
            train_local::buildspec::Buildspec::parse(text).unwrap();
        }
    }

    #[test]
    fn component_names_come_from_the_last_part_of_a_path_or_url() {
        assert_eq!(
            component_name("git@github.com:acme/Payments_API.git"),
            "payments-api"
        );
        assert_eq!(component_name("https://github.com/acme/web/"), "web");
        assert_eq!(component_name("/home/me/src/db"), "db");
        assert_eq!(component_name("___"), "service");
    }
}
