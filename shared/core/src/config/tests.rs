//! The configuration parser's tests: every mistake names its line, its field and the fix.

use super::*;

pub(crate) const GOOD: &str = r#"
[train]
name = "weekly"
time_zone = "Europe/Berlin"
cut = "cron(0 9 ? * MON *)"
promote = "cron(0 9 ? * WED *)"
soak = "48h"

[[freeze]]
name = "weekend"
starts = "cron(0 17 ? * FRI *)"
lasts = "64h"

[[freeze]]
name = "year-end"
from = "2026-12-21T00:00"
until = "2027-01-04T09:00"

[[component]]
name = "api"
source = "repos/api"
staging = { buildspec = "buildspec-staging.yml" }
production = { buildspec = "buildspec-production.yml" }

[[component]]
name = "web"
source = "repos/web"
branch = "release"
staging = { project = "web-staging" }
production = { project = "web-production", buildspec = "prod.yml" }
wave = 2
"#;

fn issues(text: &str) -> Vec<ConfigIssue> {
    Config::parse(text).unwrap_err().issues
}

#[test]
fn a_good_file_parses_whole() {
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.train.name.as_str(), "weekly");
    assert_eq!(c.train.soak.to_string(), "48h");
    assert_eq!(c.train.on_component_failure, FailurePolicy::Halt);
    assert_eq!(c.train.id_style, IdStyle::Week);
    assert_eq!(c.components.len(), 2);
    assert_eq!(c.components[0].branch, "main");
    assert_eq!(c.components[1].wave, 2);
    assert_eq!(c.freezes.0.len(), 2);
    let cut = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    assert_eq!(c.train.train_id(cut).as_str(), "weekly-2026-W48");
}

#[test]
fn id_style_follows_the_cut_cadence() {
    let daily = GOOD.replace("cron(0 9 ? * MON *)", "cron(0 2 * * ? *)");
    let c = Config::parse(&daily).unwrap();
    assert_eq!(c.train.id_style, IdStyle::Day);
    let twice = GOOD.replace("cron(0 9 ? * MON *)", "cron(0 9,15 ? * MON-FRI *)");
    let c = Config::parse(&twice).unwrap();
    assert_eq!(c.train.id_style, IdStyle::Minute);
    let cut = Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap();
    assert_eq!(c.train.train_id(cut).as_str(), "weekly-2026-11-23T1500");
}

fn one(text: &str) -> ConfigIssue {
    let all = issues(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

#[test]
fn each_kind_of_mistake_names_its_line_field_and_fix() {
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "time_zone = \"Europe/Berlin\"",
            "time_zone = \"Europe/Berln\"",
            4,
            "train.time_zone",
            "IANA name",
        ),
        (
            "cut = \"cron(0 9 ? * MON *)\"",
            "cut = \"cron(0 9 * * MON *)\"",
            5,
            "train.cut",
            "'?' in one of them",
        ),
        (
            "soak = \"48h\"",
            "soak = \"two days\"",
            7,
            "train.soak",
            "\"48h\"",
        ),
        (
            "name = \"weekly\"",
            "name = \"Weekly Train\"",
            3,
            "train.name",
            "lowercase",
        ),
        (
            "lasts = \"64h\"",
            "lasts = \"forever\"",
            12,
            "freeze \"weekend\".lasts",
            "duration",
        ),
        (
            "until = \"2027-01-04T09:00\"",
            "until = \"2026-01-04T09:00\"",
            17,
            "freeze \"year-end\".until",
            "later than",
        ),
        (
            "name = \"web\"",
            "name = \"api\"",
            26,
            "component \"api\".name",
            "defined twice (first at line 20)",
        ),
        (
            "staging = { project = \"web-staging\" }",
            "staging = { }",
            29,
            "component \"web\".staging",
            "set `buildspec`",
        ),
        (
            "wave = 2",
            "wave = 0",
            31,
            "component \"web\".wave",
            "1 to 100",
        ),
        (
            "branch = \"release\"",
            "branch = \"rel ease\"",
            28,
            "component \"web\".branch",
            "branch name",
        ),
    ];
    for (from, to, line, field, hint) in cases {
        assert!(GOOD.contains(from), "fixture lacks {from}");
        let issue = one(&GOOD.replace(from, to));
        assert_eq!(
            (issue.line, issue.field.as_str()),
            (*line, *field),
            "{to}: {issue}"
        );
        assert!(
            issue.message.contains(hint),
            "{to}: {issue} should mention {hint:?}"
        );
    }
}

