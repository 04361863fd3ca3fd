//! planed's wiring: the BGP speaker, the dataplane and the control socket
//! connected by bounded channels, plus signals, reload and the endpoint
//! state file.
//!
//! ```text
//!  planectl / plane-cni ─▶ control server ─ControlCall─▶ ┌──────────┐ ─originate/withdraw─▶ speaker task (RIB)
//!                                                        │   core   │ ─add/remove port───▶ dataplane task
//!  SIGHUP (reload), SIGTERM/SIGINT (stop) ─────────────▶ │   task   │ ─state file (endpoints.json)
//!                                                        └──────────┘
//!  speaker ─Vec<RibEvent>─▶ remote task (RemoteTable) ─Vec<Change>─▶ dataplane ─▶ kernel
//!  dataplane ─Event─▶ dataplane-event task (logs failures and conflicts)
//!  resync task: once every peer's End-of-RIB is in after a start, dataplane.resync()
//! ```
//!
//! Owners: the core task owns the config and the endpoint table; the remote
//! task owns the remote-route table; the speaker owns the RIB, the dataplane
//! task the desired kernel state. No cycle of waits: the speaker blocks
//! only on the remote task, which blocks only on the dataplane, which never
//! blocks on anyone.
//!
//! Start and restart (RFC 4724 restarting speaker with forwarding state
//! preserved): the dataplane adopts what the kernel has; the VNIs are set;
//! endpoints of the state file are re-attached and re-originated BEFORE any
//! neighbour is added, so that the End-of-RIB each peer gets covers them;
//! remote routes come back from the peers (which kept ours as GR helpers);
//! only when every neighbour has sent its End-of-RIB (or the selection
//! deferral bound, `select_defer_time`, passed) does the dataplane resync
//! remove what is no longer wanted. Restarting, the speaker also holds back
//! its own UPDATEs and End-of-RIB until then (RFC 4724 section 4.1), so that
//! a peer gets one complete table, reflected routes included, before it
//! drops the stale copy of ours. On SIGTERM the peers get a Cease and the
//! kernel state stays in place.
//!
//! What it never does: call netlink or BGP directly; parse config (that is
//! `crate::config`).

mod convert;
mod core;
pub mod endpoints;
pub mod remote;
mod veth;

use crate::config::Config;
use crate::control::{self, ControlServer, ServerOptions};
use plane_bgp::speaker;
use plane_dataplane::netlink::NetlinkOptions;
use plane_dataplane::task::{Dataplane, Event};
use remote::RemoteTable;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// Where endpoints are kept across restarts unless `--state-file` says.
pub const DEFAULT_STATE_FILE: &str = "/run/plane/endpoints.json";

/// What planed needs besides the config.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The config file, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The endpoint state file.
    pub state_file: PathBuf,
}

/// Why planed could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    State(#[from] endpoints::StateError),
    #[error("dataplane: {0}")]
    Dataplane(String),
    #[error("BGP: {0}")]
    Speaker(#[from] speaker::SpeakerError),
    #[error(transparent)]
    Control(#[from] control::ServerError),
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// Runs planed until SIGTERM or SIGINT.
pub fn run(config: Config, opts: DaemonOptions) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(daemon(config, opts))
}

/// True when an interface of this name exists in planed's namespace.
pub(crate) fn if_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

async fn daemon(config: Config, opts: DaemonOptions) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;

    let saved = endpoints::load(&opts.state_file)?;
    let restarting = saved.is_some();
    info!(
        summary = %config.summary(),
        state_file = %opts.state_file.display(),
        restarting,
        "planed starting"
    );

    let (dataplane, dp_events) = Dataplane::start_netlink(NetlinkOptions::default())
        .await
        .map_err(|e| DaemonError::Dataplane(e.to_string()))?;
    tokio::spawn(log_dataplane_events(dp_events));

    let (speaker, rib_events, speaker_task) =
        speaker::start(convert::speaker(&config, restarting)).await?;
    tokio::spawn(remote_task(rib_events, dataplane.clone()));

    let server = ControlServer::bind(ServerOptions {
        access: control::AccessPolicy::from_group_name(config.control.group.as_deref())?,
        ..ServerOptions::new(&config.control.socket)
    })?;

    // The bound convert::speaker gave the speaker's start-up window.
    let selection_deferral = convert::selection_deferral(&config);
    let mut core = core::Core::new(config, opts, speaker.clone(), dataplane.clone());
    core.start(saved.unwrap_or_default()).await;

    let (handler, mut calls) = control::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server.serve(Arc::new(handler), async {
        let _ = stop_rx.await;
    }));
    // After core.start: every neighbour is added, so the first
    // initial_sync call closes the set the start-up window waits for.
    tokio::spawn(resync_after_end_of_rib(speaker.clone(), dataplane.clone()));
    info!(?selection_deferral, "planed running");

    loop {
        tokio::select! {
            Some(call) = calls.recv() => {
                let reply = core.handle(call.request).await;
                let _ = call.reply.send(reply);
            }
            _ = sighup.recv() => core.reload().await,
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
        }
    }
    // Kernel state stays: a restarted planed adopts it without a lost packet.
    let _ = stop_tx.send(());
    if let Err(e) = speaker.shutdown("planed stopping").await {
        debug!("speaker shutdown: {e}");
    }
    let _ = speaker_task.await;
    let _ = server_task.await;
    info!("planed stopped; kernel forwarding state left in place");
    Ok(())
}

