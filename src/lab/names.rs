//! Every name a lab creates, derived from the lab name, so that labs coexist
//! and `down` finds exactly what `up` made even when the state dir is lost.
//!
//! - namespaces: `plab.<lab>.underlay`, `plab.<lab>.h.<host>`,
//!   `plab.<lab>.c.<container>`; the prefix `plab.<lab>.` ends with a dot,
//!   and lab names never contain one, so lab `a` never matches lab `a-b`;
//! - interfaces live only inside the lab's namespaces (never in the host's
//!   root namespace), so their names need no prefix: deleting the namespaces
//!   deletes them;
//! - state: `/run/planelab/<lab>/` (or `$PLANELAB_STATE/<lab>/`).
//!
//! What it never does: touch the system.

use std::path::PathBuf;

/// Prefix of every namespace planelab creates.
pub const NS_PREFIX: &str = "plab.";

/// Underlay interface of a host in segment mode.
pub const HOST_UNDERLAY_IF: &str = "ul0";
/// The underlay bridge inside the lab's underlay namespace.
pub const UNDERLAY_BRIDGE: &str = "ul";
/// The container's interface (made by planed or plane-cni).
pub const CONTAINER_IF: &str = "eth0";

/// Names of one lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    lab: String,
}

impl Names {
    pub fn new(lab: &str) -> Names {
        Names {
            lab: lab.to_string(),
        }
    }

    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// `plab.<lab>.`: every namespace of this lab starts with it.
    pub fn ns_prefix(&self) -> String {
        format!("{NS_PREFIX}{}.", self.lab)
    }

    pub fn underlay_ns(&self) -> String {
        format!("{}underlay", self.ns_prefix())
    }

    pub fn host_ns(&self, host: &str) -> String {
        format!("{}h.{host}", self.ns_prefix())
    }

    pub fn container_ns(&self, container: &str) -> String {
        format!("{}c.{container}", self.ns_prefix())
    }

    /// Bridge port of a host in the underlay namespace (`u-<host>`, <= 14).
    pub fn underlay_port(host: &str) -> String {
        format!("u-{host}")
    }

    /// A host's end of a point-to-point underlay link to `peer` (`l-<peer>`).
    pub fn link_if(peer: &str) -> String {
        format!("l-{peer}")
    }

    /// The lab's state directory.
    pub fn state_dir(&self) -> PathBuf {
        state_root().join(&self.lab)
    }

    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.state_dir().join("hosts").join(host)
    }

    /// planed's control socket of a host.
    pub fn socket(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("planed.sock")
    }

    /// True when `ns` is one of this lab's namespaces.
    pub fn owns_ns(&self, ns: &str) -> bool {
        ns.starts_with(&self.ns_prefix())
    }
}

/// `$PLANELAB_STATE` or `/run/planelab`.
pub fn state_root() -> PathBuf {
    match std::env::var_os("PLANELAB_STATE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/run/planelab"),
    }
}

/// The lab a namespace belongs to, if planelab made it.
pub fn lab_of_ns(ns: &str) -> Option<&str> {
    ns.strip_prefix(NS_PREFIX)?
        .split_once('.')
        .map(|(lab, _)| lab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_never_overlap_between_labs() {
        let a = Names::new("a");
        let ab = Names::new("a-b");
        assert!(a.owns_ns(&a.host_ns("h1")));
        assert!(!a.owns_ns(&ab.host_ns("h1")));
        assert!(!ab.owns_ns(&a.container_ns("c1")));
        assert_eq!(lab_of_ns(&ab.container_ns("x")), Some("a-b"));
        assert_eq!(lab_of_ns("pt123-h0"), None);
    }

    #[test]
    fn interface_names_fit_ifnamsiz() {
        let host = "a".repeat(crate::lab::topology::MAX_HOST_NAME);
        assert!(Names::underlay_port(&host).len() <= 15);
        assert!(Names::link_if(&host).len() <= 15);
    }

    #[test]
    fn host_and_container_namespaces_differ_for_equal_names() {
        let n = Names::new("l");
        assert_ne!(n.host_ns("x"), n.container_ns("x"));
        assert_eq!(n.host_ns("h1"), "plab.l.h.h1");
    }
}
