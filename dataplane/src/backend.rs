//! The interface between the dataplane task and whatever programs the kernel.
//!
//! Two implementations: [`crate::netlink::NetlinkBackend`] (the kernel) and
//! [`crate::recording::RecordingBackend`] (a model, for tests of the layers
//! above). The task never knows which one it drives. Notifications are plain
//! values too: the netlink monitor converts kernel messages into
//! [`Notification`]s, so that the task's drift and learning logic is shared.

use std::future::Future;
use std::net::IpAddr;

use crate::reconcile::Op;
use crate::state::{LinkObs, Observed};
use crate::types::Mac;

/// Why one operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The kernel answered with this errno (e.g. `EAFNOSUPPORT` for a VTEP
    /// of the wrong family).
    #[error("kernel refused: {} (errno {errno})", std::io::Error::from_raw_os_error(*errno))]
    Kernel { errno: i32 },
    #[error("device {0} not found")]
    NoDevice(String),
    /// Refreshing the device index (a link dump) failed.
    #[error("device index refresh: {0}")]
    Index(String),
    #[error("netlink connection closed")]
    Closed,
    /// An operation reached the wrong code path (a bug, reported not hidden).
    #[error("internal: {0}")]
    Internal(&'static str),
    #[error("kernel answered {got} of {sent} messages in a batch")]
    Incomplete { sent: usize, got: usize },
}

impl OpError {
    /// The errno of a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            OpError::Kernel { errno } => Some(*errno),
            _ => None,
        }
    }
}

/// Errors of a whole backend call (dump, connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("netlink socket: {0}")]
    Socket(String),
    #[error("netlink dump of {what}: {why}")]
    Dump { what: &'static str, why: String },
    #[error("dataplane task stopped")]
    Stopped,
}

/// Programs and reads the kernel (or a model of it).
pub trait Backend: Send + 'static {
    /// Dumps what the kernel has, deduplicated by key.
    fn observe(&mut self) -> impl Future<Output = Result<Observed, BackendError>> + Send;

    /// Executes operations in order (device operations one by one, entries
    /// batched); one result per operation, in the same order: a bad entry
    /// fails alone.
    fn execute(&mut self, ops: &[Op]) -> impl Future<Output = Vec<Result<(), OpError>>> + Send;

    /// Waits (bounded) until the notifications caused by everything
    /// executed so far are in the task's notification channel, so that the
    /// task can take its own echoes before it plans again. Nothing to wait
    /// for without a monitor.
    fn settle(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// A kernel event, already reduced to plain values. `ifindex` is resolved by
/// the task (it owns the link table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// RTM_NEWLINK / RTM_DELLINK. `master` is the master's ifindex.
    Link {
        name: String,
        link: LinkObs,
        master: Option<u32>,
        deleted: bool,
    },
    /// A bridge port's flags changed (`None`: it left the bridge).
    PortFlags {
        name: String,
        flags: Option<crate::types::PortFlags>,
    },
    /// A bridge-family FDB entry (RTM_NEWNEIGH / RTM_DELNEIGH, AF_BRIDGE).
    Fdb {
        ifindex: u32,
        mac: Mac,
        master_entry: bool,
        ext_learned: bool,
        local: bool,
        vtep: Option<IpAddr>,
        deleted: bool,
    },
    /// An IPv4/IPv6 neighbour entry.
    Neigh {
        ifindex: u32,
        ip: IpAddr,
        mac: Option<Mac>,
        owned: bool,
        deleted: bool,
    },
    /// An IP-to-MAC binding seen in ARP, ND or gratuitous ARP on a bridge.
    Snooped {
        bridge: String,
        ip: IpAddr,
        mac: Mac,
    },
    /// Notifications were lost (ENOBUFS): the view must be rebuilt by dump.
    Overrun,
}
