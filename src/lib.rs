//! plane: config, control protocol and wiring shared by `planed`, `planectl`,
//! `plane-cni` and `planelab`.
//!
//! - [`config`]: plane.toml, read with every error located (file:line:col),
//!   resolved (defaults, auto RD/RT) and diffed for reload.
//! - [`control`]: the control socket protocol (typed requests and replies,
//!   newline-delimited JSON), the server that planed runs and the client that
//!   planectl and plane-cni use.
//!
//! What it never does: talk BGP or netlink itself; the daemon wiring connects
//! the control handler to the owners of that state.

pub mod config;
pub mod control;
