//! The buildspecs in `buildspecs/`: each is a valid version 0.2 buildspec whose commands
//! are valid bash and which reads the variables the train passes; the service's own
//! buildspec's test phase really runs through the local builder's script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use train_local::buildspec::Buildspec;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn buildspecs() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![repo().join("buildspecs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_buildspec_is_a_valid_0_2_buildspec_of_valid_bash_that_reads_the_train_variables() {
    let all = buildspecs();
    let kinds: Vec<String> = all
        .iter()
        .map(|p| {
            p.strip_prefix(repo().join("buildspecs"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "release-train.yml",
        "serverless-backend/staging.yml",
        "serverless-backend/production.yml",
        "web-app/staging.yml",
        "web-app/production.yml",
        "android-app/staging.yml",
        "android-app/production.yml",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} is missing: {kinds:?}"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    for path in &all {
        let text = std::fs::read_to_string(path).unwrap();
        let spec = Buildspec::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!spec.phases.is_empty(), "{}: no phases", path.display());
        for (i, command) in spec
            .phases
            .iter()
            .flat_map(|p| p.commands.iter().chain(&p.finally))
            .enumerate()
        {
            let file = scratch.path().join(format!("cmd{i}.sh"));
            std::fs::write(&file, command).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}: not valid bash: {command}\n{}",
                path.display(),
                String::from_utf8_lossy(&check.stderr)
            );
        }
        assert!(
            text.contains("RELEASE_TRAIN_ID"),
            "{}: never reads RELEASE_TRAIN_ID",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        if name == "production.yml" {
            // A production build ships the soaked commit or nothing.
            assert!(
                text.contains(r#"test "$(git rev-parse HEAD)" = "$RELEASE_COMMIT""#),
                "{}: does not refuse a commit other than RELEASE_COMMIT",
                path.display()
            );
        }
        if name == "staging.yml" {
            assert!(
                text.contains("PREVIOUS_RELEASE_COMMIT"),
                "{}: no changelog",
                path.display()
            );
            assert!(
                text.contains("exported-variables:\n    - OLDEST_COMMIT_AT")
                    && text.contains("export OLDEST_COMMIT_AT="),
                "{}: does not export OLDEST_COMMIT_AT (no lead time on AWS)",
                path.display()
            );
        }
    }
}

