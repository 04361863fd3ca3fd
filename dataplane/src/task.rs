//! The dataplane task and its handle.
//!
//! ```text
//!  control plane ──Command (bounded mpsc, replies on oneshot)──┐
//!                                                             ▼
//!  kernel notifications ──Notification (bounded mpsc)──> [dataplane task] ──Op batches──> Backend
//!  (netlink monitor, ARP/ND snooper)                       owns Desired,                (netlink or
//!                                                          cached Observed              recording)
//!                                                             │
//!                                                             └──Event (bounded mpsc)──> control plane
//! ```
//!
//! One task owns the desired state and its cached view of the kernel. A
//! batch of changes is reconciled incrementally (only the touched keys), so
//! 100k routes program in one pass. The cached view is kept current by the
//! results of executed operations and by notifications; it is rebuilt by a
//! full dump on start, on overrun (ENOBUFS) and on request.
//!
//! Restart without disruption: the task starts by dumping the kernel, and
//! until the control plane calls [`Dataplane::resync`] (its desired state is
//! complete, e.g. BGP End-of-RIB), reconciles only add and replace: stale
//! entries plane owns are removed at that first resync, never before.
//!
//! Never calls netlink itself (the backend does); never blocks on the event
//! receiver (events are dropped with a warning when it is full).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backend::{Backend, BackendError, Notification, OpError};
use crate::local_io::{Binding, LocalIo};
use crate::reconcile::{apply_to_observed, reconcile, reconcile_scope, Op, Plan, Scope};
use crate::state::{Change, ChangeError, Desired, DeviceRole, Observed};
use crate::types::{BumPolicy, Mac, Vni, VniConfig};

/// How long notifications are collected before drift is repaired.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// Capacity of the command, notification and event channels.
pub const CHANNEL: usize = 1024;
/// Capacity of the notification channel, in batches. While the task
/// programs a large plan it reads no notifications (three per removed
/// MAC+IP): the monitor then keeps draining the kernel socket into one
/// growing batch (bounded by [`crate::netlink::monitor::MAX_PENDING`]), so
/// that the socket does not overrun into a full resync.
pub const NOTIFICATION_CHANNEL: usize = 1024;
/// Batches taken from the channel per pass of the task's loop.
const NOTIFICATION_BATCH: usize = 64;

/// Something the control plane should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A MAC learned by the bridge on a local port (FDB notification):
    /// a local endpoint attached without registration.
    LocalMac { vni: Vni, mac: Mac, port: String },
    /// The bridge forgot a local MAC (aged out, port removed).
    LocalMacGone { vni: Vni, mac: Mac, port: String },
    /// An IP-to-MAC binding of a local endpoint, seen in ARP/ND on the bridge.
    LocalIp { vni: Vni, ip: IpAddr, mac: Mac },
    /// An operation of a drift repair or resync failed.
    OpFailed { op: Op, error: OpError },
    /// Desired state that cannot be programmed (see [`Plan::conflicts`]).
    Conflict(String),
    /// A full resync ran and issued this many operations.
    Resynced { ops: usize },
    /// A scoped drift repair (entries or devices changed behind plane's
    /// back) issued this many operations.
    Repaired { ops: usize },
}

/// One failed operation of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure {
    pub op: Op,
    pub error: OpError,
}

/// Outcome of [`Dataplane::apply`] or [`Dataplane::resync`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Kernel operations issued (successful or not).
    pub ops: usize,
    pub failed: Vec<OpFailure>,
    /// Changes refused before reaching the kernel.
    pub refused: Vec<ChangeError>,
    pub conflicts: Vec<String>,
}

