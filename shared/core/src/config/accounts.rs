//! Accounts per stage: `[accounts]` names, by stage, the IAM role the functions assume for
//! that stage's CodeBuild calls and alarm reads, and a component's `staging`/`production`
//! may name its own. Absent, everything is in the train's own account.
//!
//! ```toml
//! [accounts]
//! staging = { role = "arn:aws:iam::111111111111:role/release-train-builds" }
//! production = { role = "arn:aws:iam::222222222222:role/release-train-builds" }
//!
//! [train]
//! alarms = ["production:checkout-5xx"]   # checkout-5xx in the production account
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::train::Stage;

/// An IAM role's ARN, `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`:
/// "`arn:aws:iam::account:role/role-name-with-path`" (IAM identifiers, IAM User Guide,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html>), with a
/// 12-digit account id and a role name of at most 64 of `[\w+=,.@-]` (`CreateRole`, IAM API
/// Reference, <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html>).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleArn(String);

impl RoleArn {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let example = "e.g. role = \"arn:aws:iam::111111111111:role/release-train-builds\"";
        let bad = |why: &str| Err(format!("{raw:?} is not an IAM role ARN: {why}; {example}"));
        let mut parts = raw.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return bad("it reads arn:aws:iam::ACCOUNT:role/NAME");
        };
        if !partition.starts_with("aws") {
            return bad("the partition is aws, aws-cn or aws-us-gov");
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return bad("the account id is 12 digits");
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return bad("the resource is role/NAME");
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return bad("the role name is 1 to 64 letters, digits or _+=,.@-");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The account the role lives in.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The role's name, without its path.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RoleArn {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<RoleArn> for String {
    fn from(role: RoleArn) -> Self {
        role.0
    }
}

/// The role each stage's calls go through, where it is not the train's own account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<RoleArn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<RoleArn>,
}

impl Accounts {
    pub fn role(&self, stage: Stage) -> Option<&RoleArn> {
        match stage {
            Stage::Staging => self.staging.as_ref(),
            Stage::Production => self.production.as_ref(),
        }
    }
}

/// Where an alarm name points: `production:checkout-5xx` is `checkout-5xx` in the production
/// account; a name without a stage prefix is in the train's own account. The prefix counts
/// only for a stage `[accounts]` names (CloudWatch allows colons in alarm names, and the
/// configuration refuses a `staging:`/`production:` name whose stage has no account, so
/// nothing is read from the wrong account by accident).
pub fn alarm_stage(name: &str) -> Option<(Stage, &str)> {
    if let Some(rest) = name.strip_prefix("staging:") {
        Some((Stage::Staging, rest))
    } else {
        name.strip_prefix("production:")
            .map(|rest| (Stage::Production, rest))
    }
}

/// A stage's target with its account: the component's own role, else the stage's.
pub(super) fn in_account(
    target: &super::StageTarget,
    stage_role: Option<&RoleArn>,
) -> super::StageTarget {
    super::StageTarget {
        role: target.role.clone().or_else(|| stage_role.cloned()),
        ..target.clone()
    }
}

