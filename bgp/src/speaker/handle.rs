//! The speaker's public API: configuration, snapshots and [`SpeakerHandle`],
//! a cheap clonable sender whose async methods get their answers on oneshot
//! channels from the speaker task.

use crate::fsm::{GracefulRestartConfig, State};
use crate::rib::{DupMacDetection, DuplicateMac, RibError, RouteFilter, RouteView, VniImport};
use crate::session::md5::Md5Error;
use crate::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The speaker's configuration (the `[bgp]` section plus what the RIB needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Addresses to accept BGP connections on (`0.0.0.0:179`); may be empty.
    pub listen: Vec<SocketAddr>,
    /// Our VTEP: next hop of local routes, PMSI tunnel endpoint.
    pub vtep: IpAddr,
    pub vnis: Vec<VniImport>,
    /// RFC 4456 cluster id when reflecting (the router id when `None`).
    pub cluster_id: Option<Ipv4Addr>,
    /// Hold time proposed to every neighbour unless it sets its own.
    pub hold_time: u16,
    /// KEEPALIVE interval ([`crate::fsm::FsmConfig::keepalive`]); `None`: a
    /// third of each session's negotiated hold time.
    pub keepalive: Option<Duration>,
    /// Base of the connect retry backoff.
    pub connect_retry: Duration,
    /// What we advertise for graceful restart (`None`: no GR capability).
    /// With [`GracefulRestartConfig::restarting`] the speaker defers its
    /// UPDATEs and End-of-RIB until the peers' End-of-RIB (RFC 4724
    /// section 4.1; see [`SpeakerHandle::initial_sync`]).
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// RFC 4724 Selection_Deferral_Timer: the longest the start-up window
    /// waits for the neighbours' End-of-RIB (deferral of our advertisements
    /// when restarting, and [`SpeakerHandle::initial_sync`]).
    pub selection_deferral: Duration,
    /// Graceful restart helper (RFC 4724 section 4.2): once a restarting
    /// peer's session is back, how long its stale routes are kept waiting
    /// for its End-of-RIB (FRR's `stalepath-time`).
    pub stale_time: Duration,
    /// Neighbours started with the speaker. When non-empty, this is the
    /// whole set the start-up window waits for (plus any added before it
    /// ends); when empty, the set is complete at the first
    /// [`SpeakerHandle::initial_sync`] call.
    pub neighbors: Vec<NeighborConfig>,
    /// RFC 7432 section 15.1 duplicate MAC detection (`None`: off);
    /// see [`crate::rib::Rib::set_duplicate_mac_detection`].
    pub duplicate_mac: Option<DupMacDetection>,
}

impl SpeakerConfig {
    /// A configuration with plane's defaults: hold time 90 s, connect
    /// retry from 5 s, GR restart time 120 s, selection deferral 120 s,
    /// stale time 360 s, no neighbours, no VNIs.
    pub fn new(
        asn: u32,
        router_id: Ipv4Addr,
        listen: Vec<SocketAddr>,
        vtep: IpAddr,
    ) -> SpeakerConfig {
        SpeakerConfig {
            asn,
            router_id,
            listen,
            vtep,
            vnis: Vec::new(),
            cluster_id: None,
            hold_time: 90,
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            graceful_restart: Some(GracefulRestartConfig {
                restart_time: 120,
                restarting: false,
                forwarding_preserved: false,
            }),
            selection_deferral: Duration::from_secs(120),
            stale_time: Duration::from_secs(360),
            neighbors: Vec::new(),
            duplicate_mac: Some(DupMacDetection::default()),
        }
    }
}

/// One `[[bgp.neighbor]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub remote_asn: u32,
    /// The peer's BGP port (179).
    pub port: u16,
    /// Only accept its connections.
    pub passive: bool,
    /// RFC 2385 TCP-MD5 key.
    pub password: Option<String>,
    /// RFC 4456: reflect iBGP routes to it.
    pub route_reflector_client: bool,
    /// Overrides [`SpeakerConfig::hold_time`].
    pub hold_time: Option<u16>,
    /// Source address of our connections.
    pub local_address: Option<IpAddr>,
}

impl NeighborConfig {
    /// An active neighbour on port 179 without password.
    pub fn new(address: IpAddr, remote_asn: u32) -> NeighborConfig {
        NeighborConfig {
            address,
            remote_asn,
            port: 179,
            passive: false,
            password: None,
            route_reflector_client: false,
            hold_time: None,
            local_address: None,
        }
    }
}