/// Errors of the handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataplaneError {
    #[error("dataplane task has stopped")]
    Stopped,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What is programmed for one VNI (`planectl show fdb`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VniSnapshot {
    pub vni: Vni,
    pub bridge: String,
    pub vxlan: String,
    pub macs: Vec<FdbRow>,
    pub neighbours: Vec<NeighRow>,
    pub flood: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdbRow {
    pub mac: Mac,
    pub vtep: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighRow {
    pub ip: IpAddr,
    pub mac: Mac,
}

enum Command {
    Apply(Vec<Change>, oneshot::Sender<ApplyReport>),
    Resync(oneshot::Sender<Result<ApplyReport, BackendError>>),
    Snapshot(oneshot::Sender<Vec<VniSnapshot>>),
    Desired(oneshot::Sender<Desired>),
    Plan(oneshot::Sender<Result<Plan, BackendError>>),
}

/// Handle to the dataplane task. Cloneable; the task stops when every handle
/// is dropped.
#[derive(Clone, Debug)]
pub struct Dataplane {
    tx: mpsc::Sender<Command>,
}

impl Dataplane {
    /// Starts the task over `backend`: dumps the kernel first (adoption),
    /// then serves commands and notifications. Returns the handle and the
    /// event stream.
    pub async fn start<B: Backend>(
        backend: B,
        notifications: Option<mpsc::Receiver<Vec<Notification>>>,
    ) -> Result<(Dataplane, mpsc::Receiver<Event>), DataplaneError> {
        Self::start_with_io(backend, notifications, None).await
    }

    /// [`Dataplane::start`] with ARP/ND snooping and the userspace responder:
    /// threads started per VNI bridge report on `snoop_tx` (the sender of
    /// `notifications`).
    async fn start_with_io<B: Backend>(
        mut backend: B,
        notifications: Option<mpsc::Receiver<Vec<Notification>>>,
        snoop_tx: Option<mpsc::Sender<Vec<Notification>>>,
    ) -> Result<(Dataplane, mpsc::Receiver<Event>), DataplaneError> {
        let observed = backend.observe().await?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (ev_tx, ev_rx) = mpsc::channel(CHANNEL);
        let index = observed
            .links
            .iter()
            .map(|(n, l)| (l.ifindex, n.clone()))
            .collect();
        let task = Task {
            backend,
            desired: Desired::default(),
            observed,
            index,
            synced: false,
            pending: Scope::default(),
            pending_full: false,
            deadline: None,
            events: ev_tx,
            learned_ips: BTreeMap::new(),
            snoop_tx,
            local_io: BTreeMap::new(),
            notifications,
        };
        tokio::spawn(task.run(rx));
        Ok((Dataplane { tx }, ev_rx))
    }

    /// Starts the kernel dataplane in the current network namespace:
    /// netlink backend, notification monitor.
    pub async fn start_netlink(
        opts: crate::netlink::NetlinkOptions,
    ) -> Result<(Dataplane, mpsc::Receiver<Event>), DataplaneError> {
        let mut backend = crate::netlink::NetlinkBackend::new(opts)?;
        let (ntx, nrx) = mpsc::channel(NOTIFICATION_CHANNEL);
        // Subscribe before the first dump, so that nothing between dump and
        // subscription is missed.
        let own = backend.port_ids();
        backend.pace_with(crate::netlink::spawn_monitor(ntx.clone(), &own)?);
        Dataplane::start_with_io(backend, Some(nrx), Some(ntx)).await
    }

    /// Starts over a [`crate::recording::RecordingBackend`] with an empty
    /// model; the receiver gets every executed batch of operations.
    pub async fn recording() -> (
        Dataplane,
        mpsc::Receiver<Event>,
        mpsc::UnboundedReceiver<Vec<Op>>,
    ) {
        let (backend, log) = crate::recording::RecordingBackend::new();
        let (ev_tx, ev_rx) = mpsc::channel(CHANNEL);
        let (tx, rx) = mpsc::channel(CHANNEL);
        let task = Task {
            backend,
            desired: Desired::default(),
            observed: Observed::default(),
            index: HashMap::new(),
            synced: false,
            pending: Scope::default(),
            pending_full: false,
            deadline: None,
            events: ev_tx,
            learned_ips: BTreeMap::new(),
            snoop_tx: None,
            local_io: BTreeMap::new(),
            notifications: None,
        };
        tokio::spawn(task.run(rx));
        (Dataplane { tx }, ev_rx, log)
    }

    /// Sends one command with its reply channel and waits for the reply;
    /// [`DataplaneError::Stopped`] when the task is gone either way.
    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DataplaneError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(command(tx))
            .await
            .map_err(|_| DataplaneError::Stopped)?;
        rx.await.map_err(|_| DataplaneError::Stopped)
    }

    /// Applies a batch of desired-state changes and programs what differs.
    /// Refused changes and failed operations are in the report; the others
    /// take effect.
    pub async fn apply(&self, changes: Vec<Change>) -> Result<ApplyReport, DataplaneError> {
        self.request(|tx| Command::Apply(changes, tx)).await
    }

    /// Dumps the kernel, reconciles everything and removes stale entries and
    /// devices plane owns. Call it once the desired state is complete after
    /// a start (until then nothing is removed), and whenever a full check is
    /// wanted.
    pub async fn resync(&self) -> Result<ApplyReport, DataplaneError> {
        Ok(self.request(Command::Resync).await??)
    }

    /// What is programmed, per configured VNI: remote MACs with VTEP,
    /// suppression neighbours, flood list (entries carrying plane's mark).
    pub async fn snapshot(&self) -> Result<Vec<VniSnapshot>, DataplaneError> {
        self.request(Command::Snapshot).await
    }

    /// A copy of the desired state (for diagnostics and tests).
    pub async fn desired(&self) -> Result<Desired, DataplaneError> {
        self.request(Command::Desired).await
    }

    /// Dry run: dumps the kernel and returns what a full resync would do,
    /// without doing it (drift report for operators and tests).
    pub async fn plan(&self) -> Result<Plan, DataplaneError> {
        Ok(self.request(Command::Plan).await??)
    }

    pub async fn set_vni(&self, cfg: VniConfig) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::SetVni(cfg)]).await
    }
    pub async fn remove_vni(&self, vni: Vni) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::RemoveVni(vni)]).await
    }
    pub async fn set_remote_mac(
        &self,
        vni: Vni,
        mac: Mac,
        vtep: IpAddr,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::SetRemoteMac { vni, mac, vtep }])
            .await
    }
    pub async fn remove_remote_mac(
        &self,
        vni: Vni,
        mac: Mac,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::RemoveRemoteMac { vni, mac }]).await
    }
    pub async fn set_remote_ip(
        &self,
        vni: Vni,
        ip: IpAddr,
        mac: Mac,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::SetRemoteIp { vni, ip, mac }]).await
    }
    pub async fn remove_remote_ip(
        &self,
        vni: Vni,
        ip: IpAddr,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::RemoveRemoteIp { vni, ip }]).await
    }
    pub async fn add_flood_vtep(
        &self,
        vni: Vni,
        vtep: IpAddr,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::AddFloodVtep { vni, vtep }]).await
    }
    pub async fn remove_flood_vtep(
        &self,
        vni: Vni,
        vtep: IpAddr,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::RemoveFloodVtep { vni, vtep }])
            .await
    }
    pub async fn add_local_port(
        &self,
        vni: Vni,
        ifname: &str,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::AddLocalPort {
            vni,
            ifname: ifname.to_string(),
        }])
        .await
    }
    pub async fn remove_local_port(
        &self,
        vni: Vni,
        ifname: &str,
    ) -> Result<ApplyReport, DataplaneError> {
        self.apply(vec![Change::RemoveLocalPort {
            vni,
            ifname: ifname.to_string(),
        }])
        .await
    }
}

