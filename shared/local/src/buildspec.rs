//! CodeBuild buildspec (version 0.2) to one bash script with CodeBuild's phase rules, as the
//! "Build specification reference for CodeBuild"
//! (<https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html>) and
//! "Build phase transitions"
//! (<https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html>)
//! state them:
//!
//! - each command runs in a subshell of one shell: its exit status (`exit 3` included) ends
//!   that command only, and its `cd`, variables (`export` or not) and functions carry over
//!   to the next command, as in version 0.2's one shell instance;
//! - a phase stops at its first failing command, then runs its `finally` commands; a
//!   failing `finally` command fails the phase;
//! - a failed phase fails the build; with `on-failure: ABORT` (the default) later phases are
//!   skipped, except that `post_build` still runs after a failed `build` (with
//!   `CODEBUILD_BUILD_SUCCEEDING=0`); with `on-failure: CONTINUE` the next phase runs;
//! - the log has CodeBuild's lines (`[Container] <time> Running command ...`, `Command did
//!   not exit successfully ... exit status N`, `Phase complete: BUILD State: FAILED`);
//! - `env.variables` are exported before the first phase.
//!
//! Not carried between commands: shell options (`set -e`, `shopt`) and traps.
//!
//! `YAML` parsing uses `serde_norway`, the maintained fork of the archived `serde_yaml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

const PHASES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

#[derive(Debug, Deserialize)]
struct Raw {
    version: serde_norway::Value,
    #[serde(default)]
    env: Option<RawEnv>,
    #[serde(default)]
    phases: BTreeMap<String, Option<RawPhase>>,
}

#[derive(Debug, Deserialize)]
struct RawEnv {
    #[serde(default)]
    variables: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPhase {
    #[serde(default)]
    on_failure: Option<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    finally: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub abort_on_failure: bool,
    pub commands: Vec<String>,
    pub finally: Vec<String>,
}

/// A buildspec that parsed and makes sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    pub variables: BTreeMap<String, String>,
    pub phases: Vec<Phase>,
}

fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Buildspec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw =
            serde_norway::from_str(text).map_err(|e| format!("not a valid buildspec: {e}"))?;
        if scalar(&raw.version).as_deref() != Some("0.2") {
            return Err(format!(
                "buildspec version {:?} is not supported; write `version: 0.2`",
                scalar(&raw.version).unwrap_or_default()
            ));
        }
        let mut variables = BTreeMap::new();
        for (k, v) in raw.env.map(|e| e.variables).unwrap_or_default() {
            if !is_env_name(&k) {
                return Err(format!("env.variables: {k:?} is not a valid variable name"));
            }
            let v = scalar(&v).ok_or_else(|| {
                format!("env.variables.{k}: use a plain string, number or boolean")
            })?;
            variables.insert(k, v);
        }
        if let Some(unknown) = raw.phases.keys().find(|k| !PHASES.contains(&k.as_str())) {
            return Err(format!(
                "unknown phase {unknown:?}; phases are install, pre_build, build and post_build"
            ));
        }
        let mut phases = Vec::new();
        let mut raw_phases = raw.phases;
        for name in PHASES {
            let Some(Some(p)) = raw_phases.remove(name) else {
                continue;
            };
            let abort_on_failure = match p.on_failure.as_deref() {
                None | Some("ABORT") => true,
                Some("CONTINUE") => false,
                Some(other) => {
                    return Err(format!(
                        "phases.{name}.on-failure: {other:?} is not ABORT or CONTINUE"
                    ));
                }
            };
            if p.commands.is_empty() && p.finally.is_empty() {
                continue;
            }
            phases.push(Phase {
                name,
                abort_on_failure,
                commands: p.commands,
                finally: p.finally,
            });
        }
        Ok(Self { variables, phases })
    }

    /// The script that runs this buildspec, with `env` (the train's variables) exported
    /// first and the buildspec's own variables after them.
    /// Makes the build fail on purpose, as a failing test would: its `build` phase (made if
    /// the buildspec has none) starts with a command that says why and exits 1, after
    /// `install` and `pre_build` ran as usual and before `post_build` (`trainctl simulate
    /// --fail`).
    pub fn fail_on_purpose(&mut self, why: &str) {
        let command = format!("echo {}; exit 1", quote(why));
        if let Some(build) = self.phases.iter_mut().find(|p| p.name == "build") {
            build.commands.insert(0, command);
            return;
        }
        let at = self
            .phases
            .iter()
            .position(|p| p.name == "post_build")
            .unwrap_or(self.phases.len());
        self.phases.insert(
            at,
            Phase {
                name: "build",
                abort_on_failure: true,
                commands: vec![command],
                finally: Vec::new(),
            },
        );
    }

    pub fn script(&self, env: &BTreeMap<String, String>) -> String {
        let mut s = String::from("# Generated by release-train from the component's buildspec.\n");
        for (k, v) in env.iter().chain(&self.variables) {
            let _ = writeln!(s, "export {k}={}", quote(v));
        }
        s.push_str(PRELUDE);
        for phase in &self.phases {
            let upper = phase.name.to_ascii_uppercase();
            let may_run = if phase.name == "post_build" {
                r#"[ -z "$__rt_abort" ] || [ "$__rt_abort" = build ]"#
            } else {
                r#"[ -z "$__rt_abort" ]"#
            };
            let _ = writeln!(
                s,
                "\nif {may_run}; then\n  __rt_log 'Entering phase {upper}'\n  __rt_ok=1\n  __rt_why="
            );
            for cmd in &phase.commands {
                Self::command(&mut s, cmd, "__rt_ok");
            }
            if !phase.finally.is_empty() {
                s.push_str("  __rt_fin=1\n");
                for cmd in &phase.finally {
                    Self::command(&mut s, cmd, "__rt_fin");
                }
                s.push_str("  [ \"$__rt_fin\" = 1 ] || __rt_ok=0\n");
            }
            let _ = writeln!(
                s,
                "  if [ \"$__rt_ok\" = 1 ]; then\n    __rt_log 'Phase complete: {upper} State: SUCCEEDED'\n  else"
            );
            let _ = writeln!(
                s,
                "    __rt_log 'Phase complete: {upper} State: FAILED'\n    __rt_log \"Phase context status code: COMMAND_EXECUTION_ERROR Message: $__rt_why\"\n    __rt_failed=1\n    export CODEBUILD_BUILD_SUCCEEDING=0"
            );
            if phase.abort_on_failure {
                let _ = writeln!(s, "    __rt_abort={}", phase.name);
            }
            s.push_str("  fi\nelse\n");
            let _ = writeln!(
                s,
                "  echo '[release-train] Skipping phase {upper}: an earlier phase failed'\nfi"
            );
        }
        s.push_str("\nexit $__rt_failed\n");
        s
    }

    /// One command: run in a subshell so that its `exit` ends the command only, then its
    /// variables, functions and working directory are carried back into this shell (the
    /// subshell's EXIT trap writes them, this shell sources them at top level, where
    /// `declare` makes globals).
    fn command(s: &mut String, cmd: &str, flag: &str) {
        let _ = writeln!(s, "  if [ \"${flag}\" = 1 ]; then");
        let _ = writeln!(s, "    __rt_c={}", quote(cmd));
        s.push_str("    __rt_log \"Running command $__rt_c\"\n");
        s.push_str("    : > \"$__rt_state\"\n");
        s.push_str(
            "    ( __rt_before=$(compgen -v); trap '__rt_s=$?; __rt_keep; exit $__rt_s' EXIT; eval \"$__rt_c\" )\n",
        );
        s.push_str("    __rt_rc=$?\n");
        s.push_str("    . \"$__rt_state\"\n");
        let _ = writeln!(
            s,
            "    if [ $__rt_rc != 0 ]; then\n      __rt_log \"Command did not exit successfully $__rt_c exit status $__rt_rc\"\n      __rt_why=\"Error while executing command: $__rt_c. Reason: exit status $__rt_rc\"\n      {flag}=0\n    fi"
        );
        s.push_str("  fi\n");
    }
}

