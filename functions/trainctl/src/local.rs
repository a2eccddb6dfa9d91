//! Loading a configuration file and opening local mode, shared by the commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use train_core::{Actor, Config};

use crate::EXIT_CONFIG;

/// The parsed configuration and the directory its relative paths start from, or the
/// exit code after printing every mistake as `file:line: field: message`.
pub fn load_config(path: &Path) -> Result<(Arc<Config>, PathBuf), ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{}: cannot read the configuration: {e}", path.display());
        ExitCode::from(EXIT_CONFIG)
    })?;
    let config = Config::parse(&text).map_err(|e| {
        eprintln!("{}", e.render(&path.display().to_string()));
        ExitCode::from(EXIT_CONFIG)
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    Ok((Arc::new(config), dir))
}

/// The OS account `uid` as local mode's actor, `local:NAME` (`local:uid-N` for an account
/// with no name): who the kernel says is on the other end of the socket.
pub fn actor_for_uid(uid: u32) -> Actor {
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid-{uid}"), |u| u.name);
    Actor::parse(&format!("local:{name}"))
        .or_else(|_| Actor::parse(&format!("local:uid-{uid}")))
        .expect("a uid always forms a valid actor")
}

/// The account running this process (the demo's person at the keyboard): from the OS,
/// not from `$USER`, which may be unset or say anything.
pub fn local_actor() -> Actor {
    actor_for_uid(nix::unistd::geteuid().as_raw())
}
