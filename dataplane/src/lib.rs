//! plane's dataplane: turns EVPN state into Linux kernel state.
//!
//! (Interface documentation is completed below as modules land.)

pub mod reconcile;
pub mod state;
pub mod types;

pub use reconcile::{reconcile, LinkChange, Op, Plan};
pub use state::{Change, ChangeError, Desired, Observed};
pub use types::{BumPolicy, Mac, PortFlags, ValueError, Vni, VniConfig};
pub mod backend;
pub mod netlink;
pub mod recording;
pub mod task;
