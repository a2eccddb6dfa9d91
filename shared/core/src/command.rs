//! The operators' commands, one type for every place that names them: the API's routes
//! (`POST /trains/{id}/ACTION`, `POST /schedule/ACTION`), `trainctl`'s subcommands and the
//! train's events. Each `match` on them lists every variant, so a new command does not
//! compile until every place handles it.

use crate::ids::{Actor, Reason};
use crate::train::Event;

/// Declares a command enum, its names and `ALL` together, so `ALL` lists every variant by
/// construction and each name is written once.
macro_rules! commands {
    ($(#[$doc:meta])* $enum:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum {
            $($variant),+
        }

        impl $enum {
            /// Every command, in the order the help and the errors list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Its name in the API's path and as `trainctl`'s subcommand.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.as_str() == name)
            }

            /// The names of every command, for a message that lists what may be sent.
            pub fn names() -> String {
                Self::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

commands! {
    /// A command on one train, `POST /trains/{id}/ACTION` with `{"reason": "..."}`.
    TrainCommand {
        Cancel => "cancel",
        Hold => "hold",
        Resume => "resume",
        Approve => "approve",
        Retry => "retry",
        Expedite => "expedite",
        Rollback => "rollback",
    }
}

commands! {
    /// A command on the schedule, `POST /schedule/ACTION` with `{"reason": "..."}`.
    ScheduleCommand {
        Pause => "pause",
        Resume => "resume",
        SkipNext => "skip-next",
    }
}

impl TrainCommand {
    /// What carrying out this command by `by` takes: an event for the train, or, for a
    /// rollback, the previous release, which the engine looks up (`Engine::rollback`) to
    /// make the event.
    pub fn dispatch(self, by: Actor, reason: Reason) -> Dispatch {
        Dispatch::Event(match self {
            Self::Cancel => Event::Cancel { by, reason },
            Self::Hold => Event::Hold { by, reason },
            Self::Resume => Event::Resume { by, reason },
            Self::Approve => Event::Approve { by, reason },
            Self::Retry => Event::Retry { by, reason },
            Self::Expedite => Event::Expedite { by, reason },
            Self::Rollback => return Dispatch::Rollback { by, reason },
        })
    }
}

/// How a [`TrainCommand`] is carried out; the API matches on it, so a command that needs
/// the engine in a new way is a new variant that does not compile until handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    Event(Event),
    Rollback { by: Actor, reason: Reason },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_from_its_own_name_and_nothing_else_parses() {
        for &c in TrainCommand::ALL {
            assert_eq!(TrainCommand::parse(c.as_str()), Some(c));
        }
        for &c in ScheduleCommand::ALL {
            assert_eq!(ScheduleCommand::parse(c.as_str()), Some(c));
        }
        for bad in ["", "Cancel", "expedite ", "skip_next", "promote"] {
            assert_eq!(TrainCommand::parse(bad), None, "{bad:?}");
            assert_eq!(ScheduleCommand::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_train_command_but_rollback_is_its_own_event() {
        let by = Actor::parse("local:alice").unwrap();
        let why = Reason::parse("because").unwrap();
        for &c in TrainCommand::ALL {
            let d = c.dispatch(by.clone(), why.clone());
            assert_eq!(
                matches!(d, Dispatch::Rollback { .. }),
                c == TrainCommand::Rollback,
                "{c:?}"
            );
        }
        assert!(matches!(
            TrainCommand::Expedite.dispatch(by, why),
            Dispatch::Event(Event::Expedite { .. })
        ));
    }
}
