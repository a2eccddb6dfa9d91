//! The keys that set a train's order and pace (staging order, bakes between waves, wave
//! alarms), who may approve, and the checks for a configuration that parses but could
//! never ship a train (`trainctl validate`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use toml::Spanned;

use super::{Checker, Config, ConfigIssue, RawComponent, RawConfig};
use crate::ids::{Actor, AlarmName};
use crate::span::Span;

impl Checker<'_> {
    pub(super) fn approvers(&mut self, raw: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for a in raw {
            let pattern = a.get_ref().trim();
            if pattern.is_empty()
                || pattern.len() > 512
                || pattern.chars().any(char::is_control)
                || pattern.chars().all(|c| c == '*')
            {
                self.add(
                    &a.span(),
                    "train.approvers",
                    "each approver is an OS user name (local mode) or an IAM principal pattern, e.g. approvers = [\"alice\", \"arn:aws:sts::*:assumed-role/ReleaseManagers/*\"]; a lone \"*\" would let anyone approve, so leave approvers out instead",
                );
            } else if !out.iter().any(|p: &String| p == pattern) {
                out.push(pattern.to_owned());
            }
        }
        out
    }

    /// A component's `wave_bake` and `wave_alarms`, or `Err` when the bake is invalid (the
    /// issue is recorded).
    pub(super) fn wave_pace(
        &mut self,
        c: &RawComponent,
        label: &str,
    ) -> Result<(Option<Span>, Vec<AlarmName>), ()> {
        let bake = match &c.wave_bake {
            Some(b) => Some(
                self.parse(b, &format!("{label}.wave_bake"), Span::parse)
                    .ok_or(())?,
            ),
            None => None,
        };
        let mut alarms: Vec<AlarmName> = Vec::new();
        for a in &c.wave_alarms {
            match AlarmName::parse(a.get_ref()) {
                Err(why) => self.add(&a.span(), format!("{label}.wave_alarms"), why.0),
                Ok(name) if !alarms.contains(&name) => alarms.push(name),
                Ok(_) => {}
            }
        }
        Ok((bake, alarms))
    }
}

/// Whether `actor` is one of `patterns`: an OS user name matches `local:NAME`, anything
/// else the whole principal, with `*` matching any run of characters (as in IAM).
pub fn may_approve(patterns: &[String], actor: &Actor) -> bool {
    let who = actor.as_str();
    patterns.iter().any(|p| {
        let local = who.strip_prefix("local:").filter(|_| !p.contains(':'));
        glob(p, local.unwrap_or(who))
    })
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.ends_with(last)
}

/// How many cut firings ahead the never-ships checks look.
const CUTS_CHECKED: usize = 12;

