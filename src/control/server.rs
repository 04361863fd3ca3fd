//! The control socket server that planed runs.
//!
//! ```text
//!  accept loop (ControlServer::serve) ──spawn──> one task per connection
//!        │ until `shutdown` resolves                │ read a line (≤ MAX_REQUEST_BYTES, idle timeout)
//!        ▼                                          │ parse Request; authorize changes (SO_PEERCRED)
//!  socket file removed                              ▼
//!                                     ControlHandler::handle(request, caller) ──> the daemon's owners
//!                                                   │ Response (checked against the request)
//!                                                   ▼
//!                                     item lines, then `end` (or one `error` line)
//! ```
//!
//! What it never does: hold daemon state or call netlink/BGP itself; it asks
//! the [`ControlHandler`]. A malformed, unknown or oversize request costs the
//! client an error line, never the daemon anything: every failure is local to
//! its connection.
//!
//! Invariants: at most `max_connections` connections are served at once;
//! the socket file is ours from `bind` until `serve` returns (or the server is
//! dropped) and is only ever removed when it is still the file we bound; a
//! live socket of another planed is never replaced.

use super::proto::{ControlError, ErrorCode, ReplyLine, Request, Response, MAX_REQUEST_BYTES};
use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Who is on the other end of a connection (SO_PEERCRED).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// Answers control requests. planed implements it by asking the owners of
/// the state (RIB task, peer tasks, dataplane task) over their channels; see
/// [`ChannelHandler`] for a ready-made implementation that forwards every
/// request to one task.
///
/// The server has already checked that the caller may send `request` (changes
/// need root or the control group). The returned [`Response`] must be the
/// variant that answers `request` ([`Response::answers`]); anything else is
/// reported to the client as an internal error.
pub trait ControlHandler: Send + Sync + 'static {
    fn handle(
        &self,
        request: Request,
        caller: Caller,
    ) -> impl Future<Output = Result<Response, ControlError>> + Send;
}

/// One request forwarded by [`ChannelHandler`]: answer on `reply`.
#[derive(Debug)]
pub struct ControlCall {
    pub request: Request,
    pub caller: Caller,
    pub reply: oneshot::Sender<Result<Response, ControlError>>,
}

/// A [`ControlHandler`] that sends each request to a task on a bounded
/// channel and waits for its answer on a oneshot: the owner task keeps its
/// state to itself.
#[derive(Clone, Debug)]
pub struct ChannelHandler {
    tx: mpsc::Sender<ControlCall>,
}

/// A [`ChannelHandler`] and the receiver its owner task reads from.
pub fn channel(capacity: usize) -> (ChannelHandler, mpsc::Receiver<ControlCall>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (ChannelHandler { tx }, rx)
}

impl ControlHandler for ChannelHandler {
    async fn handle(&self, request: Request, caller: Caller) -> Result<Response, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(ControlCall {
                request,
                caller,
                reply,
            })
            .await
            .map_err(|_| ControlError::unavailable("planed is shutting down"))?;
        answer
            .await
            .map_err(|_| ControlError::internal("the request was dropped without an answer"))?
    }
}

/// Who may send changes besides root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `[control] group`, resolved: its name and gid.
    pub change_group: Option<(String, u32)>,
}