/// A neighbour as `show neighbors` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborStatus {
    pub address: IpAddr,
    pub remote_asn: u32,
    /// RFC 4271 state; [`State::name`] gives "Idle" ... "Established".
    pub state: State,
    /// Routes from this neighbour in the RIB.
    pub received: u64,
    /// Routes advertised to it.
    pub sent: u64,
    /// Time since Established, while it is.
    pub uptime: Option<Duration>,
    /// The last error or NOTIFICATION, for people.
    pub last_error: Option<String>,
    /// End-of-RIB for L2VPN/EVPN received on the current session: the
    /// peer's initial table is complete (RFC 4724 section 2).
    pub end_of_rib: bool,
}

/// The end of the speaker's start-up window, as
/// [`SpeakerHandle::initial_sync`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialSync {
    /// Neighbours that sent End-of-RIB for L2VPN/EVPN since the start, by
    /// address.
    pub end_of_rib: Vec<IpAddr>,
    /// Neighbours that had not when the window ended (the selection
    /// deferral bound passed); empty when every one did.
    pub missing: Vec<IpAddr>,
    /// From the speaker's start to the end of the window.
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("BGP listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("neighbour {0} is already configured")]
    DuplicateNeighbor(IpAddr),
    #[error("neighbour {0} is not configured")]
    UnknownNeighbor(IpAddr),
    #[error(transparent)]
    Md5(Md5Error),
    #[error(transparent)]
    Rib(RibError),
    #[error("the BGP speaker has stopped")]
    Stopped,
}

