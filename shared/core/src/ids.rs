//! Values that exist only in valid form: each is built by parsing, so code that holds one
//! never re-checks it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a value did not parse, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Declares a string newtype whose only constructor is `parse`, with serde going through it.
macro_rules! parsed_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(raw).map_err(InvalidValue)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn slug(raw: &str, what: &str, max: usize) -> Result<(), String> {
    let ok_chars = raw
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts_with_letter = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if raw.is_empty() || raw.len() > max || !ok_chars || !starts_with_letter || raw.ends_with('-') {
        return Err(format!(
            "{what} {raw:?} is not valid: use 1 to {max} lowercase letters, digits and hyphens, starting with a letter (e.g. \"payments-api\")"
        ));
    }
    Ok(())
}

parsed_string!(
    /// The name of a train, e.g. `weekly`. Part of every train id.
    TrainName,
    |raw| slug(raw, "train name", 40)
);

parsed_string!(
    /// The name of a component (one service, one repository), e.g. `payments-api`.
    ComponentName,
    |raw| slug(raw, "component name", 64)
);

parsed_string!(
    /// A gating CloudWatch alarm's name, checked against CloudWatch's rules and the train's
    /// own (no wildcard, no comma): see [`crate::config::cloudwatch_alarm_name`].
    AlarmName,
    crate::config::cloudwatch_alarm_name
);

parsed_string!(
    /// A train's id, derived from its scheduled cut time, e.g. `weekly-2026-W48`.
    TrainId,
    |raw| {
        let ok = !raw.is_empty()
            && raw.len() <= 100
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "train id {raw:?} is not valid: train ids look like \"weekly-2026-W48\" (trainctl status lists them; GET /trains)"
            ))
        }
    }
);

parsed_string!(
    /// A full git commit id (40 or 64 lowercase hex digits). Never a branch name: a train
    /// promotes exactly what it tested.
    Commit,
    |raw| {
        let hex = raw.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if hex && (raw.len() == 40 || raw.len() == 64) {
            Ok(())
        } else {
            Err(format!("{raw:?} is not a full commit id (40 or 64 lowercase hex digits)"))
        }
    }
);

parsed_string!(
    /// Why a person did something. Required on every command, kept in the audit trail.
    Reason,
    |raw| {
        let len = raw.chars().count();
        if raw.trim().is_empty() || len > 500 {
            Err(format!(
                "a reason must be 1 to 500 characters (got {len}); say why, e.g. \"checkout errors in staging\""
            ))
        } else if let Some(c) = raw.chars().find(|c| crate::text::is_unsafe(*c)) {
            Err(format!(
                "a reason is one line of printable text: {} is not allowed (no line breaks, tabs, terminal escapes or bidirectional overrides)",
                crate::text::name(c)
            ))
        } else {
            Ok(())
        }
    }
);

parsed_string!(
    /// Who did something: an authenticated principal (`arn:aws:iam::…`, `local:alice`) or
    /// the train itself (`release-train`, `schedule:cut`).
    Actor,
    |raw| {
        if raw.is_empty() || raw.len() > 300 || raw.chars().any(char::is_control) {
            Err("an actor must be 1 to 300 printable characters".to_owned())
        } else {
            Ok(())
        }
    }
);

parsed_string!(
    /// A build's id as the builder knows it (a CodeBuild build id, or a local build directory).
    BuildId,
    |raw| {
        if raw.is_empty() || raw.len() > 300 || raw.chars().any(char::is_control) {
            Err("a build id must be 1 to 300 printable characters".to_owned())
        } else {
            Ok(())
        }
    }
);

impl Actor {
    /// The train acting on its own: schedules, soak timers, policies.
    pub fn system() -> Self {
        Self("release-train".to_owned())
    }

    /// The cut schedule: the actor of a scheduled cut.
    pub fn cut_schedule() -> Self {
        Self("schedule:cut".to_owned())
    }

    /// The promote schedule: the actor of a scheduled promotion.
    pub fn promote_schedule() -> Self {
        Self("schedule:promote".to_owned())
    }

    /// The train or its schedules, as opposed to a person or a principal.
    pub fn is_the_train(&self) -> bool {
        self.0 == "release-train" || self.0.starts_with("schedule:")
    }
}

impl Commit {
    /// The first 12 digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_what_would_break_ids_and_urls() {
        assert!(ComponentName::parse("payments-api").is_ok());
        for bad in ["", "Payments", "pay ments", "-api", "api-", "9api", "a/b"] {
            assert!(
                ComponentName::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let long = "a".repeat(65);
        assert!(ComponentName::parse(&long).is_err());
    }

    #[test]
    fn commits_must_be_full_hex_ids() {
        assert!(Commit::parse(&"a".repeat(40)).is_ok());
        assert!(Commit::parse("main").is_err());
        assert!(Commit::parse(&"A".repeat(40)).is_err());
        assert!(Commit::parse(&"a".repeat(12)).is_err());
    }

    #[test]
    fn reasons_are_bounded_and_say_how_to_fix() {
        assert!(Reason::parse("checkout broken").is_ok());
        let err = Reason::parse("   ").unwrap_err();
        assert!(err.0.contains("1 to 500"), "{err}");
        assert!(Reason::parse(&"x".repeat(501)).is_err());
        assert!(
            Reason::parse(&"é".repeat(500)).is_ok(),
            "limit counts characters, not bytes"
        );
    }

    #[test]
    fn reasons_refuse_line_breaks_terminal_escapes_and_bidi_overrides() {
        for (raw, what) in [
            ("ok\nFAKE LINE: cancelled by admin", "line break"),
            ("clear \u{1b}[2J", "terminal escape"),
            ("tab\there", "tab"),
            ("reversed \u{202e}gnp.exe", "bidirectional override"),
        ] {
            let err = Reason::parse(raw).unwrap_err();
            assert!(
                err.0.contains(what) && err.0.contains("one line of printable text"),
                "{err}"
            );
        }
        assert!(Reason::parse("emoji ✓ and accents é are fine").is_ok());
    }

    #[test]
    fn serde_goes_through_parse() {
        let ok: Result<ComponentName, _> = serde_json::from_str("\"api\"");
        assert!(ok.is_ok());
        let bad: Result<ComponentName, _> = serde_json::from_str("\"Not Valid\"");
        assert!(bad.is_err());
    }
}
