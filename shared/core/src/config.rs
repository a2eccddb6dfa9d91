//! `release-train.toml`: parsed once into [`Config`], or into errors that name the line, the
//! field and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::freeze::{FreezeCalendar, FreezeWhen, FreezeWindow};
use crate::ids::{AlarmName, ComponentName, TrainId, TrainName};
use crate::schedule::Schedule;
use crate::span::Span;
use accounts::in_account;
pub use accounts::{Accounts, RoleArn};
pub use deploy::MEMBER_FROM_TRAIN_STACK;

/// What to do when one component's build fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// The train fails and nothing more is promoted.
    Halt,
    /// The failed component stays on its last release; the others go on.
    Exclude,
}

/// What a gating alarm entering ALARM does to a train that has not started promoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmPolicy {
    /// Hold it (actor `alarm:NAME`); the hold lifts when the alarm is OK again.
    #[default]
    Hold,
    /// Cancel it.
    Cancel,
}

/// In what order a train's staging builds start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagingOrder {
    /// Wave by wave, as production ships: wave 2's staging builds start once every
    /// wave-1 staging build is green (migrations first, in staging too).
    #[default]
    Waves,
    /// Every staging build at the cut.
    Parallel,
}

/// Where a stage builds: a buildspec path in the component's repository, a CodeBuild
/// project, or both (the project, with the buildspec as an override). A misspelt field is
/// refused, not ignored (`projet = "..."` would otherwise build without a project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildspec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The role whose account the project is in (the component's own, else the stage's in
    /// `[accounts]`); none for the train's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleArn>,
}

/// One component: one repository, built for staging and then for production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSpec {
    pub name: ComponentName,
    /// A git URL, or in local mode a path (relative to the config file).
    pub source: String,
    pub branch: String,
    pub staging: StageTarget,
    pub production: StageTarget,
    /// Production order: wave 1 first, each wave after the previous one succeeded (and
    /// baked). Staging follows the same order unless `staging_order = "parallel"`.
    pub wave: u32,
    /// How long production waits after this component's wave before the next wave starts,
    /// instead of the train's `wave_bake` (a wave bakes for the longest of its components').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_bake: Option<Span>,
    /// Alarms re-read at the end of the bake after this component's wave, beside the
    /// train's gating alarms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wave_alarms: Vec<AlarmName>,
}

/// How train ids are derived from the cut time: as coarse as the cut schedule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdStyle {
    /// `weekly-2026-W48`: the cut fires at most once per ISO week.
    Week,
    /// `nightly-2026-11-23`: at most once per day.
    Day,
    /// `hourly-2026-11-23T0900`.
    Minute,
}

impl IdStyle {
    /// The period one train id covers, in words: a second cut in it is the same train.
    pub fn period(self) -> &'static str {
        match self {
            Self::Week => "ISO week",
            Self::Day => "day",
            Self::Minute => "minute",
        }
    }
}

/// The train's settings, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainSettings {
    pub name: TrainName,
    pub zone: Tz,
    pub cut: Schedule,
    pub promote: Schedule,
    pub soak: Span,
    pub on_component_failure: FailurePolicy,
    pub build_timeout: Span,
    pub id_style: IdStyle,
    /// Approvals from different people a train needs before it promotes (0: none).
    pub approvals: u32,
    /// The release captain rotation: one person per train, in turn by the cut's week.
    pub captains: Vec<String>,
    /// CloudWatch alarms that gate promotion.
    pub alarms: Vec<AlarmName>,
    pub on_alarm: AlarmPolicy,
    /// When an alarm's hold lifts, soak again for the full soak from that moment.
    pub restart_soak_after_alarm: bool,
    pub staging_order: StagingOrder,
    /// How long production waits after each wave before starting the next one (none: the
    /// next wave starts when the previous one succeeded).
    pub wave_bake: Option<Span>,
    /// Whether an expedited train skips the bakes between waves too.
    pub expedite_skips_bake: bool,
    /// Who may approve: IAM principal patterns on AWS (`*` matches any run of characters,
    /// e.g. `arn:aws:sts::*:assumed-role/ReleaseManagers/*`), OS user names in local mode.
    /// Empty: anyone who may call the API.
    pub approvers: Vec<String>,
    /// How long after a cut firing a train is still cut for it when its delivery never
    /// came (none: until the next promote firing after it).
    pub catch_up: Option<Span>,
    /// How long before a promote firing a soaking train announces that it will promote
    /// ("promotion soon"); none: no heads-up.
    pub notify_before: Option<Span>,
}

