//! The one file that does packet I/O (pnet): per VNI bridge, a thread that
//! reads the frames the bridge passes up to the host, reports the IP-to-MAC
//! bindings seen in ARP/ND ([`crate::arpnd::snoop`]) as
//! [`Notification::Snooped`], and, in userspace-responder mode, answers ARP
//! requests and NS for the bindings the control plane knows
//! ([`crate::arpnd::respond`]) by sending the reply into the bridge, which
//! delivers it to the asking port only (unicast to its MAC).
//!
//! Never floods: replies are unicast frames, and requests it cannot answer
//! are left alone (the VXLAN port has flooding off, so they stay local).
//! The thread stops when its [`LocalIo`] handle is dropped (checked at
//! least every read timeout).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use pnet::datalink::{self, Channel, Config};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::arpnd;
use crate::backend::Notification;
use crate::types::Mac;

/// How often the thread looks at its control channel when no frame comes.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// A change to the bindings the responder answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Set(IpAddr, Mac),
    Remove(IpAddr),
}

/// Handle of a running snooper/responder thread; dropping it stops the
/// thread.
#[derive(Debug)]
pub struct LocalIo {
    bridge: String,
    responder: bool,
    bindings: std_mpsc::Sender<Binding>,
}

impl LocalIo {
    /// Opens a packet socket on `bridge` (in the calling thread's network
    /// namespace) and starts the thread. `responder` turns on answering.
    pub fn start(
        bridge: &str,
        responder: bool,
        initial: Vec<Binding>,
        notify: mpsc::Sender<Vec<Notification>>,
    ) -> Result<LocalIo, String> {
        let iface = datalink::interfaces()
            .into_iter()
            .find(|i| i.name == bridge)
            .ok_or_else(|| format!("{bridge}: no such interface for packet capture"))?;
        let cfg = Config {
            read_timeout: Some(READ_TIMEOUT),
            ..Config::default()
        };
        let (mut tx, mut rx) = match datalink::channel(&iface, cfg) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err(format!("{bridge}: not an Ethernet channel")),
            Err(e) => return Err(format!("{bridge}: packet socket: {e}")),
        };
        let (btx, brx) = std_mpsc::channel::<Binding>();
        for b in initial {
            let _ = btx.send(b);
        }
        let name = bridge.to_string();
        std::thread::Builder::new()
            .name(format!("plane-io-{bridge}"))
            .spawn(move || {
                let mut table: HashMap<IpAddr, Mac> = HashMap::new();
                loop {
                    loop {
                        match brx.try_recv() {
                            Ok(Binding::Set(ip, mac)) => {
                                table.insert(ip, mac);
                            }
                            Ok(Binding::Remove(ip)) => {
                                table.remove(&ip);
                            }
                            Err(std_mpsc::TryRecvError::Empty) => break,
                            Err(std_mpsc::TryRecvError::Disconnected) => {
                                debug!(bridge = %name, "ARP/ND thread stopped");
                                return;
                            }
                        }
                    }
                    let frame = match rx.next() {
                        Ok(f) => f,
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            warn!(bridge = %name, %e, "packet socket failed; ARP/ND snooping stops");
                            return;
                        }
                    };
                    if let Some((ip, mac)) = arpnd::snoop(frame) {
                        let n = Notification::Snooped { bridge: name.clone(), ip, mac };
                        if let Err(mpsc::error::TrySendError::Closed(_)) = notify.try_send(vec![n]) {
                            return;
                        }
                    }
                    if responder {
                        if let Some(reply) = arpnd::respond(frame, |ip| table.get(&ip).copied()) {
                            match tx.send_to(&reply, None) {
                                Some(Ok(())) => {}
                                Some(Err(e)) => warn!(bridge = %name, %e, "sending ARP/ND reply failed"),
                                None => warn!(bridge = %name, "sending ARP/ND reply: no buffer"),
                            }
                        }
                    }
                }
            })
            .map_err(|e| format!("{bridge}: thread: {e}"))?;
        Ok(LocalIo {
            bridge: bridge.to_string(),
            responder,
            bindings: btx,
        })
    }

    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    pub fn responder(&self) -> bool {
        self.responder
    }

    /// Hands a binding change to the thread (no-op once it has stopped).
    pub fn update(&self, b: Binding) {
        let _ = self.bindings.send(b);
    }
}
