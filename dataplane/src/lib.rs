//! plane's dataplane: turns EVPN state into Linux kernel state.
//!
//! The control plane hands over plain values (VNI, MAC, IP, VTEP; no BGP
//! types) as [`Change`]s; the dataplane task keeps them as [`Desired`] state,
//! compares it with what the kernel has ([`Observed`]) with the pure
//! [`reconcile()`], and programs only the difference over rtnetlink. Per VNI:
//!
//! ```text
//! br<VNI>  bridge, fixed MAC, addrgenmode none, no STP
//!  ├─ vxlan<VNI>  id, local VTEP (v4 or v6), dstport 4789, learning off, MTU
//!  │     port: learning off, neigh_suppress on, flood/mcast_flood/bcast_flood
//!  │           off (on only when the BUM policy replicates)
//!  └─ local ports (container veths): learning on, floods local only
//! remote MAC -> one RTM_NEWNEIGH NTF_SELF|NTF_MASTER|NTF_EXT_LEARNED, dst VTEP
//! remote IP  -> neighbour on br<VNI>, NUD_NOARP + NTF_EXT_LEARNED, NDA_PROTOCOL plane
//! flood list -> 00:00:00:00:00:00 dst VTEP (append), only when replicating
//! ```
//!
//! # Interface for the layers above
//!
//! ```ignore
//! // Start (in the namespace to program); events: learned local endpoints, errors.
//! let (dp, mut events): (Dataplane, mpsc::Receiver<Event>) =
//!     Dataplane::start_netlink(NetlinkOptions::default()).await?;
//! // Desired state, in batches (100k routes in one call program fast):
//! let report: ApplyReport = dp.apply(vec![
//!     Change::SetVni(VniConfig::new(vni, local_vtep)),
//!     Change::AddLocalPort { vni, ifname: "vc1".into() },
//!     Change::SetRemoteMac { vni, mac, vtep },
//!     Change::SetRemoteIp { vni, ip, mac },
//!     Change::AddFloodVtep { vni, vtep },
//! ]).await?;
//! // Once the initial desired state is complete (config + BGP End-of-RIB):
//! dp.resync().await?;            // removes stale state plane owns
//! let fdb: Vec<VniSnapshot> = dp.snapshot().await?;   // planectl show fdb
//! ```
//!
//! One-change shorthands: `set_vni`, `remove_vni`, `set_remote_mac`,
//! `remove_remote_mac`, `set_remote_ip`, `remove_remote_ip`,
//! `add_flood_vtep`, `remove_flood_vtep`, `add_local_port`,
//! `remove_local_port`; `plan()` is a dry run (drift report). Tests of the
//! layers above use [`Dataplane::recording`] (same handle, a model of the
//! kernel, every executed operation batch on a channel). Container hooks
//! make the veth with `plane::endpoint` (root crate) and then `AddLocalPort`.
//!
//! # Modules
//!
//! - [`types`], [`state`]: plain values; [`mod@reconcile`]: the pure reconciler.
//! - [`task`]: the owner task and its [`Dataplane`] handle; [`backend`]: the
//!   trait between task and kernel.
//! - [`netlink`]: the only code that imports rtnetlink (programming, dumps,
//!   monitor); [`recording`]: the test backend.
//! - [`arpnd`]: ARP/ND wire format, snooping and the pure proxy responder;
//!   [`local_io`]: the only pnet user (snooper/responder thread per bridge).
//!
//! Ownership (never touch what plane did not create): devices carry the alias
//! `plane:vni=N`; FDB entries on plane's VXLAN devices carry
//! `NTF_EXT_LEARNED`; neighbours carry `NDA_PROTOCOL` =
//! [`netlink::PLANE_PROTOCOL`]. See docs/dataplane.md.

pub mod arpnd;
pub mod backend;
pub mod local_io;
pub mod netlink;
pub mod reconcile;
pub mod recording;
pub mod state;
pub mod task;
pub mod types;

pub use reconcile::{reconcile, LinkChange, Op, Plan};
pub use state::{Change, ChangeError, Desired, Observed};
pub use task::{
    ApplyReport, Dataplane, DataplaneError, Event, FdbRow, NeighRow, OpFailure, VniSnapshot,
};
pub use types::{BumPolicy, Mac, PortFlags, ValueError, Vni, VniConfig};