impl super::Checker<'_> {
    /// Each `staging:`/`production:` alarm names a stage `[accounts]` defines, and a name
    /// after the prefix.
    pub(super) fn alarm_accounts(&mut self, raw: &super::RawConfig, accounts: &Accounts) {
        let train = raw
            .train
            .get_ref()
            .alarms
            .iter()
            .map(|a| (a, "train.alarms".to_owned()));
        let waves = raw.component.iter().flat_map(|c| {
            let c = c.get_ref();
            let field = format!("component {:?}.wave_alarms", c.name.get_ref());
            c.wave_alarms.iter().map(move |a| (a, field.clone()))
        });
        for (alarm, field) in train.chain(waves) {
            let Some((stage, name)) = alarm_stage(alarm.get_ref()) else {
                continue;
            };
            if accounts.role(stage).is_none() {
                self.add(
                    &alarm.span(),
                    field,
                    format!(
                        "{:?} reads the alarm in the {stage} account, which [accounts] does not name; add [accounts] {stage} = {{ role = \"arn:aws:iam::ACCOUNT:role/NAME\" }}, or drop the \"{stage}:\" prefix for an alarm in the train's own account",
                        alarm.get_ref()
                    ),
                );
            } else if name.is_empty() {
                self.add(
                    &alarm.span(),
                    field,
                    format!(
                        "{:?} names no alarm after the prefix; write e.g. \"{stage}:checkout-5xx\"",
                        alarm.get_ref()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account_and_role() {
        let r = RoleArn::parse("arn:aws:iam::111111111111:role/ci/release-train-builds").unwrap();
        assert_eq!(r.account(), "111111111111");
        assert_eq!(r.name(), "release-train-builds");
        for bad in [
            "release-train-builds",
            "arn:aws:iam::11111111111:role/x",
            "arn:aws:iam::111111111111:user/x",
            "arn:aws:sts::111111111111:assumed-role/x/y",
            "arn:aws:iam:us-east-1:111111111111:role/x",
            "arn:aws:iam::111111111111:role/",
            "arn:aws:iam::111111111111:role/has space",
            &format!("arn:aws:iam::111111111111:role/{}", "x".repeat(65)),
        ] {
            let e = RoleArn::parse(bad).unwrap_err();
            assert!(e.contains("e.g. role = \"arn:aws:iam::"), "{bad}: {e}");
        }
    }

    #[test]
    fn only_a_stage_prefix_points_at_another_account() {
        assert_eq!(
            alarm_stage("production:checkout-5xx"),
            Some((Stage::Production, "checkout-5xx"))
        );
        assert_eq!(alarm_stage("staging:a:b"), Some((Stage::Staging, "a:b")));
        assert_eq!(alarm_stage("checkout-5xx"), None);
        assert_eq!(alarm_stage("prod:checkout-5xx"), None);
    }

    const ACCOUNTS: &str = r#"
[accounts]
staging = { role = "arn:aws:iam::111111111111:role/release-train-builds" }
production = { role = "arn:aws:iam::222222222222:role/release-train-builds" }
"#;

    fn with_accounts(extra: &str) -> crate::Config {
        let text = format!("{ACCOUNTS}{}", crate::config::tests::GOOD)
            .replace("staging = { project = \"web-staging\" }", extra);
        crate::Config::parse(&text).unwrap()
    }

    #[test]
    fn a_stage_builds_in_its_account_unless_the_component_names_another() {
        let c = with_accounts(
            "staging = { project = \"web-staging\", role = \"arn:aws:iam::333333333333:role/sandbox\" }",
        );
        let web = &c.components[1];
        assert_eq!(web.staging.role.as_ref().unwrap().account(), "333333333333");
        assert_eq!(
            web.production.role.as_ref().unwrap().account(),
            "222222222222"
        );
        let api = &c.components[0];
        assert_eq!(api.staging.role.as_ref().unwrap().account(), "111111111111");
        let roles: Vec<&str> = c.member_roles().iter().map(|r| r.account()).collect();
        assert_eq!(roles, ["111111111111", "222222222222", "333333333333"]);
    }

    #[test]
    fn without_accounts_everything_is_the_train_s_own() {
        let c = crate::Config::parse(crate::config::tests::GOOD).unwrap();
        assert!(c.member_roles().is_empty());
        assert!(
            c.components
                .iter()
                .all(|c| c.staging.role.is_none() && c.production.role.is_none())
        );
    }

    #[test]
    fn the_template_gets_the_own_account_s_projects_and_the_member_roles() {
        let text = format!("{ACCOUNTS}{}", crate::config::tests::GOOD)
            .replace("staging = { buildspec = \"buildspec-staging.yml\" }", "staging = { project = \"api-staging\" }")
            .replace("production = { buildspec = \"buildspec-production.yml\" }", "production = { project = \"api-production\", role = \"\" }")
            .replace(", role = \"\"", "")
            .replace("soak = \"48h\"", "soak = \"48h\"\nalarms = [\"own-5xx\", \"production:checkout-5xx\", \"staging:smoke\"]");
        let c = crate::Config::parse(&text).unwrap();
        let p: std::collections::BTreeMap<_, _> =
            c.template_parameters().unwrap().into_iter().collect();
        assert_eq!(
            p["BuildProjects"], "",
            "every project is in a member account"
        );
        assert_eq!(p["GatingAlarms"], "own-5xx");
        assert_eq!(
            p["MemberRoles"],
            "arn:aws:iam::111111111111:role/release-train-builds,arn:aws:iam::222222222222:role/release-train-builds"
        );
        assert_eq!(p["MemberAccounts"], "111111111111,222222222222");
        let prod: std::collections::BTreeMap<_, _> = c
            .member_parameters("production")
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(prod["RoleName"], "release-train-builds");
        assert_eq!(prod["BuildProjects"], "api-production,web-production");
        assert_eq!(prod["GatingAlarms"], "checkout-5xx");
        let staging: std::collections::BTreeMap<_, _> = c
            .member_parameters("111111111111")
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(staging["BuildProjects"], "api-staging,web-staging");
        assert_eq!(staging["GatingAlarms"], "smoke");
        let e = c.member_parameters("999999999999").unwrap_err();
        assert!(e.contains("111111111111, 222222222222"), "{e}");
    }

    #[test]
    fn an_alarm_for_an_account_that_is_not_configured_names_the_line_and_the_fix() {
        let text = crate::config::tests::GOOD.replace(
            "soak = \"48h\"",
            "soak = \"48h\"\nalarms = [\"production:checkout-5xx\"]",
        );
        let issues = crate::Config::parse(&text).unwrap_err().issues;
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].line, 8);
        assert_eq!(issues[0].field, "train.alarms");
        assert!(
            issues[0]
                .message
                .contains("add [accounts] production = { role ="),
            "{}",
            issues[0]
        );
        let bad_role =
            format!("{ACCOUNTS}{}", crate::config::tests::GOOD).replace("222222222222", "2222");
        let issues = crate::Config::parse(&bad_role).unwrap_err().issues;
        assert_eq!(issues[0].line, 4, "{issues:?}");
        assert!(
            issues[0].message.contains("the account id is 12 digits"),
            "{}",
            issues[0]
        );
    }
}
