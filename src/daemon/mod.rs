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
//! Logging: planed's subscriber filters through a reload layer
//! ([`LogFilter`]), so that a SIGHUP applies a changed `[log] level`.
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
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Where endpoints are kept across restarts unless `--state-file` says.
pub const DEFAULT_STATE_FILE: &str = "/run/plane/endpoints.json";

/// What planed needs besides the config.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The config file, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The endpoint state file.
    pub state_file: PathBuf,
    /// The running log filter, which SIGHUP changes with `[log] level`.
    pub log: LogFilter,
    /// `--socket` / `PLANE_SOCKET` replaced `[control] socket`: a reload
    /// ignores the file's value instead of asking for a restart.
    pub socket_overridden: bool,
}

/// The log filter of the running subscriber (`[log] level`, or
/// `PLANE_LOG`), which a SIGHUP can replace without a restart.
///
/// `PLANE_LOG` set at start wins over the file for the whole life of the
/// process: a reload then leaves the filter alone.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// `None`: no subscriber of ours (an embedder or a test): nothing to change.
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    /// The value of `PLANE_LOG` when it overrides `[log] level`.
    env: Option<String>,
}

impl LogFilter {
    /// Installs planed's global subscriber: plain text on stderr (colours
    /// only on a terminal), filtered by `PLANE_LOG` (tracing filter syntax)
    /// when set and not empty, else by `configured` (`[log] level`).
    pub fn init(configured: &str) -> Result<LogFilter, String> {
        let env = std::env::var("PLANE_LOG").ok().filter(|f| !f.is_empty());
        let (filter, source) = match &env {
            Some(f) => (f.as_str(), "PLANE_LOG"),
            None => (configured, "[log] level"),
        };
        let filter = EnvFilter::builder()
            .parse(filter)
            .map_err(|e| format!("{source}: invalid tracing filter {filter:?}: {e}"))?;
        let (filter, handle) = reload::Layer::new(filter);
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours only for people: a journal, a file or a pipe gets plain text.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init()
            .map_err(|e| format!("cannot set up logging: {e}"))?;
        Ok(LogFilter {
            handle: Some(handle),
            env,
        })
    }

    /// A filter changed through `handle` (tests, embedders with their own
    /// subscriber built on a [`reload::Layer`]).
    pub fn from_handle(handle: reload::Handle<EnvFilter, Registry>) -> LogFilter {
        LogFilter {
            handle: Some(handle),
            env: None,
        }
    }

    /// The value of `PLANE_LOG` when it overrides `[log] level`: then
    /// [`LogFilter::set`] changes nothing.
    pub fn env_override(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Checks `filter` (tracing filter syntax, as `[log] level`).
    pub fn parse(filter: &str) -> Result<EnvFilter, String> {
        EnvFilter::builder()
            .parse(filter)
            .map_err(|e| format!("invalid tracing filter {filter:?}: {e}"))
    }

    /// Replaces the filter with `filter` (tracing filter syntax, as
    /// `[log] level`), unless `PLANE_LOG` overrides it or there is no
    /// subscriber of ours. Fails, leaving the old filter, when `filter`
    /// does not parse or the subscriber is gone.
    pub fn set(&self, filter: &str) -> Result<(), String> {
        let (None, Some(handle)) = (&self.env, &self.handle) else {
            return Ok(());
        };
        handle
            .reload(LogFilter::parse(filter)?)
            .map_err(|e| format!("cannot change the log filter: {e}"))
    }

    /// The filter in force, as text; `None` without a subscriber of ours.
    pub fn current(&self) -> Option<String> {
        self.handle.as_ref()?.with_current(|f| f.to_string()).ok()
    }
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