impl AccessPolicy {
    /// Resolves `[control] group` from the group database.
    pub fn from_group_name(name: Option<&str>) -> Result<AccessPolicy, ServerError> {
        let Some(name) = name else {
            return Ok(AccessPolicy::default());
        };
        match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Ok(AccessPolicy {
                change_group: Some((name.to_string(), g.gid.as_raw())),
            }),
            Ok(None) => Err(ServerError::UnknownGroup(name.to_string())),
            Err(e) => Err(ServerError::GroupLookup {
                group: name.to_string(),
                source: e.into(),
            }),
        }
    }

    /// May `caller` send a change? Root always may; otherwise the caller's
    /// primary gid or one of `groups_of(uid)` (its supplementary groups in
    /// the group database) must be the control group.
    pub fn authorize_change(
        &self,
        caller: &Caller,
        groups_of: impl FnOnce(u32) -> Vec<u32>,
    ) -> Result<(), ControlError> {
        if caller.uid == 0 {
            return Ok(());
        }
        let denied = |why: String| ControlError::new(ErrorCode::PermissionDenied, why);
        let Some((name, gid)) = &self.change_group else {
            return Err(denied(format!(
                "permission denied: uid {} may only read; changes need root (no [control] group is configured)",
                caller.uid
            )));
        };
        if caller.gid == *gid || groups_of(caller.uid).contains(gid) {
            return Ok(());
        }
        Err(denied(format!(
            "permission denied: uid {} is neither root nor in group {name}, which may make changes",
            caller.uid
        )))
    }
}

/// The supplementary groups of a user in the group database (getgrouplist).
/// The database rather than `/proc/PID/status`: a PID can be reused between
/// the connect and the read.
pub fn groups_of_user(uid: u32) -> Vec<u32> {
    use nix::unistd::{getgrouplist, Uid, User};
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    getgrouplist(&name, user.gid)
        .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub socket: PathBuf,
    pub access: AccessPolicy,
    /// Mode of the socket file. Default 0o666: anyone may connect and read;
    /// changes are checked per request against the caller's credentials.
    pub socket_mode: u32,
    pub max_request_bytes: usize,
    pub max_connections: usize,
    /// A connection that sends no complete request, or does not read its
    /// reply, for this long is closed.
    pub idle_timeout: Duration,
}

impl ServerOptions {
    pub fn new(socket: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            socket: socket.into(),
            access: AccessPolicy::default(),
            socket_mode: 0o666,
            max_request_bytes: MAX_REQUEST_BYTES,
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ServerOptions {
    /// The options `[control]` asks for (the group resolved): what planed
    /// uses after applying `--socket` / `PLANE_SOCKET` to `control.socket`.
    pub fn from_config(
        control: &crate::config::ControlConfig,
    ) -> Result<ServerOptions, ServerError> {
        let mut opts = ServerOptions::new(&control.socket);
        opts.access = AccessPolicy::from_group_name(control.group.as_deref())?;
        Ok(opts)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("control socket {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: another planed is listening on it", .0.display())]
    InUse(PathBuf),
    #[error("control socket {}: exists and is not a socket; not replacing it", .0.display())]
    NotASocket(PathBuf),
    #[error("[control] group {0:?} does not exist")]
    UnknownGroup(String),
    #[error("[control] group {group:?}: cannot look it up: {source}")]
    GroupLookup {
        group: String,
        #[source]
        source: io::Error,
    },
}

/// The bound socket file; removed on drop if it is still ours.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), "cannot remove control socket: {e}");
                }
            }
            // Replaced by someone else or already gone: not ours to remove.
            _ => {}
        }
    }
}

/// A bound control socket, ready to [`serve`](ControlServer::serve).
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    file: SocketFile,
    opts: ServerOptions,
}