/// Feeds the RIB's remote best paths into the dataplane, one apply per batch.
async fn remote_task(mut events: mpsc::Receiver<Vec<plane_bgp::rib::RibEvent>>, dp: Dataplane) {
    let mut table = RemoteTable::default();
    while let Some(batch) = events.recv().await {
        let mut changes = Vec::with_capacity(batch.len() * 2);
        for ev in batch {
            table.apply(ev, &mut changes);
        }
        // Coalesce what is queued behind: one kernel pass for a burst.
        while let Ok(more) = events.try_recv() {
            for ev in more {
                table.apply(ev, &mut changes);
            }
        }
        if changes.is_empty() {
            continue;
        }
        match dp.apply(changes).await {
            Ok(report) => {
                for r in &report.refused {
                    warn!("dataplane refused a remote route: {r}");
                }
                for f in &report.failed {
                    error!(op = ?f.op, "dataplane operation failed: {}", f.error);
                }
                for c in &report.conflicts {
                    warn!("dataplane conflict: {c}");
                }
            }
            Err(e) => {
                error!("dataplane: {e}; remote routes are no longer programmed");
                return;
            }
        }
    }
}

async fn log_dataplane_events(mut events: mpsc::Receiver<Event>) {
    while let Some(ev) = events.recv().await {
        match ev {
            Event::OpFailed { op, error } => error!(?op, "dataplane operation failed: {error}"),
            Event::Conflict(c) => warn!("dataplane conflict: {c}"),
            Event::Resynced { ops } => info!(ops, "dataplane resynced with the kernel"),
            other => debug!(event = ?other, "dataplane event"),
        }
    }
}

/// After a start, waits for the speaker's start-up window to end (every
/// neighbour's End-of-RIB, or the selection deferral bound), then lets the
/// dataplane remove the kernel state that no route wants any more.
async fn resync_after_end_of_rib(speaker: speaker::SpeakerHandle, dp: Dataplane) {
    let sync = match speaker.initial_sync().await {
        Ok(s) => s,
        Err(e) => {
            debug!("no initial sync: {e}");
            return;
        }
    };
    if sync.missing.is_empty() {
        info!(
            neighbors = sync.end_of_rib.len(),
            elapsed = ?sync.elapsed,
            "End-of-RIB from every neighbour: removing stale kernel state"
        );
    } else {
        warn!(
            missing = ?sync.missing,
            elapsed = ?sync.elapsed,
            "no End-of-RIB from some neighbours within the selection deferral bound: \
             removing stale kernel state anyway"
        );
    }
    match dp.resync().await {
        Ok(r) => info!(
            ops = r.ops,
            failed = r.failed.len(),
            "initial dataplane resync done: stale kernel state removed"
        ),
        Err(e) => error!("initial dataplane resync: {e}"),
    }
}
