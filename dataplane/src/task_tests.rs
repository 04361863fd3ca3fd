//! Tests of the dataplane task over the recording backend: batching,
//! snapshots, refused changes, restart without change, stale removal only
//! after the first resync, and per-operation failures.

use super::*;
use crate::recording::RecordingBackend;

fn vni(v: u32) -> Vni {
    Vni::new(v).unwrap()
}
fn mac(last: u8) -> Mac {
    Mac([2, 0, 0, 0, 1, last])
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn routes() -> Vec<Change> {
    let mut v = vec![Change::SetVni(VniConfig::new(vni(10), ip("192.168.100.1")))];
    for i in 1..=3u8 {
        v.push(Change::SetRemoteMac {
            vni: vni(10),
            mac: mac(i),
            vtep: ip("192.168.100.2"),
        });
        v.push(Change::SetRemoteIp {
            vni: vni(10),
            ip: ip(&format!("10.0.0.{i}")),
            mac: mac(i),
        });
    }
    v
}

#[tokio::test]
async fn batch_programs_once_and_snapshot_shows_it() {
    let (dp, _ev, mut log) = Dataplane::recording().await;
    let r = dp.apply(routes()).await.unwrap();
    assert!(r.failed.is_empty() && r.refused.is_empty(), "{r:?}");
    let ops = log.recv().await.unwrap();
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, Op::AddFdb { .. }))
            .count(),
        3
    );
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, Op::AddNeigh { .. }))
            .count(),
        3
    );
    let snap = dp.snapshot().await.unwrap();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].macs.len(), 3);
    assert_eq!(
        snap[0].neighbours[0],
        NeighRow {
            ip: ip("10.0.0.1"),
            mac: mac(1)
        }
    );
    // The same batch again changes nothing.
    let r = dp.apply(routes()).await.unwrap();
    assert_eq!(r.ops, 0);
    // A refused change does not stop the others.
    let r = dp
        .apply(vec![
            Change::SetRemoteMac {
                vni: vni(99),
                mac: mac(9),
                vtep: ip("1.1.1.1"),
            },
            Change::RemoveRemoteIp {
                vni: vni(10),
                ip: ip("10.0.0.3"),
            },
        ])
        .await
        .unwrap();
    assert_eq!(r.refused, vec![ChangeError::UnknownVni(vni(99))]);
    assert_eq!(r.ops, 1);
}

#[tokio::test]
async fn restart_adopts_and_removes_stale_only_after_resync() {
    // First run programs the model.
    let (backend, _log) = RecordingBackend::new();
    let (dp, _ev) = Dataplane::start(backend, None).await.unwrap();
    dp.apply(routes()).await.unwrap();
    // Take the model over into a "restarted" backend: the kernel keeps its state.
    let mut model = Observed::default();
    for op in reconcile(&dp.desired().await.unwrap(), &Observed::default()).ops {
        apply_to_observed(&mut model, &op);
    }
    let (backend, mut log) = RecordingBackend::with_model(model, |_| false);
    let (dp2, _ev2) = Dataplane::start(backend, None).await.unwrap();
    // The control plane hands over only part of the state (one route withdrawn
    // while down): nothing is issued for what matches, nothing is deleted yet.
    let mut partial = routes();
    partial.pop();
    let r = dp2.apply(partial).await.unwrap();
    assert_eq!(
        r.ops, 0,
        "restart over matching state issues no change: {r:?}"
    );
    // End of initial sync: the stale neighbour goes, nothing else.
    let r = dp2.resync().await.unwrap();
    assert_eq!(r.ops, 1);
    let mut all = Vec::new();
    while let Ok(b) = log.try_recv() {
        all.extend(b);
    }
    assert_eq!(
        all,
        vec![Op::DelNeigh {
            vni: vni(10),
            bridge: "br10".into(),
            ip: ip("10.0.0.3")
        }]
    );
}

