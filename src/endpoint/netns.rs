//! Running rtnetlink requests inside a network namespace.
//!
//! A netlink socket belongs to the namespace of the thread that created it,
//! so each call gets a fresh OS thread: it `setns(2)`s into the target
//! namespace (if any), builds a current-thread tokio runtime, opens an
//! rtnetlink connection there and runs the request. The thread ends with the
//! call, so no thread of the caller ever changes namespace.
//!
//! What it never does: change the namespace of a caller's thread, or keep a
//! namespace file open beyond the [`NetnsFile`] the caller holds.

use super::EndpointError;
use std::fs::File;
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// An open namespace file (`/run/netns/x`, `/proc/PID/ns/net`).
#[derive(Debug)]
pub(super) struct NetnsFile {
    pub path: PathBuf,
    file: File,
}

impl NetnsFile {
    /// Opens the file; a missing one is [`EndpointError::NetnsGone`] (also a
    /// PID that has exited).
    pub fn open(path: &Path) -> Result<NetnsFile, EndpointError> {
        match File::open(path) {
            Ok(file) => Ok(NetnsFile {
                path: path.to_path_buf(),
                file,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(EndpointError::NetnsGone {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(EndpointError::Netns {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn try_clone(&self) -> Result<NetnsFile, EndpointError> {
        let file = self
            .file
            .try_clone()
            .map_err(|source| EndpointError::Netns {
                path: self.path.clone(),
                source,
            })?;
        Ok(NetnsFile {
            path: self.path.clone(),
            file,
        })
    }

    /// The descriptor for `IFLA_NET_NS_FD`; valid while `self` lives.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Runs `f` with an rtnetlink handle of `netns` (`None`: the caller's
/// namespace) on a dedicated thread, and waits for it.
pub(super) fn run<T, F, Fut>(netns: Option<&NetnsFile>, f: F) -> Result<T, EndpointError>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, EndpointError>>,
{
    let target = netns.map(NetnsFile::try_clone).transpose()?;
    let worker = std::thread::Builder::new()
        .name("plane-netns".into())
        .spawn(move || -> Result<T, EndpointError> {
            if let Some(ns) = &target {
                nix::sched::setns(ns.file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                    |e| EndpointError::Netns {
                        path: ns.path.clone(),
                        source: std::io::Error::from(e),
                    },
                )?;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| EndpointError::Thread(format!("cannot build a runtime: {e}")))?;
            rt.block_on(async move {
                let (connection, handle, _) =
                    rtnetlink::new_connection().map_err(|e| EndpointError::Netlink {
                        what: "opening a netlink socket".into(),
                        message: e.to_string(),
                    })?;
                let driver = tokio::spawn(connection);
                let out = f(handle).await;
                driver.abort();
                out
            })
        })
        .map_err(|e| EndpointError::Thread(format!("cannot start: {e}")))?;
    worker
        .join()
        .map_err(|_| EndpointError::Thread("panicked".into()))?
}
