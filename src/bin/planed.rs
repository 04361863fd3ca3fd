//! planed: the plane daemon. Stays in the foreground, logs to stderr.
//!
//! `planed --config F` runs it; `planed --check-config --config F` only checks
//! the config: exit 0 with a one-line summary on stdout, or every error
//! (file:line:col: key: why) on stderr and exit 1.
//!
//! Exit codes: 0 success, 1 config or runtime error, 2 usage error (clap).

use clap::Parser;
use plane::config::{Config, DEFAULT_CONFIG_PATH};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "planed",
    version,
    about = "plane BGP-EVPN overlay switch daemon"
)]
struct Cli {
    /// Config file.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Check the config file and exit: 0 when valid, 1 with every error.
    #[arg(long)]
    check_config: bool,
    /// Control socket path, overriding `[control] socket`.
    #[arg(long, value_name = "PATH", env = "PLANE_SOCKET")]
    socket: Option<PathBuf>,
    /// Where local endpoints are kept across restarts.
    #[arg(long, value_name = "FILE", env = "PLANE_STATE_FILE", default_value = plane::daemon::DEFAULT_STATE_FILE)]
    state_file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            if !cli.check_config {
                eprintln!("planed: not started: invalid config");
            }
            return ExitCode::from(1);
        }
    };
    if cli.check_config {
        println!("{}: OK: {}", cli.config.display(), config.summary());
        return ExitCode::SUCCESS;
    }
    if let Some(socket) = cli.socket {
        config.control.socket = socket;
    }
    if let Err(e) = init_logging(&config.log.level) {
        eprintln!("planed: {e}");
        return ExitCode::from(1);
    }
    let opts = plane::daemon::DaemonOptions {
        config_path: cli.config.clone(),
        state_file: cli.state_file,
    };
    match plane::daemon::run(config, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr; `PLANE_LOG` (tracing filter syntax) overrides the
/// configured level.
fn init_logging(configured: &str) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let (filter, source) = match std::env::var("PLANE_LOG") {
        Ok(f) if !f.is_empty() => (f, "PLANE_LOG"),
        _ => (configured.to_string(), "[log] level"),
    };
    let filter = EnvFilter::builder()
        .parse(&filter)
        .map_err(|e| format!("{source}: invalid tracing filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for people: a journal, a file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}
