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
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(spec.script(&env))
        .current_dir(repo())
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
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
