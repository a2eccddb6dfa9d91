//! Clocks for local mode: the system clock, and a simulated clock that runs at real speed
//! but can jump forward to the next due time, so a week passes in seconds.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
    /// Jumps to `to` if this clock can; the system clock cannot and says so.
    fn jump_to(&self, to: DateTime<Utc>) -> bool;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn jump_to(&self, _: DateTime<Utc>) -> bool {
        false
    }
}

/// Real time plus an offset that only grows: builds take their real seconds, idle days
/// take none.
#[derive(Debug)]
pub struct SimulatedClock {
    offset: Mutex<Duration>,
}

impl SimulatedClock {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: Mutex::new(start - Utc::now()),
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
            + *self
                .offset
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn jump_to(&self, to: DateTime<Utc>) -> bool {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Utc::now() + *offset;
        if to > now {
            *offset += to - now;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_jumps_forward_never_back() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = SimulatedClock::starting_at(start);
        assert!((c.now() - start).num_seconds().abs() < 2);
        c.jump_to(start + Duration::days(2));
        assert!(c.now() >= start + Duration::days(2));
        c.jump_to(start);
        assert!(
            c.now() >= start + Duration::days(2),
            "a jump back is ignored"
        );
    }
}
