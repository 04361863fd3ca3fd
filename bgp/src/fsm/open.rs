//! OPEN content: the OPEN we send and the checks and capability negotiation
//! of a received one (RFC 4271 section 6.2, RFC 5492, RFC 4760, RFC 6793,
//! RFC 2918, RFC 4724, RFC 8654).
//!
//! Pure functions of the configuration and the peer's OPEN. A failed check
//! names the NOTIFICATION to send (code 2, OPEN Message Error, with the
//! subcode and data the RFCs prescribe).

use super::{notification, open_subcode, FsmConfig};
use crate::wire::{
    cap_code, error_code, Capability, GracefulRestart, GracefulRestartFamily, Notification, Open,
    SessionParams, AS_TRANS, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
};
use bytes::Bytes;
use std::net::Ipv4Addr;

/// BGP version 4.
pub const BGP_VERSION: u8 = 4;

/// What both sides agreed on once the peer's OPEN is accepted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Negotiated {
    pub peer_asn: u32,
    pub peer_id: Ipv4Addr,
    /// min(ours, theirs) in seconds; 0 = no hold timer, no keepalives.
    pub hold_time: u16,
    /// What the codec needs (4-octet AS, message size).
    pub params: SessionParams,
    /// (AFI, SAFI) both sides advertised.
    pub families: Vec<(u16, u8)>,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// The peer's graceful restart capability (RFC 4724), when sent.
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

impl Negotiated {
    /// True when the peer asked us to be its graceful restart helper for
    /// this family: keep its routes as stale when the session drops.
    pub fn peer_restarts_gracefully(&self, afi: u16, safi: u8) -> bool {
        self.peer_graceful_restart
            .as_ref()
            .is_some_and(|gr| gr.families.iter().any(|f| f.afi == afi && f.safi == safi))
    }

    /// The peer's restart time in seconds (0 when it sent no GR capability).
    pub fn peer_restart_time(&self) -> u16 {
        self.peer_graceful_restart
            .as_ref()
            .map(|gr| gr.restart_time)
            .unwrap_or(0)
    }
}

/// Why a received OPEN is refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported BGP version {0} (only 4)")]
    UnsupportedVersion(u8),
    #[error("peer AS {got}, configured remote AS {expected}")]
    BadPeerAs { expected: u32, got: u32 },
    #[error("hold time {0} s: must be 0 or at least 3")]
    UnacceptableHoldTime(u16),
    #[error("BGP identifier {0} is invalid (zero, or equal to ours on an iBGP session)")]
    BadBgpIdentifier(Ipv4Addr),
    #[error("peer does not advertise AFI {afi} / SAFI {safi} (multiprotocol capability)")]
    MissingFamily { afi: u16, safi: u8 },
}

impl OpenError {
    /// The NOTIFICATION for this error (RFC 4271 section 6.2, RFC 5492 section 5).
    pub fn notification(&self) -> Notification {
        match self {
            OpenError::UnsupportedVersion(_) => Notification {
                code: error_code::OPEN_MESSAGE,
                subcode: open_subcode::UNSUPPORTED_VERSION_NUMBER,
                // The largest locally supported version, 2 octets.
                data: Bytes::from_static(&[0, BGP_VERSION]),
            },
            OpenError::BadPeerAs { .. } => {
                notification(error_code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS)
            }
            OpenError::UnacceptableHoldTime(_) => notification(
                error_code::OPEN_MESSAGE,
                open_subcode::UNACCEPTABLE_HOLD_TIME,
            ),
            OpenError::BadBgpIdentifier(_) => {
                notification(error_code::OPEN_MESSAGE, open_subcode::BAD_BGP_IDENTIFIER)
            }
            OpenError::MissingFamily { afi, safi } => {
                // Data: the capability we need and the peer lacks (RFC 5492 section 5).
                let [a0, a1] = afi.to_be_bytes();
                Notification {
                    code: error_code::OPEN_MESSAGE,
                    subcode: open_subcode::UNSUPPORTED_CAPABILITY,
                    data: Bytes::from(vec![cap_code::MULTIPROTOCOL, 4, a0, a1, 0, *safi]),
                }
            }
        }
    }
}

/// The OPEN we send for this configuration.
pub fn local_open(config: &FsmConfig) -> Open {
    let mut capabilities: Vec<Capability> = config
        .families
        .iter()
        .map(|&(afi, safi)| Capability::Multiprotocol { afi, safi })
        .collect();
    capabilities.push(Capability::RouteRefresh);
    capabilities.push(Capability::FourOctetAs(config.local_asn));
    if config.extended_message {
        capabilities.push(Capability::ExtendedMessage);
    }
    if let Some(gr) = config.graceful_restart {
        capabilities.push(Capability::GracefulRestart(GracefulRestart {
            restarting: gr.restarting,
            notification: false,
            restart_time: gr.restart_time.min(0x0fff),
            families: config
                .families
                .iter()
                .map(|&(afi, safi)| GracefulRestartFamily {
                    afi,
                    safi,
                    forwarding_preserved: gr.forwarding_preserved,
                })
                .collect(),
        }));
    }
    Open {
        version: BGP_VERSION,
        my_as: u16::try_from(config.local_asn).unwrap_or(AS_TRANS),
        hold_time: config.hold_time,
        bgp_id: config.router_id,
        capabilities,
        // One per parameter, as FRR sends them.
        capability_params: crate::wire::CapabilityParams::PerCapability,
        other_params: Vec::new(),
    }
}

/// Checks a received OPEN against the configuration and negotiates.
pub fn check_open(config: &FsmConfig, open: &Open) -> Result<Negotiated, OpenError> {
    if open.version != BGP_VERSION {
        return Err(OpenError::UnsupportedVersion(open.version));
    }
    let peer_asn = open.asn();
    if peer_asn != config.remote_asn {
        return Err(OpenError::BadPeerAs {
            expected: config.remote_asn,
            got: peer_asn,
        });
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(OpenError::UnacceptableHoldTime(open.hold_time));
    }
    let ibgp = peer_asn == config.local_asn;
    // RFC 6286 section 2.2: the same identifier is only an error within an AS.
    if open.bgp_id.is_unspecified() || (ibgp && open.bgp_id == config.router_id) {
        return Err(OpenError::BadBgpIdentifier(open.bgp_id));
    }
    let peer_families: Vec<(u16, u8)> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol { afi, safi } => Some((*afi, *safi)),
            _ => None,
        })
        .collect();
    for &(afi, safi) in &config.families {
        if !peer_families.contains(&(afi, safi)) {
            return Err(OpenError::MissingFamily { afi, safi });
        }
    }
    let has = |want: fn(&Capability) -> bool| open.capabilities.iter().any(want);
    let four_octet_as = has(|c| matches!(c, Capability::FourOctetAs(_)));
    let extended = config.extended_message && has(|c| matches!(c, Capability::ExtendedMessage));
    let route_refresh = has(|c| {
        matches!(
            c,
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh
        )
    });
    let peer_graceful_restart = open.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(gr.clone()),
        _ => None,
    });
    Ok(Negotiated {
        peer_asn,
        peer_id: open.bgp_id,
        hold_time: config.hold_time.min(open.hold_time),
        params: SessionParams {
            four_octet_as,
            max_message_len: if extended {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            },
            add_path_evpn_rx: false,
            add_path_evpn_tx: false,
        },
        families: config.families.clone(),
        route_refresh,
        peer_graceful_restart,
        peer_open: open.clone(),
    })
}