impl TrainSettings {
    /// The captain of the train cut at `scheduled`: the rotation advances one person per
    /// week, so a week's train always has the same captain however often it is asked.
    pub fn captain_for(&self, scheduled: DateTime<Utc>) -> Option<String> {
        if self.captains.is_empty() {
            return None;
        }
        let weeks = scheduled.timestamp().div_euclid(7 * 86_400);
        let n = i64::try_from(self.captains.len()).unwrap_or(1);
        let i = usize::try_from(weeks.rem_euclid(n)).unwrap_or(0);
        self.captains.get(i).cloned()
    }
}

/// A whole, valid configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub train: TrainSettings,
    pub freezes: FreezeCalendar,
    pub components: Vec<ComponentSpec>,
    /// The roles stages build through in other accounts; empty for one account.
    pub accounts: Accounts,
}

/// One mistake in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// Every mistake found in the file, in line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.issues.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl ConfigError {
    /// The same issues as `path:line: field: message`, one per line, for a terminal.
    pub fn render(&self, path: &str) -> String {
        self.issues
            .iter()
            .map(|i| format!("{path}:{}: {}: {}", i.line, i.field, i.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    train: Spanned<RawTrain>,
    #[serde(default)]
    freeze: Vec<Spanned<RawFreeze>>,
    #[serde(default)]
    component: Vec<Spanned<RawComponent>>,
    #[serde(default)]
    accounts: RawAccounts,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    #[serde(default)]
    staging: Option<RawAccount>,
    #[serde(default)]
    production: Option<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    role: RoleArn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrain {
    name: Spanned<String>,
    time_zone: Spanned<String>,
    cut: Spanned<String>,
    promote: Spanned<String>,
    soak: Spanned<String>,
    #[serde(default = "default_policy")]
    on_component_failure: FailurePolicy,
    #[serde(default)]
    build_timeout: Option<Spanned<String>>,
    #[serde(default)]
    approvals: Option<Spanned<i64>>,
    #[serde(default)]
    captains: Vec<Spanned<String>>,
    #[serde(default)]
    alarms: Vec<Spanned<String>>,
    #[serde(default)]
    on_alarm: AlarmPolicy,
    #[serde(default)]
    restart_soak_after_alarm: bool,
    #[serde(default)]
    staging_order: StagingOrder,
    #[serde(default)]
    wave_bake: Option<Spanned<String>>,
    #[serde(default)]
    expedite_skips_bake: bool,
    #[serde(default)]
    approvers: Vec<Spanned<String>>,
    #[serde(default)]
    catch_up: Option<Spanned<String>>,
    #[serde(default)]
    notify_before: Option<Spanned<String>>,
}

fn default_policy() -> FailurePolicy {
    FailurePolicy::Halt
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    name: Spanned<String>,
    #[serde(default)]
    allow_expedite: bool,
    starts: Option<Spanned<String>>,
    lasts: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    name: Spanned<String>,
    source: Spanned<String>,
    #[serde(default)]
    branch: Option<Spanned<String>>,
    staging: Spanned<StageTarget>,
    production: Spanned<StageTarget>,
    #[serde(default)]
    wave: Option<Spanned<i64>>,
    #[serde(default)]
    wave_bake: Option<Spanned<String>>,
    #[serde(default)]
    wave_alarms: Vec<Spanned<String>>,
}

/// Collects issues against the text so each one knows its line.
struct Checker<'a> {
    text: &'a str,
    issues: Vec<ConfigIssue>,
}

impl Checker<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn add(&mut self, span: &Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let line = self.line(span);
        self.issues.push(ConfigIssue {
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parses a spanned string, recording an issue on failure.
    fn parse<T, E: fmt::Display>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(value.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(&value.span(), field, e.to_string());
                None
            }
        }
    }
}

impl Config {
    /// Every alarm a train may read: the gating alarms and each wave's `wave_alarms`, once
    /// each (the functions' `DescribeAlarms` grant and the alarm rule name exactly these).
    pub fn watched_alarms(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.train.alarms.iter().map(AlarmName::as_str).collect();
        for c in &self.components {
            for a in &c.wave_alarms {
                if !names.contains(&a.as_str()) {
                    names.push(a.as_str());
                }
            }
        }
        names
    }

    /// Parses and validates the whole file, reporting every mistake found.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut check = Checker {
            text,
            issues: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().replace('\n', " ");
                let message = explain_toml_error(&message);
                check.add(&span, "syntax", message);
                return Err(ConfigError {
                    issues: check.issues,
                });
            }
        };
        let config = check.config(&raw);
        check.issues.sort_by_key(|i| i.line);
        match config {
            Some(config) if check.issues.is_empty() => Ok(config),
            _ => Err(ConfigError {
                issues: check.issues,
            }),
        }
    }
}

