//! planelab: a whole multi-host plane overlay in network namespaces on one
//! machine, from a declarative topology file (`topologies/NAME.toml`), for
//! the demo, tests and benchmarks. docs/planelab.md is the operator's guide.
//!
//! - [`topology`]: the file, checked into a resolved [`Lab`];
//! - [`names`]: every namespace, interface and path a lab uses, all under
//!   the lab's prefix;
//! - [`build`]: `up` (steps with progress, rolled back on failure),
//!   `down` (by prefix, works without the state dir), `status`;
//! - [`daemons`]: plane.toml of each planed host and configs of the third-party hosts (FRR VTEP, FRR and GoBGP
//!   route reflectors);
//! - [`check`]: reachability, isolation, BUM counts from underlay captures,
//!   BGP sessions and kernel-vs-RIB, as a table or JSON;
//! - [`pcap`]: the capture reader behind the BUM column;
//! - [`draw`]: the picture (Graphviz DOT, SVG through `dot`).
//!
//! What it never does: create anything outside the lab's namespaces and
//! state dir, or signal a process it cannot attribute to the lab.

pub mod build;
pub mod check;
pub mod daemons;
pub mod draw;
pub mod names;
pub mod pcap;
pub mod sys;
pub mod topology;

pub use names::Names;
pub use topology::{Lab, TopologyError};

use std::path::{Path, PathBuf};

/// Why a lab command failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("`{command}` failed: {why}")]
    Command { command: String, why: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host {host}: {source}")]
    Control {
        host: String,
        #[source]
        source: crate::control::ClientError,
    },
    #[error("{step}: {why}")]
    Step { step: String, why: String },
    #[error("{0}")]
    Other(String),
}

impl LabError {
    pub fn io(path: &Path, source: std::io::Error) -> LabError {
        LabError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn step(step: impl Into<String>, why: impl Into<String>) -> LabError {
        LabError::Step {
            step: step.into(),
            why: why.into(),
        }
    }
}

/// Writes a file, creating its directory.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}
