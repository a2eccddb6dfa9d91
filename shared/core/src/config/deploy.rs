//! What the deployment templates take from `release-train.toml`: the train stack's
//! parameters (`trainctl infra-params`) and each member account's (`trainctl infra-params
//! --member`), so schedules, projects, alarms and roles are written once.

use super::Config;
use super::accounts::{RoleArn, alarm_stage};
use crate::train::Stage;

/// The train stack's outputs a member stack takes, and the member parameter each becomes
/// (`trainctl infra-params --member STAGE --outputs FILE` reads them).
pub const MEMBER_FROM_TRAIN_STACK: [(&str, &str); 4] = [
    ("TrainAccountId", "TrainAccountId"),
    ("FunctionRoles", "TrainFunctionRoles"),
    ("ExternalId", "ExternalId"),
    ("TrainBusArn", "TrainBusArn"),
];

impl Config {
    /// The deployment template's parameters that come from this file (what `trainctl
    /// infra-params` prints), so schedules and build projects are written once. Every stage
    /// must name its CodeBuild project: on AWS that is where it builds. `BuildProjects` and
    /// `GatingAlarms` are the train account's own; those in member accounts are granted by
    /// each member's stack ([`Config::member_parameters`]), reached through `MemberRoles`.
    pub fn template_parameters(&self) -> Result<Vec<(&'static str, String)>, String> {
        let projects = self.projects_in(None)?;
        let roles = self.member_roles();
        let mut accounts: Vec<&str> = roles.iter().map(|r| r.account()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let own_alarms: Vec<&str> = self
            .watched_alarms()
            .into_iter()
            .filter(|a| alarm_stage(a).is_none())
            .collect();
        Ok(vec![
            ("CutSchedule", self.train.cut.expression().to_string()),
            (
                "PromoteSchedule",
                self.train.promote.expression().to_string(),
            ),
            ("ScheduleTimeZone", self.train.zone.name().to_owned()),
            ("BuildProjects", projects.join(",")),
            ("GatingAlarms", own_alarms.join(",")),
            (
                "MemberRoles",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("MemberAccounts", accounts.join(",")),
        ])
    }

    /// Every role a stage builds or reads alarms through, once each.
    pub fn member_roles(&self) -> Vec<&RoleArn> {
        let mut roles: Vec<&RoleArn> = self
            .components
            .iter()
            .flat_map(|c| [c.staging.role.as_ref(), c.production.role.as_ref()])
            .chain([
                self.accounts.staging.as_ref(),
                self.accounts.production.as_ref(),
            ])
            .flatten()
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    /// The CodeBuild projects in `account` (`None`: the train's own), once each; an error
    /// names the stages that have no project.
    fn projects_in(&self, account: Option<&str>) -> Result<Vec<&str>, String> {
        let mut projects: Vec<&str> = Vec::new();
        let mut missing = Vec::new();
        for c in &self.components {
            for (stage, target) in [("staging", &c.staging), ("production", &c.production)] {
                if target.role.as_ref().map(RoleArn::account) != account {
                    continue;
                }
                match target.project.as_deref() {
                    Some(p) if p.contains(',') || p.contains(char::is_whitespace) => {
                        return Err(format!(
                            "component {}: {stage}.project {p:?} is not a CodeBuild project name (no commas or spaces)",
                            c.name
                        ));
                    }
                    Some(p) if !projects.contains(&p) => projects.push(p),
                    Some(_) => {}
                    None => missing.push(format!("{}.{stage}", c.name)),
                }
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "on AWS every stage builds in a CodeBuild project; add `project = \"...\"` to: {}",
                missing.join(", ")
            ));
        }
        Ok(projects)
    }

    /// A member account's stack parameters from this file (`trainctl infra-params --member
    /// staging`): the role's name, and the projects and alarms in that account. `member` is
    /// a stage `[accounts]` names or a 12-digit account id; the train stack's outputs
    /// (`TrainAccountId`, `FunctionRoles`, `ExternalId`, `TrainBusArn`) are added by the caller.
    pub fn member_parameters(&self, member: &str) -> Result<Vec<(&'static str, String)>, String> {
        let stage = [Stage::Staging, Stage::Production]
            .into_iter()
            .find(|s| s.to_string() == member);
        let account = match stage {
            Some(stage) => self.accounts.role(stage).map(RoleArn::account).ok_or_else(|| {
                format!("[accounts] names no {member} account; add [accounts] {member} = {{ role = \"arn:aws:iam::ACCOUNT:role/NAME\" }}")
            })?,
            None => member,
        };
        let roles: Vec<&RoleArn> = self
            .member_roles()
            .into_iter()
            .filter(|r| r.account() == account)
            .collect();
        if let Some(pathed) = roles
            .iter()
            .find(|r| !r.as_str().ends_with(&format!(":role/{}", r.name())))
        {
            return Err(format!(
                "{pathed} has a path; the member stack creates its role without one, so name it arn:aws:iam::{account}:role/{}",
                pathed.name()
            ));
        }
        let mut names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        names.dedup();
        let name = match names.as_slice() {
            [] => {
                let known: Vec<&str> = self.member_roles().iter().map(|r| r.account()).collect();
                return Err(format!(
                    "no role in release-train.toml is in account {account:?}; name a stage (staging, production) or one of: {}",
                    if known.is_empty() {
                        "none: [accounts] is empty".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            [one] => *one,
            many => {
                return Err(format!(
                    "account {account} is reached through {} differently named roles ({}); the member stack creates one role, so name the same role in each",
                    many.len(),
                    many.join(", ")
                ));
            }
        };
        let projects = self.projects_in(Some(account))?;
        let alarms: Vec<&str> = self
            .watched_alarms()
            .into_iter()
            .filter_map(|a| {
                let (stage, name) = alarm_stage(a)?;
                (self.accounts.role(stage)?.account() == account).then_some(name)
            })
            .collect();
        Ok(vec![
            ("RoleName", name.to_owned()),
            ("BuildProjects", projects.join(",")),
            ("GatingAlarms", alarms.join(",")),
        ])
    }
}
