//! The control socket client that planectl and plane-cni use: blocking
//! (std), so that short-lived CLIs need no async runtime.
//!
//! One [`Client`] is one connection; it may send any number of requests one
//! after the other. Each call reads reply lines until the `end` or `error`
//! line of its request, so the connection is always at a request boundary
//! between calls.
//!
//! What it never does: retry a change. Reads and writes time out (default
//! 30 s) so that a hung daemon cannot hang a container runtime.

use super::proto::*;
use serde::de::DeserializeOwned;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a request did not get an answer, or got an error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be reached.
    #[error("cannot connect to {}: {} (is planed running?)", path.display(), io_text(source))]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The connection failed or timed out mid-request.
    #[error("connection to planed at {} failed: {}", path.display(), io_text(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// planed answered something this client cannot read.
    #[error("malformed reply from planed: {0}")]
    Protocol(String),
    /// planed refused or failed the request.
    #[error("planed: {0}")]
    Daemon(ControlError),
}

/// The OS message without Rust's " (os error N)" suffix.
fn io_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text.get(..i).unwrap_or(&text).to_string(),
        None => text,
    }
}

impl ClientError {
    /// The daemon's error code, when the daemon answered with an error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Daemon(e) => Some(e.code),
            _ => None,
        }
    }
}

/// The socket to use when none is given: `PLANE_SOCKET`, else the default.
pub fn default_socket_path() -> PathBuf {
    match std::env::var_os("PLANE_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(crate::config::DEFAULT_SOCKET_PATH),
    }
}

/// A connection to planed.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects with 30 s read and write timeouts.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref().to_path_buf();
        let connect_err = |source| ClientError::Connect {
            path: path.clone(),
            source,
        };
        let stream = UnixStream::connect(&path).map_err(connect_err)?;
        let writer = stream.try_clone().map_err(connect_err)?;
        let mut client = Client {
            path: path.clone(),
            reader: BufReader::new(stream),
            writer,
        };
        client.set_timeout(Some(Duration::from_secs(30)))?;
        Ok(client)
    }

    /// Sets the read and write timeouts (`None`: wait forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(timeout)
            .and_then(|()| stream.set_write_timeout(timeout))
            .map_err(|source| ClientError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends a request and returns the items of its reply as raw JSON.
    pub fn request(&mut self, request: &Request) -> Result<Vec<serde_json::Value>, ClientError> {
        let mut line = serde_json::to_vec(request)
            .map_err(|e| ClientError::Protocol(format!("cannot encode request: {e}")))?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .map_err(|source| self.io(source))?;
        let mut items = Vec::new();
        loop {
            match self.read_reply_line()? {
                ReplyLine::Item(v) => items.push(v),
                ReplyLine::End { count } => {
                    if u64::try_from(items.len()).ok() != Some(count) {
                        return Err(ClientError::Protocol(format!(
                            "{} items received, end says {count}",
                            items.len()
                        )));
                    }
                    return Ok(items);
                }
                ReplyLine::Error(e) => return Err(ClientError::Daemon(e)),
            }
        }
    }

    /// Sends a request and decodes each item as `T`.
    pub fn request_as<T: DeserializeOwned>(
        &mut self,
        request: &Request,
    ) -> Result<Vec<T>, ClientError> {
        self.request(request)?
            .into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| ClientError::Protocol(format!("{}: {e}", request.verb())))
            })
            .collect()
    }

    fn request_one<T: DeserializeOwned>(&mut self, request: &Request) -> Result<T, ClientError> {
        let mut items = self.request_as::<T>(request)?;
        match (items.pop(), items.is_empty()) {
            (Some(one), true) => Ok(one),
            _ => Err(ClientError::Protocol(format!(
                "{}: exactly one item expected",
                request.verb()
            ))),
        }
    }

    pub fn show_routes(&mut self, filter: RouteFilter) -> Result<Vec<Route>, ClientError> {
        self.request_as(&Request::ShowRoutes(filter))
    }

    pub fn show_neighbors(&mut self) -> Result<Vec<Neighbor>, ClientError> {
        self.request_as(&Request::ShowNeighbors)
    }

    pub fn show_vnis(&mut self) -> Result<Vec<VniInfo>, ClientError> {
        self.request_as(&Request::ShowVnis)
    }

    pub fn show_endpoints(&mut self, vni: Option<u32>) -> Result<Vec<Endpoint>, ClientError> {
        self.request_as(&Request::ShowEndpoints(VniFilter { vni }))
    }

    pub fn show_fdb(&mut self, vni: Option<u32>) -> Result<Vec<FdbVni>, ClientError> {
        self.request_as(&Request::ShowFdb(VniFilter { vni }))
    }

    pub fn show_summary(&mut self) -> Result<Summary, ClientError> {
        self.request_one(&Request::ShowSummary)
    }

    /// Attaches an endpoint; returns it as planed made it.
    pub fn endpoint_add(&mut self, spec: EndpointSpec) -> Result<Endpoint, ClientError> {
        self.request_one(&Request::EndpointAdd(spec))
    }

    /// Detaches an endpoint; success when it was not there.
    pub fn endpoint_del(&mut self, key: EndpointKey) -> Result<(), ClientError> {
        let items = self.request(&Request::EndpointDel(key))?;
        if items.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Protocol(
                "endpoint_del: no item expected".into(),
            ))
        }
    }

    /// One endpoint; `Ok(None)` when planed does not know it.
    pub fn endpoint_get(&mut self, key: EndpointKey) -> Result<Option<Endpoint>, ClientError> {
        match self.request_one(&Request::EndpointGet(key)) {
            Ok(e) => Ok(Some(e)),
            Err(ClientError::Daemon(e)) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn io(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read_reply_line(&mut self) -> Result<ReplyLine, ClientError> {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REPLY_LINE_BYTES).unwrap_or(u64::MAX);
        let n = (&mut self.reader)
            .take(limit.saturating_add(1))
            .read_until(b'\n', &mut line)
            .map_err(|source| self.io(source))?;
        if n == 0 {
            return Err(self.io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "planed closed the connection",
            )));
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() > MAX_REPLY_LINE_BYTES {
                ClientError::Protocol(format!(
                    "reply line longer than {MAX_REPLY_LINE_BYTES} bytes"
                ))
            } else {
                self.io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "planed closed the connection mid-reply",
                ))
            });
        }
        serde_json::from_slice(&line).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
