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

/// The person at the keyboard, as local mode's authenticated actor.
pub fn local_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Actor::parse(&format!("local:{user}"))
        .unwrap_or_else(|_| Actor::parse("local:unknown").expect("valid actor"))
}