/// The helpers every generated script starts with. `__rt_keep` writes the shell's state
/// as code: every variable but bash's own and read-only ones (`declare -p`), the variables
/// the command unset, every function (`declare -f`) and the working directory.
const PRELUDE: &str = r#"export CODEBUILD_BUILD_SUCCEEDING=1
__rt_failed=0
__rt_abort=
__rt_state=$(mktemp) || exit 1
trap 'rm -f "$__rt_state"' EXIT
__rt_log() { printf '[Container] %(%Y/%m/%d %H:%M:%S)T %s\n' -1 "$*"; }
__rt_special() {
  case $1 in
    __rt_* | BASH* | _ | COMP_WORDBREAKS | DIRSTACK | EPOCHREALTIME | EPOCHSECONDS | FUNCNAME | \
      GROUPS | HISTCMD | LINENO | OLDPWD | OPTERR | OPTIND | PIPESTATUS | PPID | PWD | RANDOM | \
      SECONDS | SHLVL | SRANDOM | EUID | UID | SHELLOPTS) return 0 ;;
  esac
  [[ ${!1@a} == *r* ]]
}
__rt_keep() {
  local __rt_n __rt_vars=()
  for __rt_n in $(compgen -v); do
    __rt_special "$__rt_n" || __rt_vars+=("$__rt_n")
  done
  {
    [ ${#__rt_vars[@]} = 0 ] || declare -p "${__rt_vars[@]}"
    for __rt_n in $__rt_before; do
      __rt_special "$__rt_n" || declare -p "$__rt_n" > /dev/null 2>&1 || echo "unset -v $__rt_n"
    done
    declare -f
    printf 'cd -- %q\n' "$PWD"
  } > "$__rt_state" 2> /dev/null
}
"#;

/// Single-quotes a value for bash.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn run(spec: &str) -> (i32, String) {
        let script = Buildspec::parse(spec).unwrap().script(&BTreeMap::from([(
            "RELEASE_STAGE".into(),
            "staging".into(),
        )]));
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// One row of the CodeBuild behaviour table: a buildspec, the exit status the build
    /// ends with (0 succeeded, 1 failed), and lines its log must and must not have.
    struct Case {
        name: &'static str,
        spec: &'static str,
        code: i32,
        has: &'static [&'static str],
        lacks: &'static [&'static str],
    }

    /// The rules come from CodeBuild's documentation:
    /// - "Build specification reference for CodeBuild",
    ///   <https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html>:
    ///   `phases/*/finally` ("if the commands block contains three commands and the first
    ///   fails, CodeBuild skips the remaining two commands and runs any commands in the
    ///   finally block"; "If any command in a phase fails, the phase fails"),
    ///   `phases/*/on-failure` (ABORT aborts the build, CONTINUE continues to the next phase),
    ///   and version 0.2, where commands do not run in isolation (a `cd` or a variable set
    ///   by one command is seen by the next, unlike version 0.1);
    /// - "Build phase transitions",
    ///   <https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html>:
    ///   a failed INSTALL or `PRE_BUILD` ends the build, a failed BUILD still goes to
    ///   `POST_BUILD`;
    /// - "Environment variables in build environments",
    ///   <https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html>:
    ///   `CODEBUILD_BUILD_SUCCEEDING` is 0 once the build is failing;
    /// - the log lines (`Running command`, `Phase complete: POST_BUILD State: SUCCEEDED`) are
    ///   the ones the CodeBuild user guide's sample logs show ("Codecov integration",
    ///   <https://docs.aws.amazon.com/codebuild/latest/userguide/codecov-integration.html>).
    const CASES: &[Case] = &[
        Case {
            name: "exit 3 in build ends the command and the phase, not the build script",
            spec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo one\n      - exit 3\n      - echo never\n    finally:\n      - echo cleanup\n  post_build:\n    commands:\n      - echo \"post succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n",
            code: 1,
            has: &[
                "Running command exit 3",
                "Command did not exit successfully exit 3 exit status 3",
                "cleanup",
                "Phase complete: BUILD State: FAILED",
                "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3",
                "post succeeding=0",
                "Phase complete: POST_BUILD State: SUCCEEDED",
            ],
            lacks: &["\nnever"],
        },
        Case {
            name: "exit 0 in a command ends that command only, and the next one runs",
            spec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo first; exit 0; echo unreached\n      - echo second\n",
            code: 0,
            has: &[
                "first",
                "\nsecond",
                "Phase complete: BUILD State: SUCCEEDED",
            ],
            lacks: &["\nunreached", "FAILED"],
        },
        Case {
            name: "cd, export, plain variables and unset carry over between commands and phases",
            spec: "version: 0.2\nphases:\n  install:\n    commands:\n      - mkdir -p /tmp/rt-buildspec-case && cd /tmp/rt-buildspec-case\n      - export EXPORTED=e; PLAIN=p; declare -a LIST=(x y); GONE=1\n      - unset GONE\n  build:\n    commands:\n      - echo \"at $(pwd) $EXPORTED $PLAIN ${LIST[1]} gone=${GONE-unset}\"\n      - bash -c 'echo child sees ${EXPORTED}'\n",
            code: 0,
            has: &["at /tmp/rt-buildspec-case e p y gone=unset", "child sees e"],
            lacks: &["FAILED"],
        },
        Case {
            name: "on-failure CONTINUE goes on to the next phase and the build still fails",
            spec: "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands:\n      - exit 4\n  build:\n    commands:\n      - echo \"built succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n",
            code: 1,
            has: &[
                "Command did not exit successfully exit 4 exit status 4",
                "Phase complete: INSTALL State: FAILED",
                "built succeeding=0",
                "Phase complete: BUILD State: SUCCEEDED",
            ],
            lacks: &[],
        },
        Case {
            name: "a failure in install aborts every later phase, post_build included",
            spec: "version: 0.2\nphases:\n  install:\n    commands:\n      - exit 2\n    finally:\n      - echo install-finally\n  pre_build:\n    commands:\n      - echo pre\n  build:\n    commands:\n      - echo built\n  post_build:\n    commands:\n      - echo post\n",
            code: 1,
            has: &["install-finally", "Phase complete: INSTALL State: FAILED"],
            lacks: &[
                "\npre\n",
                "\nbuilt",
                "\npost",
                "Entering phase BUILD",
                "Entering phase POST_BUILD",
            ],
        },
        Case {
            name: "a failing finally command fails its phase",
            spec: "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - echo fine\n    finally:\n      - exit 5\n      - echo after-finally\n  build:\n    commands:\n      - echo built\n",
            code: 1,
            has: &[
                "Command did not exit successfully exit 5 exit status 5",
                "Phase complete: PRE_BUILD State: FAILED",
            ],
            lacks: &["after-finally", "\nbuilt", "PRE_BUILD State: SUCCEEDED"],
        },
        Case {
            name: "a multi-line command runs whole, and its exit status is its last line's",
            spec: "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        for i in 1 2; do\n          echo \"line $i\"\n        done\n        test -n \"$i\"\n      - |\n        if true; then\n          exit 6\n        fi\n",
            code: 1,
            has: &[
                "line 1\nline 2",
                "exit status 6",
                "Phase complete: BUILD State: FAILED",
            ],
            lacks: &[],
        },
        Case {
            name: "a function defined in one command is callable in the next phase",
            spec: "version: 0.2\nphases:\n  install:\n    commands:\n      - 'greet() { echo \"hello $1\"; return 7; }'\n  build:\n    commands:\n      - greet world\n",
            code: 1,
            has: &[
                "hello world",
                "Command did not exit successfully greet world exit status 7",
            ],
            lacks: &["command not found"],
        },
    ];

    #[test]
    fn every_case_of_the_codebuild_behaviour_table_runs_as_codebuild_runs_it() {
        let mut wrong = Vec::new();
        for case in CASES {
            let script = Buildspec::parse(case.spec)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name))
                .script(&BTreeMap::new());
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let code = out.status.code().unwrap_or(-1);
            let missing: Vec<_> = case.has.iter().filter(|l| !log.contains(*l)).collect();
            let present: Vec<_> = case.lacks.iter().filter(|l| log.contains(*l)).collect();
            if code != case.code || !missing.is_empty() || !present.is_empty() {
                wrong.push(format!(
                    "{}: exit {code} (want {}), missing {missing:?}, unwanted {present:?}\n{log}",
                    case.name, case.code
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n---\n"));
    }

    #[test]
    fn commands_share_one_shell_and_see_variables() {
        let (code, out) = run(
            "version: 0.2\nenv:\n  variables:\n    GREETING: hi\n    N: 3\nphases:\n  install:\n    commands:\n      - export X=from-install\n      - cd /tmp\n  build:\n    commands:\n      - echo \"$X $(pwd) $GREETING $N $RELEASE_STAGE\"\n",
        );
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("from-install /tmp hi 3 staging"), "{out}");
    }

    #[test]
    fn failed_build_skips_nothing_after_but_post_build_and_finally() {
        let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo one\n      - 'false'\n      - echo never\n    finally:\n      - echo cleanup\n  post_build:\n    commands:\n      - echo \"post succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n";
        let (code, out) = run(spec);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("one") && !out.contains("\nnever") && out.contains("cleanup"),
            "{out}"
        );
        assert!(
            out.contains("post succeeding=0"),
            "post_build runs after a failed build: {out}"
        );
    }

    #[test]
    fn abort_in_install_skips_the_rest_and_continue_does_not() {
        let abort = "version: 0.2\nphases:\n  install:\n    commands: ['exit_code() { return 3; }; exit_code']\n  build:\n    commands: ['echo built']\n  post_build:\n    commands: ['echo post']\n";
        let (code, out) = run(abort);
        assert_eq!(code, 1);
        assert!(!out.contains("built") && !out.contains("\npost"), "{out}");
        assert!(out.contains("Skipping phase BUILD"), "{out}");

        let cont = "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands: ['false']\n  build:\n    commands: ['echo built']\n";
        let (code, out) = run(cont);
        assert_eq!(code, 1, "the build still fails");
        assert!(out.contains("built"), "{out}");
    }

    #[test]
    fn quoting_survives_hostile_commands() {
        let (code, out) = run(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"it's $((1+1))\" '$HOME'\n",
        );
        assert_eq!(code, 0);
        assert!(out.contains("it's 2 $HOME"), "{out}");
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(
            Buildspec::parse("version: 0.1\nphases: {}")
                .unwrap_err()
                .contains("0.2")
        );
        assert!(
            Buildspec::parse("version: 0.2\nphases:\n  deploy:\n    commands: [x]")
                .unwrap_err()
                .contains("unknown phase")
        );
        assert!(
            Buildspec::parse(
                "version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n    commands: [x]"
            )
            .unwrap_err()
            .contains("ABORT or CONTINUE")
        );
        assert!(
            Buildspec::parse(": : :")
                .unwrap_err()
                .contains("not a valid buildspec")
        );
    }
}
