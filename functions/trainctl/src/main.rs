//! `trainctl`: release-train on one machine (`init`, `serve`, `demo`, `simulate`, `plan`,
//! `validate`, `infra-params`, `dashboard`, `completions`) and a client for a running train's API (`status`, `cut`,
//! `history`, `schedule`, and the train commands `cancel`, `hold`, `resume`, `approve`,
//! `retry`, `expedite`, `rollback`: one subcommand per [`TrainCommand`]).

mod client;
mod demo;
mod init;
mod local;
mod plan;
mod render;
mod serve;
mod sigv4;
mod simulate;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use train_core::TrainCommand;

/// Exit status for a configuration or usage mistake (clap uses the same).
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "trainctl",
    version,
    about = "A scheduled release train: cut, soak, promote or cancel."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented release-train.toml for these repositories (paths or git URLs;
    /// none: the git repositories under the current directory), and starter buildspecs
    /// that succeed as they are in local repositories that have none.
    Init {
        repos: Vec<String>,
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// Write the file even if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Run the train: schedules in the configured zone, builds, commands on the socket
    /// DATA/serve.sock (as the calling OS user) and the status page on 127.0.0.1.
    Serve {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// Where trains, build logs and manifests are kept (private to you: 0700).
        #[arg(long, env = "TRAINCTL_DATA", default_value = ".release-train")]
        data: PathBuf,
        /// Address for the status page and reads; port 0 picks a free port (written to
        /// DATA/serve.addr). Commands are never taken over TCP.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Let the members of this group act too, each under their own name (DATA 0750,
        /// the socket 0660 of GROUP).
        #[arg(long, value_name = "GROUP")]
        share_with: Option<String>,
    },
    /// A whole week on a simulated clock with three sample components, in seconds.
    Demo {
        /// Cancel the train during the soak and show that nothing reaches production.
        #[arg(long)]
        cancel: bool,
        /// Keep the sample repositories, logs and manifests in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Your configuration's next week on a simulated clock: its repositories, its
    /// buildspecs, its schedules and policies, in seconds.
    Simulate {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// Cancel the train this long after the cut (e.g. 30h), if it is soaking then.
        #[arg(long, value_name = "SPAN")]
        cancel_at: Option<String>,
        /// Make a component's staging builds fail (COMPONENT:production: its production
        /// builds), in their build phase, without touching its repository: what the train
        /// does then follows `on_component_failure`. May be given more than once.
        #[arg(long, value_name = "COMPONENT[:production]")]
        fail: Vec<String>,
        /// Keep the build logs, manifests and trains in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// The next cut and promote times in the train's zone, marking those a freeze blocks.
    Plan {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// How many weeks' worth of firings to show.
        #[arg(long, default_value_t = 4)]
        count: usize,
    },
    /// Check a configuration file; errors name the line and the fix (exit status 2).
    Validate {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
    },
    /// The SAM template's parameters from the configuration, in the form
    /// `sam deploy --parameter-overrides "$(trainctl infra-params)"` takes.
    InfraParams {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// A member account's stack (`infra/member-account.yaml`) instead: a stage
        /// `[accounts]` names (staging, production) or a 12-digit account id.
        #[arg(long)]
        member: Option<String>,
        /// The train stack's outputs as `aws cloudformation describe-stacks --stack-name
        /// NAME --query 'Stacks[0].Outputs'` prints them: the member parameters that come
        /// from the train stack (its account, function roles, external id and bus).
        #[arg(long, requires = "member")]
        outputs: Option<PathBuf>,
    },
    /// What a month of this train costs on AWS: a simulated month of it counted (metric
    /// series and the hours each is sent in, alarms, invocations, requests, log bytes) and
    /// priced at the published us-east-1 rates, beside what `CodePipeline` would cost.
    Cost {
        #[arg(long, short, default_value = "release-train.toml")]
        config: PathBuf,
        /// The month to count, YYYY-MM (default: next month).
        #[arg(long)]
        month: Option<String>,
        /// Print the bill, its counts and assumptions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The CloudWatch dashboard body `infra/template.yaml` embeds (generated from the
    /// metrics the code emits, with `${...}` placeholders for CloudFormation's `!Sub`).
    Dashboard,
    /// A completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `trainctl completions bash > ~/.local/share/bash-completion/completions/trainctl`.
    Completions { shell: clap_complete::Shell },
    /// A JSON Schema of release-train.toml, for editors that check TOML against one
    /// (e.g. `trainctl schema > release-train.schema.json`).
    Schema,
    /// Recent trains, or one train in detail.
    Status {
        id: Option<String>,
        #[command(flatten)]
        api: client::ApiArgs,
    },
    /// A build's log: the file in local mode (`--follow` prints it as it grows until the
    /// build ends), the CloudWatch Logs link on AWS.
    Logs {
        /// The train, e.g. weekly-2026-W48.
        id: String,
        component: String,
        #[arg(long, value_enum, default_value = "staging")]
        stage: client::LogStage,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        api: client::ApiArgs,
    },
    /// Cut a train now, outside the schedule (a hotfix or a trial). Requires a reason.
    Cut {
        /// Why (1 to 500 characters, one line); kept in the audit trail.
        #[arg(long, short)]
        reason: String,
        #[command(flatten)]
        api: client::ApiArgs,
    },
    /// Cancel a train before it promotes. Requires a reason.
    Cancel(client::ActionArgs),
    /// Block a train's promotion until it is resumed. Requires a reason.
    Hold(client::ActionArgs),
    /// Lift a hold. Requires a reason.
    Resume(client::ActionArgs),
    /// Approve a train's promotion (when release-train.toml asks for approvals).
    Approve(client::ActionArgs),
    /// Build the failed components again.
    Retry(client::ActionArgs),
    /// Promote once staging is green, without waiting for the soak or the promote time.
    Expedite(client::ActionArgs),
    /// Ship the previous release's commits again (a released train only).
    Rollback(client::ActionArgs),
    /// The schedule: whether it is paused, a skipped cut, the next firings; or pause it,
    /// resume it, skip the next cut.
    Schedule {
        #[command(subcommand)]
        command: Option<client::ScheduleCmd>,
        #[command(flatten)]
        api: client::ApiArgs,
    },
    /// A train's audit trail: every decision and command, with actor, time and reason.
    History {
        id: String,
        #[command(flatten)]
        api: client::ApiArgs,
    },
}

impl Command {
    /// The subcommand of each train command: a new [`TrainCommand`] does not compile here
    /// until `trainctl` has a subcommand for it (and the test below checks its name).
    #[cfg(test)]
    fn for_train(command: TrainCommand, args: client::ActionArgs) -> Self {
        match command {
            TrainCommand::Cancel => Self::Cancel(args),
            TrainCommand::Hold => Self::Hold(args),
            TrainCommand::Resume => Self::Resume(args),
            TrainCommand::Approve => Self::Approve(args),
            TrainCommand::Retry => Self::Retry(args),
            TrainCommand::Expedite => Self::Expedite(args),
            TrainCommand::Rollback => Self::Rollback(args),
        }
    }
}

/// Exit status of a command whose reader went away (`trainctl plan | head`): the status a
/// shell shows for a process that SIGPIPE ended, 128 + 13.
const EXIT_BROKEN_PIPE: i32 = 141;

/// Ends the process quietly when stdout's reader has gone away.
///
/// Rust ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error, and `println!`
/// (and clap's completion writer) panic on it: exit 101 and a panic message for what is,
/// to a shell user, an ordinary `| head`. Resetting the signal would need `unsafe`, which
/// the workspace forbids; so the hook recognises the broken pipe in the panic message
/// ("Broken pipe (os error 32)", `io::ErrorKind::BrokenPipe`'s text) and exits as a
/// SIGPIPE-ended process would. Every other panic goes to the default hook unchanged.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .payload_as_str()
            .is_some_and(|message| message.contains("Broken pipe"))
        {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAINCTL_LOG")
        .unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match cli.command {
        Command::Serve {
            config,
            data,
            listen,
            share_with,
        } => serve::run(&serve::Options {
            config,
            data,
            listen,
            share_with,
        }),
        Command::Init {
            repos,
            config,
            force,
        } => init::run(&repos, &config, force),
        Command::Demo { cancel, keep } => demo::run(cancel, keep.as_deref()),
        Command::Simulate {
            config,
            cancel_at,
            fail,
            keep,
        } => simulate::run(&config, cancel_at.as_deref(), &fail, keep.as_deref()),
        Command::Schema => {
            let schema = train_core::config::schema::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "trainctl",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Plan { config, count } => plan::plan(&config, count),
        Command::Validate { config } => plan::validate(&config),
        Command::InfraParams {
            config,
            member,
            outputs,
        } => plan::infra_params(&config, member.as_deref(), outputs.as_deref()),
        Command::Cost {
            config,
            month,
            json,
        } => plan::cost(&config, month.as_deref(), json),
        Command::Dashboard => {
            let names = train_core::metrics::DashboardNames::template();
            println!("{}", train_core::metrics::dashboard_text(&names));
            ExitCode::SUCCESS
        }
        Command::Status { id, api } => client::status(&api, id.as_deref()),
        Command::Logs {
            id,
            component,
            stage,
            follow,
            api,
        } => client::logs(&api, &id, &component, stage, follow),
        Command::Cut { reason, api } => client::cut(&reason, &api),
        Command::Cancel(args) => client::act(TrainCommand::Cancel, &args),
        Command::Hold(args) => client::act(TrainCommand::Hold, &args),
        Command::Resume(args) => client::act(TrainCommand::Resume, &args),
        Command::Approve(args) => client::act(TrainCommand::Approve, &args),
        Command::Retry(args) => client::act(TrainCommand::Retry, &args),
        Command::Expedite(args) => client::act(TrainCommand::Expedite, &args),
        Command::Rollback(args) => client::act(TrainCommand::Rollback, &args),
        Command::History { id, api } => client::history(&api, &id),
        Command::Schedule { command, api } => client::schedule(&api, command.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use train_core::ScheduleCommand;

    /// Each train command is the subcommand of its own name, with the id and a reason.
    #[test]
    fn every_train_command_is_the_subcommand_of_its_name() {
        for &c in TrainCommand::ALL {
            let cli = Cli::try_parse_from(["trainctl", c.as_str(), "weekly-2026-W48", "-r", "why"])
                .unwrap_or_else(|e| panic!("{}: {e}", c.as_str()));
            let (Command::Cancel(args)
            | Command::Hold(args)
            | Command::Resume(args)
            | Command::Approve(args)
            | Command::Retry(args)
            | Command::Expedite(args)
            | Command::Rollback(args)) = cli.command
            else {
                panic!("{} is not a train command", c.as_str());
            };
            assert_eq!(
                (args.id.as_str(), args.reason.as_str()),
                ("weekly-2026-W48", "why")
            );
            let again =
                Cli::try_parse_from(["trainctl", c.as_str(), "weekly-2026-W48", "-r", "why"])
                    .unwrap()
                    .command;
            assert_eq!(
                format!("{:?}", Command::for_train(c, args)),
                format!("{again:?}"),
                "{} parses as another command",
                c.as_str()
            );
        }
    }

    #[test]
    fn every_schedule_command_is_the_schedule_subcommand_of_its_name() {
        for &c in ScheduleCommand::ALL {
            let cli = Cli::try_parse_from(["trainctl", "schedule", c.as_str(), "-r", "why"])
                .unwrap_or_else(|e| panic!("{}: {e}", c.as_str()));
            let Command::Schedule {
                command: Some(cmd), ..
            } = cli.command
            else {
                panic!("{} is not a schedule command", c.as_str());
            };
            assert_eq!(cmd.command(), (c, "why"));
        }
    }
}