/// The service's own buildspec, its test phase (`pre_build`) only, through the script the
/// local builder runs builds with. The scope is the unit tests: the whole test command
/// would run this test again.
#[test]
fn the_service_buildspec_test_phase_runs_through_the_local_builder() {
    let text = std::fs::read_to_string(repo().join("buildspecs/release-train.yml")).unwrap();
    let mut spec = Buildspec::parse(&text).unwrap();
    spec.phases.retain(|p| p.name == "pre_build");
    assert_eq!(spec.phases.len(), 1, "the buildspec has a test phase");
    let env: BTreeMap<String, String> = [
        ("RELEASE_TRAIN_ID", "weekly-2026-W48"),
        ("RELEASE_STAGE", "staging"),
        ("RELEASE_COMMIT", ""),
        ("TEST_SCOPE", "unit"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(spec.script(&env))
        .current_dir(repo())
        .env_remove("RUSTFLAGS");
    // What cargo sets for this test binary is not the environment a build runs in, and
    // build scripts watch some of it (ring reruns on a changed CARGO_MANIFEST_DIR): inherited,
    // the nested cargo would rebuild ring and all that depends on it in the shared target
    // directory, and the next build of the tests would rebuild them back.
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && (key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    key,
                    "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
                ))
        {
            bash.env_remove(key);
        }
    }
    let output = bash.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the test phase failed:\n{log}");
    assert!(
        log.contains("Phase complete: PRE_BUILD State: SUCCEEDED"),
        "{log}"
    );
    assert!(log.contains("test result: ok"), "unit tests ran: {log}");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.invalid"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Each reference staging buildspec's `post_build` (changelog and lead time) in a clone of
/// depth 1, as CodeBuild makes one for a project whose `gitCloneDepth` is 1 (the console's
/// default for a new project, "Source" settings,
/// <https://docs.aws.amazon.com/codebuild/latest/userguide/create-project-console.html)>: the
/// buildspec fetches the history back to the previous release's commit, so the changelog
/// lists exactly the new commits and `OLDEST_COMMIT_AT` is set; a previous commit that is
/// not in the history fails the build with the setting to change, instead of an empty
/// changelog.
#[test]
fn the_changelog_deepens_a_shallow_clone_to_the_previous_release_or_fails_loudly() {
    let root = tempfile::tempdir().unwrap();
    let upstream = root.path().join("upstream");
    std::fs::create_dir_all(&upstream).unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    let mut commits = Vec::new();
    for subject in ["released last week", "new one", "new two"] {
        std::fs::write(upstream.join("f"), subject).unwrap();
        git(&upstream, &["add", "f"]);
        git(&upstream, &["commit", "-q", "-m", subject]);
        commits.push(git(&upstream, &["rev-parse", "HEAD"]));
    }
    for kind in ["web-app", "serverless-backend", "android-app"] {
        let text =
            std::fs::read_to_string(repo().join(format!("buildspecs/{kind}/staging.yml"))).unwrap();
        let mut spec = Buildspec::parse(&text).unwrap();
        spec.phases.retain(|p| p.name == "post_build");
        spec.phases[0]
            .commands
            .push(r#"echo "oldest=$OLDEST_COMMIT_AT""#.to_owned());
        let run = |previous: &str| {
            let clone = root.path().join(format!("{kind}-{}", &previous[..7]));
            let url = format!("file://{}", upstream.display());
            git(
                root.path(),
                &["clone", "-q", "--depth", "1", &url, clone.to_str().unwrap()],
            );
            assert_eq!(
                git(&clone, &["rev-parse", "--is-shallow-repository"]),
                "true"
            );
            let env = BTreeMap::from([
                ("RELEASE_TRAIN_ID".to_owned(), "weekly-2026-W49".to_owned()),
                ("PREVIOUS_RELEASE_COMMIT".to_owned(), previous.to_owned()),
                ("GIT_CONFIG_COUNT".to_owned(), "1".to_owned()),
                (
                    "GIT_CONFIG_KEY_0".to_owned(),
                    "protocol.file.allow".to_owned(),
                ),
                ("GIT_CONFIG_VALUE_0".to_owned(), "always".to_owned()),
            ]);
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(spec.script(&env))
                .current_dir(&clone)
                .output()
                .unwrap();
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let changelog =
                std::fs::read_to_string(clone.join("changelog.txt")).unwrap_or_default();
            (out.status.success(), log, changelog)
        };

        let (ok, log, changelog) = run(&commits[0]);
        assert!(ok, "{kind}: {log}");
        let subjects: Vec<&str> = changelog
            .lines()
            .map(|l| l.split_once(' ').unwrap().1)
            .collect();
        assert_eq!(subjects, ["new two", "new one"], "{kind}: {log}");
        let oldest = log
            .lines()
            .find_map(|l| l.strip_prefix("oldest="))
            .unwrap_or_default();
        assert!(
            oldest.parse::<i64>().is_ok_and(|t| t > 1_500_000_000),
            "{kind}: OLDEST_COMMIT_AT={oldest:?}\n{log}"
        );

        let unknown = "0123456789abcdef0123456789abcdef01234567";
        let (ok, log, _) = run(unknown);
        assert!(
            !ok,
            "{kind}: an unknown previous commit must fail the build: {log}"
        );
        assert!(
            log.contains("is not in this clone's history") && log.contains("gitCloneDepth"),
            "{kind}: {log}"
        );
        assert!(
            log.contains("Phase complete: POST_BUILD State: FAILED"),
            "{kind}: {log}"
        );
    }
}