#[tokio::test]
async fn one_failing_operation_is_reported_alone() {
    let (backend, _log) = RecordingBackend::with_model(
        Observed::default(),
        |op| matches!(op, Op::AddNeigh { ip, .. } if *ip == "10.0.0.2".parse::<IpAddr>().unwrap()),
    );
    let (dp, _ev) = Dataplane::start(backend, None).await.unwrap();
    let r = dp.apply(routes()).await.unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(
        matches!(&r.failed[0].op, Op::AddNeigh { ip, .. } if *ip == "10.0.0.2".parse::<IpAddr>().unwrap())
    );
    let snap = dp.snapshot().await.unwrap();
    assert_eq!(snap[0].neighbours.len(), 2);
    assert_eq!(snap[0].macs.len(), 3);
}

#[tokio::test]
async fn drift_notification_is_repaired() {
    let (backend, mut log) = RecordingBackend::new();
    let (ntx, nrx) = mpsc::channel(16);
    let (dp, _ev) = Dataplane::start(backend, Some(nrx)).await.unwrap();
    dp.apply(routes()).await.unwrap();
    while log.try_recv().is_ok() {}
    let snap = dp.snapshot().await.unwrap();
    assert_eq!(snap[0].neighbours.len(), 3);
    // The kernel reports the neighbour 10.0.0.1 deleted on br10.
    // The recording model numbers devices from 1: br10 was created first.
    let br_index = 1;
    ntx.send(vec![Notification::Neigh {
        ifindex: br_index,
        ip: ip("10.0.0.1"),
        mac: None,
        owned: true,
        deleted: true,
    }])
    .await
    .unwrap();
    let ops = tokio::time::timeout(Duration::from_secs(5), log.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ops,
        vec![Op::AddNeigh {
            vni: vni(10),
            bridge: "br10".into(),
            ip: ip("10.0.0.1"),
            mac: mac(1)
        }]
    );
}

#[tokio::test]
async fn local_macs_and_snooped_ips_become_events() {
    let (backend, _log) = RecordingBackend::new();
    let (ntx, nrx) = mpsc::channel(16);
    let (dp, mut ev) = Dataplane::start(backend, Some(nrx)).await.unwrap();
    let mut model_port = crate::state::LinkObs {
        ifindex: 50,
        kind: crate::state::LinkKind::Other("veth".into()),
        mtu: 1500,
        up: true,
        master: None,
        alias: None,
        mac: None,
        port_flags: None,
        addrgen_none: false,
    };
    let mut changes = routes();
    changes.push(Change::AddLocalPort {
        vni: vni(10),
        ifname: "veth-c1".into(),
    });
    dp.apply(changes).await.unwrap();
    model_port.master = None;
    ntx.send(vec![Notification::Link {
        name: "veth-c1".into(),
        link: model_port,
        master: None,
        deleted: false,
    }])
    .await
    .unwrap();
    let local = mac(0x77);
    ntx.send(vec![Notification::Fdb {
        ifindex: 50,
        mac: local,
        master_entry: true,
        ext_learned: false,
        local: false,
        vtep: None,
        deleted: false,
    }])
    .await
    .unwrap();
    ntx.send(vec![Notification::Snooped {
        bridge: "br10".into(),
        ip: ip("10.0.0.77"),
        mac: local,
    }])
    .await
    .unwrap();
    // A remote binding seen on the bridge is not a local endpoint.
    ntx.send(vec![Notification::Snooped {
        bridge: "br10".into(),
        ip: ip("10.0.0.1"),
        mac: mac(1),
    }])
    .await
    .unwrap();
    let e1 = ev.recv().await.unwrap();
    assert_eq!(
        e1,
        Event::LocalMac {
            vni: vni(10),
            mac: local,
            port: "veth-c1".into()
        }
    );
    let e2 = ev.recv().await.unwrap();
    assert_eq!(
        e2,
        Event::LocalIp {
            vni: vni(10),
            ip: ip("10.0.0.77"),
            mac: local
        }
    );
    assert!(ev.try_recv().is_err());
}

#[tokio::test]
async fn overrun_resyncs_by_dump() {
    let (backend, _log) = RecordingBackend::new();
    let (ntx, nrx) = mpsc::channel(16);
    let (dp, mut ev) = Dataplane::start(backend, Some(nrx)).await.unwrap();
    dp.apply(routes()).await.unwrap();
    ntx.send(vec![Notification::Overrun]).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), ev.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e,
        Event::Resynced { ops: 0 },
        "the dump matched: nothing to do"
    );
}
