//! plane-cni: the CNI plugin of plane (see `plane::cni` and
//! docs/containers.md). The runtime sets `CNI_COMMAND` and the other
//! `CNI_*` variables and writes the network configuration on stdin; the
//! result or error JSON goes to stdout, logs (`PLANE_LOG`, default `warn`)
//! to stderr. Exit status 0 on success, 1 with an error object otherwise.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLANE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let env = plane::cni::Env::from_process();
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => plane::cni::run(&env, &stdin),
        Err(e) => plane::cni::Outcome {
            stdout: plane::cni::CniError::new(
                plane::cni::Code::Io,
                format!("cannot read the network configuration from stdin: {e}"),
            )
            .to_json(plane::cni::CNI_VERSION)
            .to_string(),
            success: false,
        },
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(outcome.stdout.as_bytes())
        .and_then(|()| {
            if outcome.stdout.is_empty() {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    if written.is_err() || !outcome.success {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
