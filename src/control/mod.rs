//! The control socket of planed: the protocol ([`proto`]), the server planed
//! runs ([`server`]) and the blocking client planectl and plane-cni use
//! ([`client`]). docs/planectl.md describes it for operators.
//!
//! Read-only requests are open to whoever may connect to the socket; changes
//! (endpoint add/del) need root or the `[control] group`, checked per request
//! from the peer's credentials (SO_PEERCRED).
//!
//! What it never does: own daemon state. The server asks a
//! [`ControlHandler`] that planed implements (or a [`ChannelHandler`] whose
//! receiver an owner task reads).

pub mod client;
pub mod proto;
pub mod server;

pub use client::{default_socket_path, Client, ClientError};
pub use proto::*;
pub use server::{
    channel, groups_of_user, AccessPolicy, Caller, ChannelHandler, ControlCall, ControlHandler,
    ControlServer, ServerError, ServerOptions,
};