/// serde's messages name the problem; add the fix where the fix is obvious.
fn explain_toml_error(message: &str) -> String {
    if message.starts_with("missing field") {
        format!("{message}; add it (see the configuration reference in README.md)")
    } else if message.starts_with("unknown field") {
        format!("{message}; check the spelling")
    } else {
        message.to_owned()
    }
}

impl Checker<'_> {
    fn config(&mut self, raw: &RawConfig) -> Option<Config> {
        let train = self.train(raw.train.get_ref());
        let zone = train.as_ref().map_or(chrono_tz::UTC, |t| t.zone);
        let freezes = self.freezes(&raw.freeze, zone);
        let accounts = Accounts {
            staging: raw.accounts.staging.as_ref().map(|a| a.role.clone()),
            production: raw.accounts.production.as_ref().map(|a| a.role.clone()),
        };
        let components = self.components(&raw.component, &raw.train.span(), &accounts);
        self.alarm_accounts(raw, &accounts);
        Some(Config {
            train: train?,
            freezes: freezes?,
            components: components?,
            accounts,
        })
    }

    fn train(&mut self, raw: &RawTrain) -> Option<TrainSettings> {
        let name = self.parse(&raw.name, "train.name", TrainName::parse);
        let zone = self.parse(&raw.time_zone, "train.time_zone", |z| {
            z.parse::<Tz>().map_err(|_| {
                format!("unknown time zone {z:?}; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"")
            })
        })?;
        let cut = self.parse(&raw.cut, "train.cut", |e| Schedule::parse(e, zone));
        let promote = self.parse(&raw.promote, "train.promote", |e| Schedule::parse(e, zone));
        let soak = self.parse(&raw.soak, "train.soak", Span::parse);
        let build_timeout = match &raw.build_timeout {
            Some(t) => self.parse(t, "train.build_timeout", Span::parse),
            None => Span::from_duration(chrono::Duration::hours(1)),
        };
        let approvals = match &raw.approvals {
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(n) if n <= 10 => Some(n),
                _ => {
                    self.add(
                        &n.span(),
                        "train.approvals",
                        format!(
                            "{} is not a number of approvals; write 0 to 10, e.g. approvals = 2",
                            n.get_ref()
                        ),
                    );
                    None
                }
            },
            None => Some(0),
        };
        let mut captains = Vec::new();
        for c in &raw.captains {
            let name = c.get_ref().trim();
            if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                self.add(
                    &c.span(),
                    "train.captains",
                    "each captain is a name or handle of 1 to 100 characters, e.g. captains = [\"alice\", \"bob\"]",
                );
            } else {
                captains.push(name.to_owned());
            }
        }
        let mut alarms: Vec<AlarmName> = Vec::new();
        for a in &raw.alarms {
            match AlarmName::parse(a.get_ref()) {
                Err(why) => self.add(&a.span(), "train.alarms", why.0),
                Ok(name) if !alarms.contains(&name) => alarms.push(name),
                Ok(_) => {}
            }
        }
        let wave_bake = match &raw.wave_bake {
            Some(b) => Some(self.parse(b, "train.wave_bake", Span::parse)?),
            None => None,
        };
        let approvers = self.approvers(&raw.approvers);
        let catch_up = match &raw.catch_up {
            Some(c) => Some(self.parse(c, "train.catch_up", Span::parse)?),
            None => None,
        };
        let notify_before = match &raw.notify_before {
            Some(n) => Some(self.parse(n, "train.notify_before", Span::parse)?),
            None => None,
        };
        let cut = cut?;
        let id_style = id_style(&cut);
        Some(TrainSettings {
            name: name?,
            zone,
            cut,
            promote: promote?,
            soak: soak?,
            on_component_failure: raw.on_component_failure,
            build_timeout: build_timeout?,
            id_style,
            approvals: approvals?,
            captains,
            alarms,
            on_alarm: raw.on_alarm,
            restart_soak_after_alarm: raw.restart_soak_after_alarm,
            staging_order: raw.staging_order,
            wave_bake,
            expedite_skips_bake: raw.expedite_skips_bake,
            approvers,
            catch_up,
            notify_before,
        })
    }

    fn freezes(&mut self, raw: &[Spanned<RawFreeze>], zone: Tz) -> Option<FreezeCalendar> {
        let mut windows = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok = true;
        for item in raw {
            let f = item.get_ref();
            let name = f.name.get_ref().clone();
            let field = format!("freeze {name:?}");
            if let Some(first) = seen.insert(name.clone(), self.line(&f.name.span())) {
                self.add(
                    &f.name.span(),
                    &field,
                    format!(
                        "defined twice (first at line {first}); give each freeze a unique name"
                    ),
                );
                ok = false;
            }
            let when = match (&f.starts, &f.lasts, &f.from, &f.until) {
                (Some(starts), Some(lasts), None, None) => {
                    let starts = self.parse(starts, &format!("{field}.starts"), |e| {
                        Schedule::parse(e, zone)
                    });
                    let lasts = self.parse(lasts, &format!("{field}.lasts"), Span::parse);
                    starts
                        .zip(lasts)
                        .map(|(starts, lasts)| FreezeWhen::Recurring { starts, lasts })
                }
                (None, None, Some(from), Some(until)) => {
                    let from_t =
                        self.parse(from, &format!("{field}.from"), |t| local_time(t, zone));
                    let until_t =
                        self.parse(until, &format!("{field}.until"), |t| local_time(t, zone));
                    match (from_t, until_t) {
                        (Some(a), Some(b)) if a < b => Some(FreezeWhen::Once { from: a, until: b }),
                        (Some(_), Some(_)) => {
                            self.add(
                                &until.span(),
                                format!("{field}.until"),
                                "must be later than `from`",
                            );
                            None
                        }
                        _ => None,
                    }
                }
                _ => {
                    self.add(
                        &item.span(),
                        &field,
                        "set either `starts` and `lasts` (recurring, e.g. starts = \"cron(0 17 ? * FRI *)\", lasts = \"64h\") or `from` and `until` (one-off, e.g. from = \"2026-12-21T00:00\")",
                    );
                    None
                }
            };
            match when {
                Some(when) => windows.push(FreezeWindow {
                    name,
                    when,
                    allow_expedite: f.allow_expedite,
                }),
                None => ok = false,
            }
        }
        ok.then_some(FreezeCalendar(windows))
    }

    fn components(
        &mut self,
        raw: &[Spanned<RawComponent>],
        train_span: &Range<usize>,
        accounts: &Accounts,
    ) -> Option<Vec<ComponentSpec>> {
        if raw.is_empty() {
            self.add(train_span, "component", "no components; add at least one [[component]] table with name, source, staging and production");
            return None;
        }
        let mut out = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok = true;
        for item in raw {
            let c = item.get_ref();
            let label = format!("component {:?}", c.name.get_ref());
            let name = self.parse(&c.name, &format!("{label}.name"), ComponentName::parse);
            if let Some(first) = seen.insert(c.name.get_ref().clone(), self.line(&c.name.span())) {
                self.add(
                    &c.name.span(),
                    format!("{label}.name"),
                    format!(
                        "defined twice (first at line {first}); give each component a unique name"
                    ),
                );
                ok = false;
            }
            if c.source.get_ref().trim().is_empty() {
                self.add(
                    &c.source.span(),
                    format!("{label}.source"),
                    "is empty; set the git URL or local path of the repository",
                );
                ok = false;
            }
            let branch = c
                .branch
                .as_ref()
                .map_or_else(|| "main".to_owned(), |b| b.get_ref().clone());
            if let Some(b) = &c.branch
                && !valid_branch(b.get_ref())
            {
                self.add(
                    &b.span(),
                    format!("{label}.branch"),
                    format!(
                        "{:?} is not a branch name; write e.g. \"main\"",
                        b.get_ref()
                    ),
                );
                ok = false;
            }
            if let Err(why) = pinnable_source(c.source.get_ref()) {
                self.add(&c.source.span(), format!("{label}.source"), why);
                ok = false;
            }
            for (stage, target) in [("staging", &c.staging), ("production", &c.production)] {
                let t = target.get_ref();
                if let Some(project) = &t.project
                    && let Err(why) = codebuild_project_name(project)
                {
                    self.add(&target.span(), format!("{label}.{stage}.project"), why);
                    ok = false;
                }
                if t.buildspec.is_none() && t.project.is_none() {
                    self.add(
                        &target.span(),
                        format!("{label}.{stage}"),
                        format!("set `buildspec` (a path in the repository) and/or `project` (a CodeBuild project), e.g. {stage} = {{ buildspec = \"buildspec-{stage}.yml\" }}"),
                    );
                    ok = false;
                }
            }
            let wave = match &c.wave {
                None => Some(1),
                Some(w) => match u32::try_from(*w.get_ref()) {
                    Ok(v) if (1..=100).contains(&v) => Some(v),
                    _ => {
                        self.add(
                            &w.span(),
                            format!("{label}.wave"),
                            "must be a whole number from 1 to 100 (wave 1 ships first)",
                        );
                        None
                    }
                },
            };
            let pace = self.wave_pace(c, &label);
            match (name, wave, pace) {
                (Some(name), Some(wave), Ok((wave_bake, wave_alarms))) => out.push(ComponentSpec {
                    name,
                    source: c.source.get_ref().clone(),
                    branch,
                    staging: in_account(c.staging.get_ref(), accounts.staging.as_ref()),
                    production: in_account(c.production.get_ref(), accounts.production.as_ref()),
                    wave,
                    wave_bake,
                    wave_alarms,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// `2026-12-21`, `2026-12-21T00:00` or `2026-12-21T00:00:00`, in the train's zone.
fn local_time(raw: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .map_err(|_| {
            format!("{raw:?} is not a local date and time; write e.g. \"2026-12-21T00:00\"")
        })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("{raw:?} does not exist in {zone} (clocks jump over it); pick another time")
        })
}

/// The coarsest id that keeps two cuts apart, judged over the next hundred firings after a
/// fixed reference date (the core never reads the clock).
fn id_style(cut: &Schedule) -> IdStyle {
    let reference = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let zone = cut.zone();
    let local: Vec<_> = cut
        .upcoming(reference)
        .take(100)
        .map(|t| t.with_timezone(&zone))
        .collect();
    let distinct = |key: &dyn Fn(&DateTime<Tz>) -> (i32, u32)| {
        local.windows(2).all(|w| key(&w[0]) != key(&w[1]))
    };
    if distinct(&|t| (t.iso_week().year(), t.iso_week().week())) {
        IdStyle::Week
    } else if distinct(&|t| (t.year(), t.ordinal())) {
        IdStyle::Day
    } else {
        IdStyle::Minute
    }
}

impl TrainSettings {
    /// The id of the train cut at `scheduled`: the same for every delivery of that firing.
    pub fn train_id(&self, scheduled: DateTime<Utc>) -> TrainId {
        let t = scheduled.with_timezone(&self.zone);
        let suffix = match self.id_style {
            IdStyle::Week => format!("{}-W{:02}", t.iso_week().year(), t.iso_week().week()),
            IdStyle::Day => t.format("%Y-%m-%d").to_string(),
            IdStyle::Minute => t.format("%Y-%m-%dT%H%M").to_string(),
        };
        TrainId::parse(&format!("{}-{suffix}", self.name))
            .expect("a train name and a date always form a valid id")
    }

    /// The id of a train a person cuts at `now`, outside the schedule: `NAME-adhoc-` and the
    /// time to the second in the train's zone. No scheduled id contains `adhoc`, so the two
    /// never collide; two ad-hoc cuts in the same second are one train.
    pub fn adhoc_train_id(&self, now: DateTime<Utc>) -> TrainId {
        let t = now.with_timezone(&self.zone);
        TrainId::parse(&format!(
            "{}-adhoc-{}",
            self.name,
            t.format("%Y-%m-%dT%H%M%S")
        ))
        .expect("a train name and a date always form a valid id")
    }
}

/// Serializes a [`Schedule`] as its expression and zone, for trains that carry their policy.
pub(crate) mod schedule_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::schedule::Schedule;

    #[derive(Serialize, Deserialize)]
    struct Repr {
        expression: String,
        zone: String,
    }

    pub fn serialize<S: Serializer>(s: &Schedule, ser: S) -> Result<S::Ok, S::Error> {
        Repr {
            expression: s.expression().to_string(),
            zone: s.zone().name().to_owned(),
        }
        .serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Schedule, D::Error> {
        let r = Repr::deserialize(de)?;
        let zone: Tz = r.zone.parse().map_err(serde::de::Error::custom)?;
        Schedule::parse(&r.expression, zone).map_err(serde::de::Error::custom)
    }
}

pub mod accounts;
mod deploy;
mod names;
mod pace;
pub mod schema;

pub use names::{cloudwatch_alarm_name, codebuild_project_name};
use names::{pinnable_source, valid_branch};

pub use pace::{is_url, may_approve};
#[cfg(test)]
mod tests;