impl ControlServer {
    /// Creates the socket directory (mode 0755) if needed, replaces a stale
    /// socket file (one nobody listens on), binds and sets the socket mode.
    /// Must run inside a tokio runtime.
    pub fn bind(opts: ServerOptions) -> Result<ControlServer, ServerError> {
        let path = opts.socket.clone();
        let io_err = |what: &'static str| {
            let path = path.clone();
            move |source| ServerError::Io { path, what, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)
                    .map_err(io_err("cannot create its directory"))?;
            }
        }
        remove_stale(&path)?;
        let listener = UnixListener::bind(&path).map_err(io_err("cannot bind"))?;
        let meta = std::fs::symlink_metadata(&path).map_err(io_err("cannot stat after bind"))?;
        let file = SocketFile {
            path: path.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(opts.socket_mode))
            .map_err(io_err("cannot set its mode"))?;
        if let Some((_, gid)) = &opts.access.change_group {
            // Group ownership lets a mode of 0o660 admit exactly the group.
            nix::unistd::chown(&path, None, Some(nix::unistd::Gid::from_raw(*gid))).map_err(
                |e| ServerError::Io {
                    path: path.clone(),
                    what: "cannot chown to the control group",
                    source: e.into(),
                },
            )?;
        }
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer {
            listener,
            file,
            opts,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Serves connections until `shutdown` resolves, then closes every
    /// connection and removes the socket file.
    pub async fn serve<H: ControlHandler>(
        self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) {
        let ControlServer {
            listener,
            file,
            opts,
        } = self;
        let opts = Arc::new(opts);
        let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let handler = handler.clone();
                        let opts = opts.clone();
                        match slots.clone().try_acquire_owned() {
                            Ok(slot) => {
                                connections.spawn(async move {
                                    serve_connection(stream, handler.as_ref(), &opts).await;
                                    drop(slot);
                                }.instrument(tracing::debug_span!("control")));
                            }
                            Err(_) => {
                                connections.spawn(refuse_busy(stream, opts.max_connections));
                            }
                        }
                    }
                    Err(e) => {
                        // EMFILE and the like: log, back off, keep serving.
                        tracing::warn!("control socket accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
        drop(listener);
        drop(file);
        tracing::info!("control socket closed");
    }
}

/// Removes `path` if it is a socket nobody listens on; refuses a live socket
/// or anything that is not a socket.
fn remove_stale(path: &Path) -> Result<(), ServerError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ServerError::Io {
                path: path.to_path_buf(),
                what: "cannot stat",
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ServerError::NotASocket(path.to_path_buf()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(ServerError::InUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing stale control socket");
            std::fs::remove_file(path).map_err(|source| ServerError::Io {
                path: path.to_path_buf(),
                what: "cannot remove the stale socket",
                source,
            })
        }
        Err(source) => Err(ServerError::Io {
            path: path.to_path_buf(),
            what: "cannot probe the existing socket",
            source,
        }),
    }
}

async fn refuse_busy(mut stream: UnixStream, max: usize) {
    let err = ControlError::unavailable(format!(
        "too many control connections (at most {max}); try again"
    ));
    let _ = write_lines(&mut stream, &[ReplyLine::Error(err)]).await;
}

/// What [`read_request_line`] got.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    Line,
    Eof,
    TooLong,
}

/// Reads one line into `buf` (without the newline), never holding more than
/// `max` bytes. A final line without newline counts as a line.
async fn read_request_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (chunk, newline) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => available.split_at(i),
            None => (available, &[][..]),
        };
        if buf.len() + chunk.len() > max {
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(chunk);
        let complete = !newline.is_empty();
        let used = chunk.len() + usize::from(complete);
        r.consume(used);
        if complete {
            return Ok(LineRead::Line);
        }
    }
}

async fn serve_connection<H: ControlHandler>(
    stream: UnixStream,
    handler: &H,
    opts: &ServerOptions,
) {
    let caller = match stream.peer_cred() {
        Ok(c) => Caller {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        },
        Err(e) => {
            tracing::warn!("control connection without peer credentials: {e}");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let read = tokio::time::timeout(
            opts.idle_timeout,
            read_request_line(&mut reader, &mut line, opts.max_request_bytes),
        )
        .await;
        let request = match read {
            Err(_) => {
                tracing::debug!("idle control connection closed");
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!("control connection: {e}");
                return;
            }
            Ok(Ok(LineRead::Eof)) => return,
            Ok(Ok(LineRead::TooLong)) => {
                let err = ControlError::new(
                    ErrorCode::RequestTooLarge,
                    format!(
                        "request longer than {} bytes; closing the connection",
                        opts.max_request_bytes
                    ),
                );
                let _ = write_lines(&mut write, &[ReplyLine::Error(err)]).await;
                return;
            }
            Ok(Ok(LineRead::Line)) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                serde_json::from_slice::<Request>(&line)
            }
        };
        let lines = match request {
            Err(e) => vec![ReplyLine::Error(ControlError::bad_request(format!(
                "bad request: {e}"
            )))],
            Ok(request) => answer(handler, &opts.access, request, caller).await,
        };
        // A client that stops reading must not hold its slot forever.
        match tokio::time::timeout(opts.idle_timeout, write_lines(&mut write, &lines)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!("control connection: cannot reply: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!("control connection: client stopped reading; closed");
                return;
            }
        }
    }
}