pub(super) enum Request {
    Routes {
        filter: RouteFilter,
        reply: oneshot::Sender<Vec<RouteView>>,
    },
    Neighbors {
        reply: oneshot::Sender<Vec<NeighborStatus>>,
    },
    OriginateMacIp {
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
        reply: oneshot::Sender<Result<u32, SpeakerError>>,
    },
    WithdrawMacIp {
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    OriginateImet {
        vni: u32,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    WithdrawImet {
        vni: u32,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    SetVnis {
        vnis: Vec<VniImport>,
        reply: oneshot::Sender<()>,
    },
    AddNeighbor {
        neighbor: NeighborConfig,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    RemoveNeighbor {
        address: IpAddr,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    InitialSync {
        reply: oneshot::Sender<InitialSync>,
    },
    DuplicateMacs {
        reply: oneshot::Sender<Vec<DuplicateMac>>,
    },
    SetDuplicateMacDetection {
        detection: Option<DupMacDetection>,
        reply: oneshot::Sender<()>,
    },
    SetSessionTimers {
        hold_time: u16,
        keepalive: Option<Duration>,
        connect_retry: Duration,
        reply: oneshot::Sender<()>,
    },
    SetNeighborHoldTime {
        address: IpAddr,
        hold_time: Option<u16>,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    Shutdown {
        message: String,
        reply: oneshot::Sender<()>,
    },
}

/// Talks to the speaker task. Clone it freely; every method waits for the
/// speaker's answer and fails with [`SpeakerError::Stopped`] once it is gone.
#[derive(Clone, Debug)]
pub struct SpeakerHandle {
    tx: mpsc::Sender<Request>,
}

impl SpeakerHandle {
    pub(super) fn new(tx: mpsc::Sender<Request>) -> SpeakerHandle {
        SpeakerHandle { tx }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, SpeakerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| SpeakerError::Stopped)?;
        rx.await.map_err(|_| SpeakerError::Stopped)
    }

    /// The RIB's routes (`show routes`).
    pub async fn routes(&self, filter: RouteFilter) -> Result<Vec<RouteView>, SpeakerError> {
        self.ask(|reply| Request::Routes { filter, reply }).await
    }

    /// Every neighbour with its state (`show neighbors`), by address.
    pub async fn neighbors(&self) -> Result<Vec<NeighborStatus>, SpeakerError> {
        self.ask(|reply| Request::Neighbors { reply }).await
    }

    /// Advertises a local type-2 route (an endpoint's MAC, with one IP or
    /// none); returns the MAC Mobility sequence number used.
    pub async fn originate_mac_ip(
        &self,
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
    ) -> Result<u32, SpeakerError> {
        self.ask(|reply| Request::OriginateMacIp {
            vni,
            mac,
            ip,
            reply,
        })
        .await?
    }

    /// Withdraws a local type-2 route.
    pub async fn withdraw_mac_ip(
        &self,
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
    ) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::WithdrawMacIp {
            vni,
            mac,
            ip,
            reply,
        })
        .await?
    }

    /// Advertises our type-3 (IMET) route for a VNI.
    pub async fn originate_imet(&self, vni: u32) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::OriginateImet { vni, reply })
            .await?
    }

    /// Withdraws our type-3 route for a VNI.
    pub async fn withdraw_imet(&self, vni: u32) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::WithdrawImet { vni, reply })
            .await?
    }

    /// Replaces the VNI configuration (RDs, route targets).
    pub async fn set_vnis(&self, vnis: Vec<VniImport>) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::SetVnis { vnis, reply }).await
    }

    /// Adds and starts a neighbour.
    pub async fn add_neighbor(&self, neighbor: NeighborConfig) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::AddNeighbor { neighbor, reply })
            .await?
    }

    /// Stops (Cease / Peer De-configured) and forgets a neighbour; its routes are withdrawn.
    pub async fn remove_neighbor(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::RemoveNeighbor { address, reply })
            .await?
    }

    /// Waits for the end of the start-up window: every neighbour has sent
    /// End-of-RIB for L2VPN/EVPN since the speaker started, or the
    /// [`SpeakerConfig::selection_deferral`] bound passed (a neighbour that
    /// never comes up or never sends End-of-RIB is then in
    /// [`InitialSync::missing`]). Answers at once when the window is over.
    ///
    /// Calling it also tells the speaker that the neighbour set is
    /// complete: an embedder that adds its neighbours after [`start`]
    /// calls it once it added them all. A restarting speaker
    /// ([`GracefulRestartConfig::restarting`]) sends no UPDATE or
    /// End-of-RIB before that set is complete and every neighbour in it
    /// has sent End-of-RIB or is Established without GR or with the R bit
    /// (RFC 4724 section 4.1), or the bound passed.
    ///
    /// [`start`]: super::start
    pub async fn initial_sync(&self) -> Result<InitialSync, SpeakerError> {
        self.ask(|reply| Request::InitialSync { reply }).await
    }

    /// Local MACs found duplicate (RFC 7432 section 15.1), by VNI and MAC.
    pub async fn duplicate_macs(&self) -> Result<Vec<DuplicateMac>, SpeakerError> {
        self.ask(|reply| Request::DuplicateMacs { reply }).await
    }

    /// Changes duplicate MAC detection (RFC 7432 section 15.1) while
    /// running; `None` turns it off and clears every duplicate MAC. See
    /// [`crate::rib::Rib::set_duplicate_mac_detection`].
    pub async fn set_duplicate_mac_detection(
        &self,
        detection: Option<DupMacDetection>,
    ) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::SetDuplicateMacDetection { detection, reply })
            .await
    }

    /// Replaces [`SpeakerConfig::hold_time`], [`SpeakerConfig::keepalive`]
    /// and [`SpeakerConfig::connect_retry`] without resetting any session:
    /// the hold time and keepalive apply to sessions established from now
    /// on (an Established session keeps what it negotiated), the connect
    /// retry base to the next wait between connection attempts.
    pub async fn set_session_timers(
        &self,
        hold_time: u16,
        keepalive: Option<Duration>,
        connect_retry: Duration,
    ) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::SetSessionTimers {
            hold_time,
            keepalive,
            connect_retry,
            reply,
        })
        .await
    }

    /// Replaces a neighbour's [`NeighborConfig::hold_time`] without
    /// resetting its session: the OPENs sent from now on propose it.
    pub async fn set_neighbor_hold_time(
        &self,
        address: IpAddr,
        hold_time: Option<u16>,
    ) -> Result<(), SpeakerError> {
        self.ask(|reply| Request::SetNeighborHoldTime {
            address,
            hold_time,
            reply,
        })
        .await?
    }

    /// Sends Cease / Administrative Shutdown with `message` (RFC 9003) to
    /// every peer and stops the speaker.
    pub async fn shutdown(&self, message: &str) -> Result<(), SpeakerError> {
        let message = message.to_string();
        self.ask(|reply| Request::Shutdown { message, reply }).await
    }
}
