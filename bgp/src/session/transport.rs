//! TCP for BGP sessions: connecting and listening sockets with optional
//! TCP-MD5 keys, and the [`Transport`] / [`Connector`] abstractions that let
//! the driver run over in-memory pipes in tests.
//!
//! Keys are set before `connect` and on the listener per peer address (RFC
//! 2385 needs the key from the first SYN on). Never reads or writes BGP.

use super::md5;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A byte stream a session runs over: a TCP stream, or a pipe in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

pub type BoxTransport = Box<dyn Transport>;
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxTransport>> + Send>>;

/// Opens the outgoing connection of a session.
pub trait Connector: Send + Sync + 'static {
    fn connect(&self) -> ConnectFuture;
}

/// The real connector: TCP to `remote`, from `local` when set, with an MD5 key.
#[derive(Clone, Debug)]
pub struct TcpConnector {
    pub remote: SocketAddr,
    pub local: Option<IpAddr>,
    pub password: Option<String>,
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture {
        let this = self.clone();
        Box::pin(async move {
            let stream = connect(this.remote, this.local, this.password.as_deref()).await?;
            Ok(Box::new(stream) as BoxTransport)
        })
    }
}

/// Connects to `remote` with the TCP-MD5 key set before the SYN.
pub async fn connect(
    remote: SocketAddr,
    local: Option<IpAddr>,
    password: Option<&str>,
) -> io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(key) = password {
        md5::set_key(&socket, remote.ip(), key.as_bytes()).map_err(io::Error::other)?;
    }
    if let Some(local) = local {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Binds a BGP listener (SO_REUSEADDR, so that a restarted daemon can bind
/// while old connections linger in TIME_WAIT).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Sets (or removes, with `None`) the MD5 key for connections from `peer`.
///
/// Note: removing a key that was never set fails (ENOENT).
pub fn set_listener_key(
    listener: &TcpListener,
    peer: IpAddr,
    password: Option<&str>,
) -> Result<(), md5::Md5Error> {
    // An IPv6 (dual-stack) listener sees IPv4 peers as v4-mapped addresses,
    // and the kernel takes their keys only in that form on such a socket.
    let peer = match (listener.local_addr().map(|a| a.is_ipv6()), peer) {
        (Ok(true), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => peer,
    };
    md5::set_key(listener, peer, password.unwrap_or("").as_bytes())
}