struct Task<B> {
    backend: B,
    desired: Desired,
    observed: Observed,
    /// ifindex -> name, for notifications.
    index: HashMap<u32, String>,
    /// The control plane declared its desired state complete once: stale
    /// state may be removed.
    synced: bool,
    /// Keys that notifications reported as drifted, repaired at `deadline`.
    pending: Scope,
    pending_full: bool,
    deadline: Option<Instant>,
    events: mpsc::Sender<Event>,
    /// Local IP bindings already reported, to report changes only.
    learned_ips: BTreeMap<(Vni, IpAddr), Mac>,
    /// Where snooper threads report (`None`: no packet I/O, e.g. recording).
    snoop_tx: Option<mpsc::Sender<Vec<Notification>>>,
    /// Snooper/responder thread per VNI.
    local_io: BTreeMap<Vni, LocalIo>,
    /// Kernel notifications (and snooper reports), in batches; `None` when
    /// there is no monitor or its stream ended.
    notifications: Option<mpsc::Receiver<Vec<Notification>>>,
}

impl<B: Backend> Task<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let deadline = self.deadline;
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.command(cmd).await;
                }
                batch = async {
                    match self.notifications.as_mut() {
                        Some(r) => {
                            // Everything queued at once: one pass of the
                            // loop per burst.
                            let mut batch = Vec::with_capacity(NOTIFICATION_BATCH);
                            r.recv_many(&mut batch, NOTIFICATION_BATCH).await;
                            batch
                        }
                        None => std::future::pending().await,
                    }
                } => {
                    if batch.is_empty() {
                        warn!("kernel notification stream ended; drift is no longer detected");
                        self.notifications = None;
                    }
                    for n in batch.into_iter().flatten() {
                        self.notification(n);
                    }
                }
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.repair().await;
                }
            }
        }
        debug!("dataplane task stopped: every handle dropped");
    }

    /// Takes what is queued on the notification channel now, without
    /// waiting.
    fn take_notifications(&mut self) {
        let mut taken = Vec::new();
        if let Some(r) = self.notifications.as_mut() {
            while let Ok(batch) = r.try_recv() {
                taken.push(batch);
            }
        }
        for n in taken.into_iter().flatten() {
            self.notification(n);
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Apply(changes, reply) => {
                let report = self.apply(changes).await;
                let _ = reply.send(report);
            }
            Command::Resync(reply) => {
                self.synced = true;
                let r = self.full_resync().await;
                self.sync_local_io(&Scope::default());
                let _ = reply.send(r);
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::Desired(reply) => {
                let _ = reply.send(self.desired.clone());
            }
            Command::Plan(reply) => {
                let r = self
                    .backend
                    .observe()
                    .await
                    .map(|o| reconcile(&self.desired, &o));
                let _ = reply.send(r);
            }
        }
    }

    async fn apply(&mut self, changes: Vec<Change>) -> ApplyReport {
        let mut report = ApplyReport::default();
        let mut scope = Scope::default();
        let full = take_changes(&mut self.desired, changes, &mut scope, &mut report);
        let plan = if full {
            let mut p = reconcile(&self.desired, &self.observed);
            if !self.synced {
                p.ops.retain(is_additive);
            }
            p
        } else {
            reconcile_scope(&self.desired, &self.observed, &scope)
        };
        self.execute(plan, &mut report).await;
        self.sync_local_io(&scope);
        report
    }

    /// Starts, restarts or stops the snooper/responder threads to match the
    /// desired VNIs, and hands binding changes of `scope` to responders.
    fn sync_local_io(&mut self, scope: &Scope) {
        let Some(notify) = self.snoop_tx.clone() else {
            return;
        };
        self.local_io.retain(|vni, io| {
            self.desired.vnis.get(vni).is_some_and(|st| {
                st.config.bridge == io.bridge()
                    && io.responder() == (st.config.bum == BumPolicy::UserspaceResponder)
            })
        });
        for (vni, st) in &self.desired.vnis {
            if self.local_io.contains_key(vni)
                || !self.observed.links.contains_key(&st.config.bridge)
            {
                continue;
            }
            let responder = st.config.bum == BumPolicy::UserspaceResponder;
            let initial = if responder {
                st.ips
                    .iter()
                    .map(|(ip, mac)| Binding::Set(*ip, *mac))
                    .collect()
            } else {
                Vec::new()
            };
            match LocalIo::start(&st.config.bridge, responder, initial, notify.clone()) {
                Ok(io) => {
                    self.local_io.insert(*vni, io);
                }
                Err(e) => warn!(%vni, %e, "ARP/ND snooping not started"),
            }
        }
        for (vni, ip) in &scope.ips {
            let Some(io) = self.local_io.get(vni).filter(|io| io.responder()) else {
                continue;
            };
            match self.desired.vnis.get(vni).and_then(|st| st.ips.get(ip)) {
                Some(mac) => io.update(Binding::Set(*ip, *mac)),
                None => io.update(Binding::Remove(*ip)),
            }
        }
    }

    async fn execute(&mut self, plan: Plan, report: &mut ApplyReport) {
        report.conflicts.extend(plan.conflicts);
        if plan.ops.is_empty() {
            return;
        }
        // The monitor never waits for this task: what it reports meanwhile
        // is held (at most about two notifications per operation) and
        // taken below, once `observed` has these operations' results,
        // together with every echo of them (settle), before anything is
        // planned again.
        let mut held = Vec::new();
        let results = hold_notifications(
            &mut self.notifications,
            &mut held,
            self.backend.execute(&plan.ops),
        )
        .await;
        hold_notifications(&mut self.notifications, &mut held, self.backend.settle()).await;
        let created = plan
            .ops
            .iter()
            .any(|o| matches!(o, Op::CreateBridge { .. } | Op::CreateVxlan(_)));
        record(&mut self.observed, plan.ops, results, report);
        // The kernel chose the indexes of created devices: learn them. A
        // recreated bridge also invalidates packet sockets bound to the old
        // one: restart the snooper threads (sync_local_io starts them).
        if created {
            self.local_io.clear();
            match self.backend.observe().await {
                Ok(o) => self.observed = o,
                Err(e) => warn!(%e, "dump after device creation failed"),
            }
        }
        self.index = self
            .observed
            .links
            .iter()
            .map(|(n, l)| (l.ifindex, n.clone()))
            .collect();
        for n in held.into_iter().flatten() {
            self.notification(n);
        }
        self.take_notifications();
    }

    async fn full_resync(&mut self) -> Result<ApplyReport, BackendError> {
        self.observed = self.backend.observe().await?;
        self.index = self
            .observed
            .links
            .iter()
            .map(|(n, l)| (l.ifindex, n.clone()))
            .collect();
        let mut plan = reconcile(&self.desired, &self.observed);
        if !self.synced {
            plan.ops.retain(is_additive);
        }
        let mut report = ApplyReport::default();
        self.execute(plan, &mut report).await;
        info!(
            ops = report.ops,
            failed = report.failed.len(),
            "dataplane resynced"
        );
        Ok(report)
    }

    /// Repairs what notifications reported as drifted.
    async fn repair(&mut self) {
        self.deadline = None;
        let scope = std::mem::take(&mut self.pending);
        let full = std::mem::replace(&mut self.pending_full, false);
        let report = if full {
            match self.full_resync().await {
                Ok(r) => r,
                Err(e) => {
                    warn!(%e, "resync failed; retrying");
                    self.pending_full = true;
                    self.deadline = Some(Instant::now() + Duration::from_secs(1));
                    return;
                }
            }
        } else {
            let mut report = ApplyReport::default();
            let mut plan = self.forced_plan(&scope);
            if !self.synced {
                plan.ops.retain(is_additive);
            }
            let ops = plan.ops.len();
            if ops > 0 {
                info!(ops, "repairing dataplane drift");
                debug!(plan = ?plan.ops, "drift repair operations");
            }
            self.execute(plan, &mut report).await;
            if ops > 0 {
                self.event(Event::Repaired { ops });
            }
            report
        };
        self.sync_local_io(&Scope::default());
        for f in report.failed {
            self.event(Event::OpFailed {
                op: f.op,
                error: f.error,
            });
        }
        for c in report.conflicts {
            self.event(Event::Conflict(c));
        }
        if full {
            self.event(Event::Resynced { ops: report.ops });
        }
    }

    /// The repair plan for keys that notifications reported as drifted.
    ///
    /// Entry notifications may be stale (they are processed after the
    /// results of later operations), so they never rewrite the cached view:
    /// a desired entry reported deleted or altered is simply installed again
    /// (add with replace is idempotent). Devices are reconciled from the
    /// cached view, which link notifications keep current.
    fn forced_plan(&self, scope: &Scope) -> Plan {
        let links = Scope {
            vnis: scope.vnis.clone(),
            ..Scope::default()
        };
        let mut plan = reconcile_scope(&self.desired, &self.observed, &links);
        for (vni, mac) in &scope.macs {
            if let Some(st) = self.desired.vnis.get(vni) {
                if let Some(vtep) = st.macs.get(mac) {
                    plan.ops.push(Op::AddFdb {
                        vni: *vni,
                        dev: st.config.vxlan.clone(),
                        mac: *mac,
                        vtep: *vtep,
                    });
                }
            }
        }
        for (vni, ip) in &scope.ips {
            if let Some(st) = self.desired.vnis.get(vni) {
                if let Some(mac) = st.ips.get(ip) {
                    plan.ops.push(Op::AddNeigh {
                        vni: *vni,
                        bridge: st.config.bridge.clone(),
                        ip: *ip,
                        mac: *mac,
                    });
                }
            }
        }
        for (vni, vtep) in &scope.flood {
            if let Some(st) = self.desired.vnis.get(vni) {
                if st.config.bum.floods() && st.flood.contains(vtep) {
                    plan.ops.push(Op::AddFlood {
                        vni: *vni,
                        dev: st.config.vxlan.clone(),
                        vtep: *vtep,
                    });
                }
            }
        }
        plan
    }

    fn schedule(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + DEBOUNCE);
        }
    }

    fn event(&self, e: Event) {
        if let Err(mpsc::error::TrySendError::Full(e)) = self.events.try_send(e) {
            warn!(event = ?e, "dataplane event dropped: receiver is not keeping up");
        }
    }

    fn notification(&mut self, n: Notification) {
        match n {
            Notification::Overrun => {
                warn!("kernel notifications lost (ENOBUFS): resync by dump");
                self.pending_full = true;
                self.schedule();
            }
            Notification::Link {
                name,
                mut link,
                master,
                deleted,
            } => {
                let role = self.desired.vni_of_device(&name);
                if deleted {
                    if self.index.get(&link.ifindex) == Some(&name) {
                        self.index.remove(&link.ifindex);
                    }
                    if self
                        .observed
                        .links
                        .get(&name)
                        .is_some_and(|l| l.ifindex == link.ifindex)
                    {
                        apply_to_observed(
                            &mut self.observed,
                            &Op::DeleteLink { name: name.clone() },
                        );
                    }
                    if let Some((vni, r)) = role {
                        if r != DeviceRole::LocalPort {
                            // A device of ours vanished: its entries went with it.
                            info!(%vni, device = %name, "dataplane device deleted behind plane's back");
                            self.pending_full = true;
                        }
                        self.pending.vnis.insert(vni);
                        self.schedule();
                    }
                    return;
                }
                link.master = master.and_then(|m| self.index.get(&m).cloned());
                self.index.insert(link.ifindex, name.clone());
                let recreated = self
                    .observed
                    .links
                    .get(&name)
                    .is_some_and(|l| l.ifindex != link.ifindex);
                self.observed.links.insert(name.clone(), link);
                if let Some((vni, _)) = role {
                    if recreated {
                        self.pending_full = true;
                    }
                    let mut scope = Scope::default();
                    scope.vnis.insert(vni);
                    if !reconcile_scope(&self.desired, &self.observed, &scope)
                        .ops
                        .is_empty()
                    {
                        self.pending.vnis.insert(vni);
                        self.schedule();
                    }
                }
            }
            Notification::PortFlags { name, flags } => {
                let Some((vni, _)) = self.desired.vni_of_device(&name) else {
                    return;
                };
                if let Some(l) = self.observed.links.get_mut(&name) {
                    l.port_flags = flags;
                    if flags.is_none() {
                        l.master = None;
                    }
                }
                let mut scope = Scope::default();
                scope.vnis.insert(vni);
                if !reconcile_scope(&self.desired, &self.observed, &scope)
                    .ops
                    .is_empty()
                {
                    self.pending.vnis.insert(vni);
                    self.schedule();
                }
            }
            Notification::Fdb {
                ifindex,
                mac,
                master_entry,
                ext_learned,
                local,
                vtep,
                deleted,
            } => {
                let Some((vni, role)) = self
                    .index
                    .get(&ifindex)
                    .and_then(|d| self.desired.vni_of_device(d))
                else {
                    return;
                };
                let Some(st) = self.desired.vnis.get(&vni) else {
                    return;
                };
                match role {
                    DeviceRole::Vxlan if mac == Mac::ZERO => {
                        // A flood entry of ours vanished.
                        if let (Some(t), false, true) = (vtep, master_entry, deleted) {
                            if st.config.bum.floods() && st.flood.contains(&t) {
                                self.pending.flood.insert((vni, t));
                                self.schedule();
                            }
                        }
                    }
                    DeviceRole::Vxlan => {
                        let Some(want) = st.macs.get(&mac) else {
                            return;
                        };
                        let drifted =
                            deleted || (!master_entry && (vtep != Some(*want) || !ext_learned));
                        if drifted {
                            self.pending.macs.insert((vni, mac));
                            self.schedule();
                        }
                    }
                    DeviceRole::LocalPort => {
                        if master_entry && !ext_learned && !local && !mac.is_multicast() {
                            let dev = self.index.get(&ifindex).cloned().unwrap_or_default();
                            let e = if deleted {
                                Event::LocalMacGone {
                                    vni,
                                    mac,
                                    port: dev,
                                }
                            } else {
                                Event::LocalMac {
                                    vni,
                                    mac,
                                    port: dev,
                                }
                            };
                            self.event(e);
                        }
                    }
                    DeviceRole::Bridge => {}
                }
            }
            Notification::Neigh {
                ifindex,
                ip,
                mac,
                owned,
                deleted,
            } => {
                // No allocation here: deletions arrive by the hundred thousand.
                let role = self
                    .index
                    .get(&ifindex)
                    .and_then(|d| self.desired.vni_of_device(d));
                let Some((vni, DeviceRole::Bridge)) = role else {
                    return;
                };
                let Some(want) = self.desired.vnis.get(&vni).and_then(|s| s.ips.get(&ip)) else {
                    return;
                };
                if deleted || mac != Some(*want) || !owned {
                    self.pending.ips.insert((vni, ip));
                    self.schedule();
                }
            }
            Notification::Snooped { bridge, ip, mac } => {
                let Some((vni, DeviceRole::Bridge)) = self.desired.vni_of_device(&bridge) else {
                    return;
                };
                let Some(st) = self.desired.vnis.get(&vni) else {
                    return;
                };
                // A binding plane programmed itself (a remote endpoint) is
                // not a local endpoint.
                if st.macs.contains_key(&mac) || st.ips.contains_key(&ip) || mac.is_multicast() {
                    return;
                }
                if self.learned_ips.insert((vni, ip), mac) != Some(mac) {
                    self.event(Event::LocalIp { vni, ip, mac });
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<VniSnapshot> {
        self.desired
            .vnis
            .iter()
            .map(|(vni, st)| {
                let vx = &st.config.vxlan;
                let br = &st.config.bridge;
                let macs = self
                    .observed
                    .fdb
                    .range((vx.clone(), Mac::ZERO)..=(vx.clone(), Mac::BROADCAST))
                    .filter(|(_, f)| f.owned)
                    .filter_map(|((_, mac), f)| f.vtep.map(|vtep| FdbRow { mac: *mac, vtep }))
                    .collect();
                let neighbours = self
                    .observed
                    .neigh
                    .iter()
                    .filter(|((b, _), n)| b == br && n.owned)
                    .filter_map(|((_, ip), n)| n.mac.map(|mac| NeighRow { ip: *ip, mac }))
                    .collect();
                let flood = self
                    .observed
                    .flood
                    .iter()
                    .filter(|((d, _), owned)| d == vx && **owned)
                    .map(|((_, t), _)| *t)
                    .collect();
                VniSnapshot {
                    vni: *vni,
                    bridge: br.clone(),
                    vxlan: vx.clone(),
                    macs,
                    neighbours,
                    flood,
                }
            })
            .collect()
    }
}

/// Operations that never remove state (used before the first resync).
/// Takes `changes` into `desired`, collecting the touched keys in `scope`
/// and refusals in `report`; true when a VNI's configuration changed (the
/// VNI needs a full reconcile).
fn take_changes(
    desired: &mut Desired,
    changes: Vec<Change>,
    scope: &mut Scope,
    report: &mut ApplyReport,
) -> bool {
    let mut full = false;
    for change in changes {
        let key = key_of(&change);
        // Only VNI changes compare configurations (a clone per entry
        // change would cost two allocations each).
        let before = match key {
            Key::Vni(..) => desired.vnis.get(&change.vni()).map(|s| s.config.clone()),
            _ => None,
        };
        match desired.apply(change) {
            Err(e) => report.refused.push(e),
            Ok(()) => match key {
                Key::Vni(vni, is_remove) => {
                    if is_remove {
                        if let Some(b) = before {
                            scope.removed.insert((vni, b.bridge, b.vxlan));
                        }
                    } else {
                        let now = desired.vnis.get(&vni).map(|s| &s.config);
                        // A changed config may recreate devices (their
                        // entries must be reinstalled) or switch the BUM
                        // policy (flood list): reconcile the VNI fully.
                        if before.is_some() && before.as_ref() != now {
                            full = true;
                        }
                        scope.vnis.insert(vni);
                    }
                }
                Key::Mac(v, m) => {
                    scope.macs.insert((v, m));
                }
                Key::Ip(v, i) => {
                    scope.ips.insert((v, i));
                }
                Key::Flood(v, t) => {
                    scope.flood.insert((v, t));
                }
            },
        }
    }
    full
}

/// Records the results of executed entry operations: successes in
/// `observed`, failures in `report`.
fn record(
    observed: &mut Observed,
    ops: Vec<Op>,
    results: Vec<Result<(), OpError>>,
    report: &mut ApplyReport,
) {
    report.ops += ops.len();
    for (op, r) in ops.into_iter().zip(results) {
        match r {
            Ok(()) => apply_to_observed(observed, &op),
            Err(error) => {
                warn!(?op, %error, "dataplane operation failed");
                report.failed.push(OpFailure { op, error });
            }
        }
    }
}

/// Runs `work` while taking notification batches from `rx` into `held`.
async fn hold_notifications<T>(
    rx: &mut Option<mpsc::Receiver<Vec<Notification>>>,
    held: &mut Vec<Vec<Notification>>,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            batch = async {
                match rx.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            } => match batch {
                Some(b) => held.push(b),
                None => {
                    warn!("kernel notification stream ended; drift is no longer detected");
                    *rx = None;
                }
            }
        }
    }
}

fn is_additive(op: &Op) -> bool {
    !matches!(
        op,
        Op::DeleteLink { .. } | Op::DelFdb { .. } | Op::DelNeigh { .. } | Op::DelFlood { .. }
    )
}

enum Key {
    Vni(Vni, bool),
    Mac(Vni, Mac),
    Ip(Vni, IpAddr),
    Flood(Vni, IpAddr),
}

fn key_of(c: &Change) -> Key {
    match c {
        Change::SetVni(cfg) => Key::Vni(cfg.vni, false),
        Change::RemoveVni(v) => Key::Vni(*v, true),
        Change::AddLocalPort { vni, .. } | Change::RemoveLocalPort { vni, .. } => {
            Key::Vni(*vni, false)
        }
        Change::SetRemoteMac { vni, mac, .. } | Change::RemoveRemoteMac { vni, mac } => {
            Key::Mac(*vni, *mac)
        }
        Change::SetRemoteIp { vni, ip, .. } | Change::RemoveRemoteIp { vni, ip } => {
            Key::Ip(*vni, *ip)
        }
        Change::AddFloodVtep { vni, vtep } | Change::RemoveFloodVtep { vni, vtep } => {
            Key::Flood(*vni, *vtep)
        }
    }
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