#[test]
fn syntax_unknown_and_missing_fields_name_the_line() {
    let issue = one(&GOOD.replace("soak = \"48h\"", "soak = 48h"));
    assert_eq!((issue.line, issue.field.as_str()), (7, "syntax"));

    let issue = one(&GOOD.replace("soak = \"48h\"", "soak = \"48h\"\nsoke = \"1h\""));
    assert_eq!(issue.line, 8);
    assert!(issue.message.contains("unknown field `soke`"), "{issue}");

    let issue = one(&GOOD.replace("soak = \"48h\"\n", ""));
    assert!(issue.message.contains("missing field `soak`"), "{issue}");

    let issue = one(&GOOD.replace("\nsource = \"repos/api\"", ""));
    assert!(issue.message.contains("missing field `source`"), "{issue}");
    assert_eq!(issue.line, 19);

    let issue = one(&GOOD.replace(
        "soak = \"48h\"",
        "soak = \"48h\"\non_component_failure = \"ignore\"",
    ));
    assert!(
        issue.message.contains("halt") && issue.message.contains("exclude"),
        "{issue}"
    );

    let issue = one(&GOOD.replace("soak = \"48h\"", "soak = \"48h\"\napprovals = 11"));
    assert_eq!(issue.field, "train.approvals");
    assert!(issue.message.contains("0 to 10"), "{issue}");
    let two = Config::parse(&GOOD.replace("soak = \"48h\"", "soak = \"48h\"\napprovals = 2"));
    assert_eq!(two.unwrap().train.approvals, 2);
}

#[test]
fn several_mistakes_are_all_reported_in_line_order() {
    let text = GOOD
        .replace("soak = \"48h\"", "soak = \"x\"")
        .replace("wave = 2", "wave = -1");
    let all = issues(&text);
    assert_eq!(all.iter().map(|i| i.line).collect::<Vec<_>>(), [7, 31]);
    let rendered = Config::parse(&text)
        .unwrap_err()
        .render("release-train.toml");
    assert!(
        rendered.starts_with("release-train.toml:7: train.soak: "),
        "{rendered}"
    );
}

#[test]
fn freeze_needs_one_shape() {
    let text = GOOD.replace("lasts = \"64h\"", "lasts = \"64h\"\nuntil = \"2027-01-01\"");
    let issue = one(&text);
    assert_eq!(issue.field, "freeze \"weekend\"");
    assert!(
        issue.message.contains("either `starts` and `lasts`"),
        "{issue}"
    );
}

#[test]
fn no_components_is_an_error() {
    let text = GOOD.split("[[component]]").next().unwrap();
    assert!(one(text).message.contains("no components"));
}

// CreateProject, AWS CodeBuild API Reference: name "Minimum length of 2. Maximum length
// of 255. Pattern: [A-Za-z0-9][A-Za-z0-9\-_]{1,254}"
// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html).
#[test]
fn project_names_that_codebuild_would_refuse_name_the_line_and_the_fix() {
    for bad in [
        "*",
        "prod-*",
        "a",
        "-api",
        "api staging",
        "api.staging",
        "api,web",
    ] {
        let text = GOOD.replace("project = \"web-staging\"", &format!("project = {bad:?}"));
        let issue = one(&text);
        assert_eq!(
            (issue.line, issue.field.as_str()),
            (29, "component \"web\".staging.project"),
            "{bad}: {issue}"
        );
        assert!(
            issue.message.contains("not a CodeBuild project name"),
            "{issue}"
        );
        assert!(issue.message.contains("e.g. project ="), "{issue}");
    }
    for good in ["ab", "web_staging-2", &"x".repeat(255)] {
        assert!(codebuild_project_name(good).is_ok(), "{good}");
    }
    assert!(codebuild_project_name(&"x".repeat(256)).is_err());
}

// PutMetricAlarm, Amazon CloudWatch API Reference: AlarmName "Minimum length of 1.
// Maximum length of 255"; "can't contain ASCII control characters"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
#[test]
fn alarm_names_that_break_cloudwatch_or_iam_rules_name_the_line_and_the_fix() {
    let with = |alarms: &str| {
        GOOD.replace(
            "soak = \"48h\"",
            &format!("soak = \"48h\"\nalarms = {alarms}"),
        )
    };
    for bad in [
        r#"["*"]"#,
        r#"["checkout-*"]"#,
        r#"["a?b"]"#,
        r#"["a,b"]"#,
        r#"[""]"#,
        r#"["tab\there"]"#,
        r#"[" padded"]"#,
    ] {
        let issue = one(&with(bad));
        assert_eq!(
            (issue.line, issue.field.as_str()),
            (8, "train.alarms"),
            "{bad}: {issue}"
        );
        assert!(
            issue.message.contains("alarms = [\"checkout-5xx\"]"),
            "{issue}"
        );
    }
    let long = format!("[{:?}]", "x".repeat(256));
    assert!(one(&with(&long)).message.contains("1 to 255"));
    let ok = Config::parse(&with(r#"["checkout 5xx (p99) / EU", "ünïcode-alarm"]"#)).unwrap();
    assert_eq!(ok.train.alarms.len(), 2);
}

#[test]
fn an_s3_source_is_rejected_because_it_cannot_be_pinned_to_a_commit() {
    let text = GOOD.replace("source = \"repos/web\"", "source = \"s3://bucket/web.zip\"");
    let issue = one(&text);
    assert_eq!(
        (issue.line, issue.field.as_str()),
        (27, "component \"web\".source")
    );
    assert!(issue.message.contains("use a Git source"), "{issue}");
}
