//! What AWS and git accept as names: alarm and project names, sources and branches, each
//! check quoting the document that states the rule.

/// A CloudWatch alarm name: "Length Constraints: Minimum length of 1. Maximum length of
/// 255" and "The name must contain only UTF-8 characters, and can't contain ASCII control
/// characters" (`PutMetricAlarm`, Amazon CloudWatch API Reference,
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html>).
/// CloudWatch allows `*`, `?` and `,`, but the deployment cannot: the names become IAM
/// resources (`alarm:NAME`, where `*` and `?` are wildcards) and one comma-separated template
/// parameter.
pub fn cloudwatch_alarm_name(name: &str) -> Result<(), String> {
    let example = "e.g. alarms = [\"checkout-5xx\"]";
    if name.is_empty() || name.chars().count() > 255 {
        return Err(format!(
            "{name:?} is not a CloudWatch alarm name: it must be 1 to 255 characters; {example}"
        ));
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(format!(
            "{name:?} contains a control character, which CloudWatch alarm names cannot; {example}"
        ));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '*' | '?' | ',')) {
        return Err(format!(
            "{name:?} contains {c:?}: name each gating alarm exactly (a wildcard would widen the functions' IAM policy, a comma splits the template parameter); {example}"
        ));
    }
    if name.trim() != name {
        return Err(format!(
            "{name:?} starts or ends with a space; write the alarm's name exactly; {example}"
        ));
    }
    Ok(())
}

/// A CodeBuild project name: "Length Constraints: Minimum length of 2. Maximum length of
/// 255. Pattern: `[A-Za-z0-9][A-Za-z0-9\-_]{1,254}`" (`CreateProject`, AWS CodeBuild API
/// Reference, <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html>).
/// So no wildcard can pass, and `trainctl infra-params` never turns a name into IAM on
/// `project/*`.
pub fn codebuild_project_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let len = name.len();
    if first_ok && rest_ok && (2..=255).contains(&len) {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a CodeBuild project name: 2 to 255 letters, digits, '-' or '_', starting with a letter or digit (no wildcards); write the project's exact name, e.g. project = \"api-staging\""
    ))
}

/// A source the train can pin to a commit. An S3 source's `sourceVersion` is an object
/// version, not a commit ("For an Amazon S3 source provider, use the version ID of the
/// object that represents the build input ZIP file": Source version sample with AWS
/// CodeBuild, <https://docs.aws.amazon.com/codebuild/latest/userguide/sample-source-version.html>),
/// so production could not build exactly what staging built.
pub(super) fn pinnable_source(source: &str) -> Result<(), String> {
    let lower = source.trim().to_ascii_lowercase();
    if lower.starts_with("s3://") || lower.starts_with("arn:aws:s3:") {
        return Err(format!(
            "{source:?} is an S3 source, which CodeBuild versions by object, not by commit, so the train cannot pin what staging built; use a Git source (CodeCommit, GitHub, Bitbucket or GitLab URL)"
        ));
    }
    Ok(())
}

pub(super) fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with('-')
        && !b.contains("..")
        && !b.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        })
}
