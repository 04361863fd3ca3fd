//! plane: config, control protocol and wiring shared by `planed`, `planectl`,
//! `plane-cni` and `planelab`.
//!
//! - [`config`]: plane.toml, read with every error located (file:line:col),
//!   resolved (defaults, auto RD/RT) and diffed for reload.
//! - [`control`]: the control socket protocol (typed requests and replies,
//!   newline-delimited JSON), the server that planed runs and the client that
//!   planectl and plane-cni use.
//! - [`endpoint`]: veth plumbing into a container's network namespace,
//!   shared by plane-cni and planed (`endpoint add --netns`).
//! - [`cni`]: the CNI plugin (`plane-cni`).
//! - [`lab`]: planelab, whole multi-host labs in network namespaces built
//!   from a topology file, checked, drawn and removed.
//!
//! What it never does: talk BGP or netlink itself; the daemon wiring connects
//! the control handler to the owners of that state.

pub mod cni;
pub mod config;
pub mod control;
pub mod daemon;
pub mod endpoint;
pub mod lab;
