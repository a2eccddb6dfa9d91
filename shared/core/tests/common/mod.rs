//! Builders shared by the core's table and property tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use train_core::{
    Actor, BuildId, BuildOutcome, Commit, ComponentName, Config, Effect, Event, Reason, Stage,
    Train, Transition,
};

pub const MINIMAL: &str = include_str!("../../../../tests/fixtures/minimal.toml");

/// The fixture train with another failure policy and extra `[train]` lines.
pub fn config_with(policy: &str, extra: &str) -> Config {
    let text = MINIMAL.replace(
        "on_component_failure = \"halt\"",
        &format!("on_component_failure = \"{policy}\"\n{extra}"),
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("fixture config: {e}"))
}

pub fn config() -> Config {
    config_with("halt", "")
}

/// Monday 2026-11-23 09:00 Berlin.
pub fn monday() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Wednesday 09:06 Berlin: the soak (48 h from Monday 09:05, see [`soaking`]) is over.
pub fn wed_after_soak() -> DateTime<Utc> {
    monday() + Duration::hours(48) + Duration::minutes(6)
}

pub fn name(n: &str) -> ComponentName {
    ComponentName::parse(n).unwrap()
}

pub fn commit(seed: u8) -> Commit {
    Commit::parse(&format!("{seed:02x}").repeat(20)).unwrap()
}

pub fn build_id(component: &str, stage: Stage, attempt: u32) -> BuildId {
    BuildId::parse(&format!("{component}-{stage}-{attempt}")).unwrap()
}

pub fn alice() -> Actor {
    Actor::parse("local:alice").unwrap()
}

pub fn bob() -> Actor {
    Actor::parse("arn:aws:iam::123456789012:user/bob").unwrap()
}

/// A build that succeeded without reporting a commit (production builds run the pin).
pub fn ok() -> BuildOutcome {
    BuildOutcome::Succeeded { commit: None }
}

pub fn reason(r: &str) -> Reason {
    Reason::parse(r).unwrap()
}

pub fn started(c: &str, stage: Stage, commit: Option<Commit>) -> Event {
    Event::BuildStarted {
        component: name(c),
        stage,
        attempt: 1,
        build_id: build_id(c, stage, 1),
        commit,
        link: None,
    }
}

pub fn finished(c: &str, stage: Stage, outcome: BuildOutcome) -> Event {
    Event::BuildFinished {
        component: name(c),
        stage,
        attempt: 1,
        build_id: build_id(c, stage, 1),
        outcome,
    }
}

pub fn green(c: &str, seed: u8) -> Event {
    finished(
        c,
        Stage::Staging,
        BuildOutcome::Succeeded {
            commit: Some(commit(seed)),
        },
    )
}

pub fn red(c: &str, stage: Stage) -> Event {
    finished(
        c,
        stage,
        BuildOutcome::Failed {
            reason: "tests failed".into(),
        },
    )
}

/// Applies events in order at `at`, panicking on a rejection.
pub fn apply(train: &Train, events: &[Event], at: DateTime<Utc>) -> (Train, Vec<Effect>) {
    let mut t = train.clone();
    let mut effects = Vec::new();
    for e in events {
        let Transition {
            train,
            effects: more,
        } = t
            .on(e, at)
            .unwrap_or_else(|r| panic!("{e:?} rejected: {r}"));
        t = train;
        effects.extend(more.into_iter().map(|p| p.effect));
    }
    (t, effects)
}

/// The promote firing of [`wed_after_soak`] and a tick, at that time.
pub fn promote_due(train: &Train) -> (Train, Vec<Effect>) {
    let at = wed_after_soak();
    apply(
        train,
        &[Event::PromotionDue { scheduled: at }, Event::Tick],
        at,
    )
}

pub fn cut(config: &Config) -> Train {
    Train::cut(config, monday(), monday()).train
}

/// A train whose three staging builds started and went green at Monday 09:05.
pub fn soaking(config: &Config) -> Train {
    let t = cut(config);
    let at = monday() + Duration::minutes(5);
    let events: Vec<Event> = ["api", "web", "worker"]
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            [
                started(
                    c,
                    Stage::Staging,
                    Some(commit(u8::try_from(i).unwrap() + 1)),
                ),
                green(c, u8::try_from(i).unwrap() + 1),
            ]
        })
        .collect();
    apply(&t, &events, at).0
}

pub fn starts(effects: &[Effect], stage: Stage) -> Vec<(String, train_core::Revision)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartBuild(r) if r.stage == stage => {
                Some((r.component.to_string(), r.revision.clone()))
            }
            _ => None,
        })
        .collect()
}

pub fn stops(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::StopBuild { component, .. } => Some(component.to_string()),
            _ => None,
        })
        .collect()
}