/// Authorizes, asks the handler and turns its answer into reply lines.
async fn answer<H: ControlHandler>(
    handler: &H,
    access: &AccessPolicy,
    request: Request,
    caller: Caller,
) -> Vec<ReplyLine> {
    let verb = request.verb();
    if let Err(e) = request.validate() {
        return vec![ReplyLine::Error(e)];
    }
    if request.is_change() {
        if let Err(e) = access.authorize_change(&caller, groups_of_user) {
            tracing::warn!(verb, uid = caller.uid, "control change refused: {e}");
            return vec![ReplyLine::Error(e)];
        }
        tracing::info!(verb, uid = caller.uid, ?request, "control change");
    }
    let result = match handler.handle(request.clone(), caller).await {
        Ok(response) if response.answers(&request) => response
            .into_items()
            .map_err(|e| ControlError::internal(format!("cannot encode the reply: {e}"))),
        Ok(response) => {
            tracing::error!(
                verb,
                ?response,
                "control handler answered with the wrong kind of response"
            );
            Err(ControlError::internal(format!(
                "planed answered {verb} with the wrong kind of response (a bug)"
            )))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(items) => {
            let count = u64::try_from(items.len()).unwrap_or(u64::MAX);
            let mut lines: Vec<ReplyLine> = items.into_iter().map(ReplyLine::Item).collect();
            lines.push(ReplyLine::End { count });
            lines
        }
        Err(e) => vec![ReplyLine::Error(e)],
    }
}

async fn write_lines<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    lines: &[ReplyLine],
) -> io::Result<()> {
    let mut out = Vec::new();
    for line in lines {
        serde_json::to_writer(&mut out, line).map_err(io::Error::other)?;
        out.push(b'\n');
    }
    w.write_all(&out).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            pid: Some(1),
        }
    }

    #[test]
    fn root_may_always_change() {
        assert!(AccessPolicy::default()
            .authorize_change(&caller(0, 0), |_| vec![])
            .is_ok());
    }

    #[test]
    fn without_group_only_root_may_change() {
        let e = AccessPolicy::default()
            .authorize_change(&caller(1000, 1000), |_| vec![1000])
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert!(
            e.message.contains("uid 1000") && e.message.contains("need root"),
            "{e}"
        );
    }

    #[test]
    fn group_members_may_change_by_primary_or_supplementary_gid() {
        let p = AccessPolicy {
            change_group: Some(("plane".into(), 500)),
        };
        assert!(p.authorize_change(&caller(1000, 500), |_| vec![]).is_ok());
        assert!(p
            .authorize_change(&caller(1000, 1000), |uid| if uid == 1000 {
                vec![1000, 500]
            } else {
                vec![]
            })
            .is_ok());
        let e = p
            .authorize_change(&caller(1001, 1001), |_| vec![1001, 27])
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert!(
            e.message.contains("not in group plane") || e.message.contains("nor in group plane"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn request_lines_are_bounded() {
        let mut buf = Vec::new();
        let mut r = BufReader::with_capacity(4, &b"abc\n\nlonger-than-eight\nx"[..]);
        assert_eq!(
            read_request_line(&mut r, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"abc");
        assert_eq!(
            read_request_line(&mut r, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"");
        assert_eq!(
            read_request_line(&mut r, &mut buf, 8).await.unwrap(),
            LineRead::TooLong
        );
        let mut r = BufReader::new(&b"x"[..]);
        assert_eq!(
            read_request_line(&mut r, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"x");
        assert_eq!(
            read_request_line(&mut r, &mut buf, 8).await.unwrap(),
            LineRead::Eof
        );
    }
}
