//! `plane-cni`: a CNI plugin (specification 1.1) that attaches containers
//! to a plane VNI.
//!
//! - [`spec`]: versions, error codes, the network configuration
//!   (`"type": "plane"`, `"vni"`, `"socket"`, `"ipam"`...) and the result.
//! - [`ipam`]: delegation to the IPAM plugin on `CNI_PATH`, with a version
//!   it speaks.
//! - [`plugin`]: the verbs; [`run`] is the whole plugin for one invocation.
//!
//! The veth itself is made by [`crate::endpoint`]; planed learns the
//! endpoint over the control socket and advertises it. docs/containers.md
//! is the operator's guide (codes, sample configuration, runtimes).
//!
//! What it never does: print anything but the result or error JSON on
//! stdout (logs go to stderr), or keep state between invocations.

pub mod ipam;
pub mod plugin;
pub mod spec;

pub use plugin::{run, Env, Outcome};
pub use spec::{CniError, CniResult, Code, NetConf, CNI_VERSION, SUPPORTED_VERSIONS};
