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
    let socket_overridden = cli.socket.is_some();
    if let Some(socket) = cli.socket {
        config.control.socket = socket;
    }
    let log = match plane::daemon::LogFilter::init(&config.log.level) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("planed: {e}");
            return ExitCode::from(1);
        }
    };
    let opts = plane::daemon::DaemonOptions {
        config_path: cli.config.clone(),
        state_file: cli.state_file,
        log,
        socket_overridden,
    };
    match plane::daemon::run(config, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
