//! Durations written by people in config and commands: `48h`, `2d`, `90m`, `1h 30m`.

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::InvalidValue;

/// A positive duration of whole seconds, at most ten years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(Duration);

impl Span {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let fix = "write a duration such as \"48h\", \"2d\", \"90m\" or \"1h 30m\"";
        let std = humantime::parse_duration(raw.trim())
            .map_err(|e| InvalidValue(format!("{raw:?} is not a duration ({e}); {fix}")))?;
        let secs = i64::try_from(std.as_secs()).unwrap_or(i64::MAX);
        if secs == 0 || secs > 10 * 366 * 86_400 {
            return Err(InvalidValue(format!(
                "{raw:?} must be between 1 second and 10 years; {fix}"
            )));
        }
        Ok(Self(Duration::seconds(secs)))
    }

    pub fn from_duration(d: Duration) -> Option<Self> {
        (d > Duration::zero()).then_some(Self(Duration::seconds(d.num_seconds())))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.num_seconds();
        match s {
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Span::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write_and_prints_it_back_plainly() {
        assert_eq!(Span::parse("48h").unwrap().to_string(), "48h");
        assert_eq!(Span::parse("2d").unwrap().to_string(), "48h");
        assert_eq!(Span::parse("1h 30m").unwrap().to_string(), "90m");
        assert!(Span::parse("0s").is_err());
        assert!(Span::parse("two days").unwrap_err().0.contains("48h"));
    }
}