impl Config {
    /// What would keep this configuration from ever shipping a train, judged from `now`:
    /// a soak that outlasts the time to the next cut (which supersedes the train), a promote
    /// schedule that does not fire between a cut and the next one, a cut schedule that no
    /// longer fires (an `at()` in the past), a wave with no wave before it, and a local
    /// `source` path that `exists` says is not there (URLs are not checked). `text` is the
    /// file the configuration was parsed from, so each issue names its line.
    pub fn never_ships(
        &self,
        text: &str,
        now: DateTime<Utc>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Vec<ConfigIssue> {
        let Ok(raw) = toml::from_str::<RawConfig>(text) else {
            return Vec::new();
        };
        let mut check = Checker {
            text,
            issues: Vec::new(),
        };
        let t = &self.train;
        let raw_train = raw.train.get_ref();
        let local = |at: DateTime<Utc>| {
            at.with_timezone(&t.zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let cuts: Vec<DateTime<Utc>> = t.cut.upcoming(now).take(CUTS_CHECKED).collect();
        if cuts.is_empty() {
            check.add(
                &raw_train.cut.span(),
                "train.cut",
                format!(
                    "{} never fires after now ({}), so no train would be cut; use a time in the future or a cron() schedule",
                    t.cut.expression(),
                    local(now)
                ),
            );
        }
        let soak = t.soak.duration();
        if let Some(pair) = cuts.windows(2).find(|w| w[0] + soak >= w[1]) {
            check.add(
                &raw_train.soak.span(),
                "train.soak",
                format!(
                    "soak {} does not end before the next cut: the train cut at {} would still be soaking at {}, when the next cut supersedes it; shorten the soak or cut less often",
                    t.soak,
                    local(pair[0]),
                    local(pair[1])
                ),
            );
        }
        let next_cut = |i: usize| cuts.get(i + 1).copied();
        for (i, cut) in cuts.iter().enumerate() {
            let promote = t.promote.upcoming(*cut).next();
            let fires_in_time = match (promote, next_cut(i)) {
                (Some(p), Some(next)) => p < next,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !fires_in_time {
                let until = next_cut(i).map_or_else(
                    || "ever after it".to_owned(),
                    |n| format!("before the next cut at {}", local(n)),
                );
                check.add(
                    &raw_train.promote.span(),
                    "train.promote",
                    format!(
                        "{} does not fire between the cut at {} and {until}, so that train would never promote; make the promote schedule fire after each cut",
                        t.promote.expression(),
                        local(*cut)
                    ),
                );
                break;
            }
        }
        let waves: BTreeSet<u32> = self.components.iter().map(|c| c.wave).collect();
        for item in &raw.component {
            let c = item.get_ref();
            let source = c.source.get_ref();
            if !is_url(source) && !exists(source) {
                check.add(
                    &c.source.span(),
                    format!("component {:?}.source", c.name.get_ref()),
                    format!(
                        "{source:?} does not exist (a local path is relative to this file); clone the repository there or write its git URL"
                    ),
                );
            }
            let Some(w) = &c.wave else { continue };
            let wave = u32::try_from(*w.get_ref()).unwrap_or(0);
            if wave > 1 && !waves.contains(&(wave - 1)) {
                let numbered: Vec<String> = (1..=waves.len()).map(|n| n.to_string()).collect();
                check.add(
                    &w.span(),
                    format!("component {:?}.wave", c.name.get_ref()),
                    format!(
                        "wave {wave} has no component in wave {} before it; number the waves {} without gaps",
                        wave - 1,
                        numbered.join(", ")
                    ),
                );
            }
        }
        check.issues.sort_by_key(|i| i.line);
        check.issues
    }
}

/// A source local mode clones as it is, rather than a path next to the configuration.
pub fn is_url(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approver_patterns_match_os_users_and_iam_principals() {
        let patterns = vec![
            "alice".to_owned(),
            "arn:aws:sts::*:assumed-role/ReleaseManagers/*".to_owned(),
        ];
        let yes = |a: &str| may_approve(&patterns, &Actor::parse(a).unwrap());
        assert!(yes("local:alice"));
        assert!(!yes("local:alicia"));
        assert!(!yes("local:bob"));
        assert!(yes(
            "arn:aws:sts::111111111111:assumed-role/ReleaseManagers/carol"
        ));
        assert!(!yes(
            "arn:aws:sts::111111111111:assumed-role/Developers/carol"
        ));
        assert!(!yes("arn:aws:iam::111111111111:user/alice"));
    }

    #[test]
    fn glob_anchors_both_ends() {
        assert!(glob("a*c", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "abcd"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(!glob("a*b*c", "a-c"));
    }

    fn issues(extra_train: &str, components: &str, now: &str) -> Vec<String> {
        let text =
            format!("[train]\nname = \"weekly\"\ntime_zone = \"UTC\"\n{extra_train}\n{components}");
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let now = DateTime::parse_from_rfc3339(now)
            .unwrap()
            .with_timezone(&Utc);
        config
            .never_ships(&text, now, &|p| p != "repos/gone")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const ONE: &str = "[[component]]\nname = \"api\"\nsource = \"repos/api\"\nstaging = { buildspec = \"s.yml\" }\nproduction = { buildspec = \"p.yml\" }\n";
    const WEEKLY: &str = "cut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"";

    #[test]
    fn a_weekly_train_that_soaks_two_days_can_ship() {
        let found = issues(
            &format!("{WEEKLY}\nsoak = \"48h\""),
            ONE,
            "2026-12-01T00:00:00Z",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_soak_longer_than_the_week_is_caught_on_its_line() {
        let found = issues(
            &format!("{WEEKLY}\nsoak = \"8d\""),
            ONE,
            "2026-12-01T00:00:00Z",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("line 6: train.soak: soak 192h does not end before the next cut"),
            "{found:?}"
        );
    }

    #[test]
    fn a_promote_schedule_that_misses_the_week_is_caught() {
        // Promote on the first of January only: most weekly trains never promote.
        let train = "cut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 1 1 ? *)\"\nsoak = \"1h\"";
        let found = issues(train, ONE, "2026-12-01T00:00:00Z");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("train.promote: cron(0 9 1 1 ? *) does not fire between the cut at Mon 2026-12-07 09:00 UTC"), "{found:?}");
    }

    #[test]
    fn a_cut_in_the_past_is_caught() {
        let train =
            "cut = \"at(2026-11-30T09:00:00)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"1h\"";
        let found = issues(train, ONE, "2026-12-01T00:00:00Z");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("train.cut: at(2026-11-30T09:00:00) never fires after now"),
            "{found:?}"
        );
    }

    #[test]
    fn a_wave_gap_and_a_missing_source_are_caught_on_their_lines() {
        let two = format!(
            "{ONE}wave = 1\n{}",
            ONE.replace("\"api\"", "\"web\"")
                .replace("repos/api", "repos/gone")
                + "wave = 3\n"
        );
        let found = issues(
            &format!("{WEEKLY}\nsoak = \"48h\""),
            &two,
            "2026-12-01T00:00:00Z",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("component \"web\".source: \"repos/gone\" does not exist"),
            "{found:?}"
        );
        assert!(found[1].contains("component \"web\".wave: wave 3 has no component in wave 2 before it; number the waves 1, 2 without gaps"), "{found:?}");
    }
}
