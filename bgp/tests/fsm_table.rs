//! Table tests of the RFC 4271 section 8 FSM: every state crossed with every
//! event, checking the next state and the observable actions; then the OPEN
//! checks and capability negotiation, backoff, passive mode and automatic
//! restart.

use plane_bgp::fsm::{
    self, admin_shutdown, check_open, local_open, notification, Action, Event, Fsm, FsmConfig,
    OpenError, State, Timer,
};
use plane_bgp::wire::{
    Capability, GracefulRestart, GracefulRestartFamily, Notification, Open, AS_TRANS,
};
use std::net::Ipv4Addr;
use std::time::Duration;

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn config() -> FsmConfig {
    FsmConfig::evpn(65000, LOCAL_ID, 65001)
}

/// An OPEN as FRR sends it for an EVPN session (AS 65001, hold 9 s).
fn peer_open() -> Open {
    Open {
        version: 4,
        my_as: 65001,
        hold_time: 9,
        bgp_id: PEER_ID,
        capabilities: vec![
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            }),
        ],
        capability_params: plane_bgp::wire::CapabilityParams::PerCapability,
        other_params: vec![],
    }
}

/// The events of RFC 4271 section 8.1 that the FSM takes, one of each.
fn all_events() -> Vec<Event> {
    vec![
        Event::ManualStart,
        Event::ManualStop(admin_shutdown("bye")),
        Event::ManualStartPassive,
        Event::ConnectRetryTimerExpires,
        Event::HoldTimerExpires,
        Event::KeepaliveTimerExpires,
        Event::IdleHoldTimerExpires,
        Event::TcpCrAcked,
        Event::TcpConnectionConfirmed,
        Event::TcpConnectionFails,
        Event::BgpOpen(peer_open()),
        Event::BgpHeaderErr(notification(1, 2)),
        Event::BgpOpenMsgErr(notification(2, 4)),
        Event::OpenCollisionDump,
        Event::NotifMsgVerErr(notification(2, 1)),
        Event::NotifMsg(notification(6, 2)),
        Event::KeepAliveMsg,
        Event::UpdateMsg,
        Event::UpdateMsgErr(notification(3, 1)),
    ]
}

/// An FSM brought into `state` by the shortest legal path.
fn fsm_in(state: State) -> Fsm {
    let mut f = Fsm::new(config());
    let path: &[Event] = match state {
        State::Idle => &[],
        State::Connect => &[Event::ManualStart],
        State::Active => &[Event::ManualStart, Event::TcpConnectionFails],
        State::OpenSent => &[Event::ManualStart, Event::TcpCrAcked],
        State::OpenConfirm => &[
            Event::ManualStart,
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open()),
        ],
        State::Established => &[
            Event::ManualStart,
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open()),
            Event::KeepAliveMsg,
        ],
    };
    for e in path {
        f.handle(e.clone());
    }
    assert_eq!(f.state(), state, "setup of {state}");
    f
}

/// The observable actions as short tokens (timer stops left out).
fn tokens(actions: &[Action]) -> String {
    let mut t = Vec::new();
    for a in actions {
        match a {
            Action::Connect => t.push("connect".to_string()),
            Action::SendOpen(_) => t.push("open".into()),
            Action::SendKeepalive => t.push("ka".into()),
            Action::SendNotification(n) => t.push(format!("N{}/{}", n.code, n.subcode)),
            Action::StartTimer(Timer::ConnectRetry, _) => t.push("crt".into()),
            Action::StartTimer(Timer::Hold, _) => t.push("hold".into()),
            Action::StartTimer(Timer::Keepalive, _) => t.push("kat".into()),
            Action::StartTimer(Timer::IdleHold, _) => t.push("idlehold".into()),
            Action::StopTimer(_) => {}
            Action::CloseConnection => t.push("close".into()),
            Action::SessionEstablished(_) => t.push("up".into()),
            Action::SessionDown(_) => t.push("down".into()),
        }
    }
    t.join(" ")
}

/// (event name, next state, actions) for every event, in `all_events` order.
type Row = (&'static str, State, &'static str);

fn table(state: State) -> Vec<Row> {
    use State::*;
    match state {
        Idle => vec![
            ("ManualStart", Connect, "crt connect"),
            ("ManualStop", Idle, ""),
            ("ManualStart_with_PassiveTcpEstablishment", Active, ""),
            ("ConnectRetryTimer_Expires", Idle, ""),
            ("HoldTimer_Expires", Idle, ""),
            ("KeepaliveTimer_Expires", Idle, ""),
            ("IdleHoldTimer_Expires", Idle, ""),
            ("Tcp_CR_Acked", Idle, "close"),
            ("TcpConnectionConfirmed", Idle, "close"),
            ("TcpConnectionFails", Idle, ""),
            ("BGPOpen", Idle, ""),
            ("BGPHeaderErr", Idle, ""),
            ("BGPOpenMsgErr", Idle, ""),
            ("OpenCollisionDump", Idle, ""),
            ("NotifMsgVerErr", Idle, ""),
            ("NotifMsg", Idle, ""),
            ("KeepAliveMsg", Idle, ""),
            ("UpdateMsg", Idle, ""),
            ("UpdateMsgErr", Idle, ""),
        ],
        Connect => vec![
            ("ManualStart", Connect, ""),
            ("ManualStop", Idle, "close"),
            ("ManualStart_with_PassiveTcpEstablishment", Connect, ""),
            ("ConnectRetryTimer_Expires", Connect, "close crt connect"),
            ("HoldTimer_Expires", Idle, "close idlehold"),
            ("KeepaliveTimer_Expires", Idle, "close idlehold"),
            ("IdleHoldTimer_Expires", Idle, "close idlehold"),
            ("Tcp_CR_Acked", OpenSent, "open hold"),
            ("TcpConnectionConfirmed", OpenSent, "open hold"),
            ("TcpConnectionFails", Active, "close crt"),
            ("BGPOpen", Idle, "close idlehold"),
            ("BGPHeaderErr", Idle, "N1/2 close idlehold"),
            ("BGPOpenMsgErr", Idle, "N2/4 close idlehold"),
            ("OpenCollisionDump", Idle, "close idlehold"),
            ("NotifMsgVerErr", Idle, "close idlehold"),
            ("NotifMsg", Idle, "close idlehold"),
            ("KeepAliveMsg", Idle, "close idlehold"),
            ("UpdateMsg", Idle, "close idlehold"),
            ("UpdateMsgErr", Idle, "close idlehold"),
        ],
        Active => vec![
            ("ManualStart", Active, ""),
            ("ManualStop", Idle, "close"),
            ("ManualStart_with_PassiveTcpEstablishment", Active, ""),
            ("ConnectRetryTimer_Expires", Connect, "crt connect"),
            ("HoldTimer_Expires", Idle, "close idlehold"),
            ("KeepaliveTimer_Expires", Idle, "close idlehold"),
            ("IdleHoldTimer_Expires", Idle, "close idlehold"),
            ("Tcp_CR_Acked", OpenSent, "open hold"),
            ("TcpConnectionConfirmed", OpenSent, "open hold"),
            ("TcpConnectionFails", Active, "close crt"),
            ("BGPOpen", Idle, "close idlehold"),
            ("BGPHeaderErr", Idle, "N1/2 close idlehold"),
            ("BGPOpenMsgErr", Idle, "N2/4 close idlehold"),
            ("OpenCollisionDump", Idle, "close idlehold"),
            ("NotifMsgVerErr", Idle, "close idlehold"),
            ("NotifMsg", Idle, "close idlehold"),
            ("KeepAliveMsg", Idle, "close idlehold"),
            ("UpdateMsg", Idle, "close idlehold"),
            ("UpdateMsgErr", Idle, "close idlehold"),
        ],
        OpenSent => vec![
            ("ManualStart", OpenSent, ""),
            ("ManualStop", Idle, "N6/2 close"),
            ("ManualStart_with_PassiveTcpEstablishment", OpenSent, ""),
            ("ConnectRetryTimer_Expires", Idle, "N5/1 close idlehold"),
            ("HoldTimer_Expires", Idle, "N4/0 close idlehold"),
            ("KeepaliveTimer_Expires", Idle, "N5/1 close idlehold"),
            ("IdleHoldTimer_Expires", Idle, "N5/1 close idlehold"),
            ("Tcp_CR_Acked", OpenSent, ""),
            ("TcpConnectionConfirmed", OpenSent, ""),
            ("TcpConnectionFails", Active, "close crt"),
            ("BGPOpen", OpenConfirm, "ka kat hold"),
            ("BGPHeaderErr", Idle, "N1/2 close idlehold"),
            ("BGPOpenMsgErr", Idle, "N2/4 close idlehold"),
            ("OpenCollisionDump", Idle, "N6/7 close idlehold"),
            ("NotifMsgVerErr", Idle, "close idlehold"),
            ("NotifMsg", Idle, "close idlehold"),
            ("KeepAliveMsg", Idle, "N5/1 close idlehold"),
            ("UpdateMsg", Idle, "N5/1 close idlehold"),
            ("UpdateMsgErr", Idle, "N5/1 close idlehold"),
        ],
        OpenConfirm => vec![
            ("ManualStart", OpenConfirm, ""),
            ("ManualStop", Idle, "N6/2 close"),
            ("ManualStart_with_PassiveTcpEstablishment", OpenConfirm, ""),
            ("ConnectRetryTimer_Expires", Idle, "N5/2 close idlehold"),
            ("HoldTimer_Expires", Idle, "N4/0 close idlehold"),
            ("KeepaliveTimer_Expires", OpenConfirm, "ka kat"),
            ("IdleHoldTimer_Expires", Idle, "N5/2 close idlehold"),
            ("Tcp_CR_Acked", OpenConfirm, ""),
            ("TcpConnectionConfirmed", OpenConfirm, ""),
            ("TcpConnectionFails", Idle, "close idlehold"),
            ("BGPOpen", Idle, "N5/2 close idlehold"),
            ("BGPHeaderErr", Idle, "N1/2 close idlehold"),
            ("BGPOpenMsgErr", Idle, "N2/4 close idlehold"),
            ("OpenCollisionDump", Idle, "N6/7 close idlehold"),
            ("NotifMsgVerErr", Idle, "close idlehold"),
            ("NotifMsg", Idle, "close idlehold"),
            ("KeepAliveMsg", Established, "hold up"),
            ("UpdateMsg", Idle, "N5/2 close idlehold"),
            ("UpdateMsgErr", Idle, "N5/2 close idlehold"),
        ],
        Established => vec![
            ("ManualStart", Established, ""),
            ("ManualStop", Idle, "N6/2 close down"),
            ("ManualStart_with_PassiveTcpEstablishment", Established, ""),
            (
                "ConnectRetryTimer_Expires",
                Idle,
                "N5/3 close idlehold down",
            ),
            ("HoldTimer_Expires", Idle, "N4/0 close idlehold down"),
            ("KeepaliveTimer_Expires", Established, "ka kat"),
            ("IdleHoldTimer_Expires", Idle, "N5/3 close idlehold down"),
            ("Tcp_CR_Acked", Established, ""),
            ("TcpConnectionConfirmed", Established, ""),
            ("TcpConnectionFails", Idle, "close idlehold down"),
            ("BGPOpen", Idle, "N5/3 close idlehold down"),
            ("BGPHeaderErr", Idle, "N1/2 close idlehold down"),
            ("BGPOpenMsgErr", Idle, "N2/4 close idlehold down"),
            ("OpenCollisionDump", Idle, "N6/7 close idlehold down"),
            ("NotifMsgVerErr", Idle, "close idlehold down"),
            ("NotifMsg", Idle, "close idlehold down"),
            ("KeepAliveMsg", Established, "hold"),
            ("UpdateMsg", Established, "hold"),
            ("UpdateMsgErr", Idle, "N3/1 close idlehold down"),
        ],
    }
}

#[test]
fn every_state_and_event() {
    let events = all_events();
    let mut failures = Vec::new();
    for state in State::ALL {
        let rows = table(state);
        assert_eq!(
            rows.len(),
            events.len(),
            "table for {state} must cover every event"
        );
        for (event, (name, next, expected)) in events.iter().zip(rows) {
            assert_eq!(event.name(), name, "table row order for {state}");
            let mut f = fsm_in(state);
            let got = tokens(&f.handle(event.clone()));
            if f.state() != next || got != expected {
                failures.push(format!(
                    "{state} + {name}: expected {next} [{expected}], got {} [{got}]",
                    f.state()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "FSM table mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn negotiated_exists_exactly_in_open_confirm_and_established() {
    for state in State::ALL {
        let f = fsm_in(state);
        let expect = matches!(state, State::OpenConfirm | State::Established);
        assert_eq!(f.negotiated().is_some(), expect, "{state}");
    }
}

#[test]
fn state_names_are_rfc_names() {
    let names: Vec<_> = State::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "Idle",
            "Connect",
            "Active",
            "OpenSent",
            "OpenConfirm",
            "Established"
        ]
    );
}

#[test]
fn hold_time_is_the_minimum_and_keepalive_a_third() {
    let mut f = fsm_in(State::OpenSent);
    let actions = f.handle(Event::BgpOpen(peer_open()));
    assert!(
        actions.contains(&Action::StartTimer(Timer::Hold, Duration::from_secs(9))),
        "{actions:?}"
    );
    assert!(
        actions.contains(&Action::StartTimer(
            Timer::Keepalive,
            Duration::from_secs(3)
        )),
        "{actions:?}"
    );
    assert_eq!(f.negotiated().map(|n| n.hold_time), Some(9));
}

/// `[bgp] keepalive`: used as configured, but never more than a third of
/// the negotiated hold time (the peer proposing 9 s gets 3 s), never below
/// one second.
#[test]
fn configured_keepalive_is_used_up_to_a_third_of_the_hold_time() {
    let keepalive_after_open = |keepalive: Duration, hold: u16| {
        let mut f = Fsm::new(FsmConfig {
            keepalive: Some(keepalive),
            ..config()
        });
        f.handle(Event::ManualStart);
        f.handle(Event::TcpCrAcked);
        let actions = f.handle(Event::BgpOpen(Open {
            hold_time: hold,
            ..peer_open()
        }));
        actions.into_iter().find_map(|a| match a {
            Action::StartTimer(Timer::Keepalive, d) => Some(d),
            _ => None,
        })
    };
    let secs = Duration::from_secs;
    assert_eq!(keepalive_after_open(secs(10), 90), Some(secs(10)));
    assert_eq!(keepalive_after_open(secs(60), 90), Some(secs(30)));
    assert_eq!(keepalive_after_open(secs(10), 9), Some(secs(3)));
    assert_eq!(keepalive_after_open(Duration::ZERO, 90), Some(secs(1)));
    // The Established session's restarts use it too.
    let mut f = Fsm::new(FsmConfig {
        keepalive: Some(secs(10)),
        ..config()
    });
    for e in [
        Event::ManualStart,
        Event::TcpCrAcked,
        Event::BgpOpen(Open {
            hold_time: 90,
            ..peer_open()
        }),
        Event::KeepAliveMsg,
    ] {
        f.handle(e);
    }
    assert_eq!(f.state(), State::Established);
    let actions = f.handle(Event::KeepaliveTimerExpires);
    assert!(
        actions.contains(&Action::StartTimer(Timer::Keepalive, secs(10))),
        "{actions:?}"
    );
}

/// A hold time changed (SIGHUP) after our OPEN went out with 90 s: the
/// session is negotiated against the 90 s we proposed; the new value
/// applies from the next OPEN.
#[test]
fn a_config_given_in_open_sent_waits_for_the_negotiation() {
    let mut f = fsm_in(State::OpenSent);
    f.set_config(FsmConfig {
        hold_time: 3,
        ..config()
    });
    assert_eq!(f.config().hold_time, 3, "the latest configuration is shown");
    f.handle(Event::BgpOpen(Open {
        hold_time: 30,
        ..peer_open()
    }));
    assert_eq!(f.state(), State::OpenConfirm);
    assert_eq!(f.negotiated().map(|n| n.hold_time), Some(30));
    // Outside OpenSent a new configuration applies at once.
    f.set_config(FsmConfig {
        hold_time: 12,
        ..config()
    });
    assert_eq!(f.config().hold_time, 12);
}

#[test]
fn hold_time_zero_disables_hold_and_keepalive_timers() {
    let mut f = fsm_in(State::OpenSent);
    let open = Open {
        hold_time: 0,
        ..peer_open()
    };
    let actions = f.handle(Event::BgpOpen(open));
    assert!(
        actions.contains(&Action::StopTimer(Timer::Hold)),
        "{actions:?}"
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::StartTimer(Timer::Hold | Timer::Keepalive, _))));
    let actions = f.handle(Event::KeepAliveMsg);
    assert_eq!(f.state(), State::Established);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::StartTimer(Timer::Hold, _))),
        "{actions:?}"
    );
}

#[test]
fn open_without_evpn_is_refused_with_unsupported_capability() {
    let mut open = peer_open();
    open.capabilities
        .retain(|c| !matches!(c, Capability::Multiprotocol { .. }));
    open.capabilities
        .push(Capability::Multiprotocol { afi: 1, safi: 1 });
    assert_eq!(
        check_open(&config(), &open),
        Err(OpenError::MissingFamily { afi: 25, safi: 70 })
    );
    let mut f = fsm_in(State::OpenSent);
    let actions = f.handle(Event::BgpOpen(open));
    let n = actions.iter().find_map(|a| match a {
        Action::SendNotification(n) => Some(n.clone()),
        _ => None,
    });
    // RFC 5492 section 5: subcode 7, data = the capability we need.
    assert_eq!(
        n.map(|n| (n.code, n.subcode, n.data.to_vec())),
        Some((2, 7, vec![1, 4, 0, 25, 0, 70]))
    );
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn open_checks_name_the_rfc_subcode() {
    let cfg = config();
    let cases: Vec<(Open, u8)> = vec![
        (
            Open {
                version: 3,
                ..peer_open()
            },
            1,
        ),
        (
            Open {
                my_as: 65002,
                capabilities: vec![
                    Capability::Multiprotocol { afi: 25, safi: 70 },
                    Capability::FourOctetAs(65002),
                ],
                ..peer_open()
            },
            2,
        ),
        (
            Open {
                bgp_id: Ipv4Addr::UNSPECIFIED,
                ..peer_open()
            },
            3,
        ),
        (
            Open {
                hold_time: 2,
                ..peer_open()
            },
            6,
        ),
    ];
    for (open, subcode) in cases {
        let e = check_open(&cfg, &open).expect_err("must be refused");
        let n = e.notification();
        assert_eq!((n.code, n.subcode), (2, subcode), "{e}");
    }
    // The version error carries the version we support (2 octets).
    let n = check_open(
        &cfg,
        &Open {
            version: 5,
            ..peer_open()
        },
    )
    .expect_err("v5")
    .notification();
    assert_eq!(n.data.as_ref(), &[0, 4]);
}

#[test]
fn same_router_id_is_refused_on_ibgp_only() {
    let ibgp = FsmConfig::evpn(65000, LOCAL_ID, 65000);
    let open = Open {
        my_as: 65000,
        bgp_id: LOCAL_ID,
        capabilities: vec![
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::FourOctetAs(65000),
        ],
        ..peer_open()
    };
    assert_eq!(
        check_open(&ibgp, &open),
        Err(OpenError::BadBgpIdentifier(LOCAL_ID))
    );
    let ebgp_open = Open {
        bgp_id: LOCAL_ID,
        ..peer_open()
    };
    assert!(check_open(&config(), &ebgp_open).is_ok());
}

#[test]
fn negotiation_of_capabilities() {
    let n = check_open(&config(), &peer_open()).expect("accepted");
    assert!(n.params.four_octet_as);
    assert_eq!(
        n.params.max_message_len, 4096,
        "peer did not send extended message"
    );
    assert!(n.route_refresh);
    assert_eq!(n.peer_restart_time(), 120);
    assert!(
        !n.peer_restarts_gracefully(25, 70),
        "helper-only GR lists no family"
    );
    let mut open = peer_open();
    open.capabilities.push(Capability::ExtendedMessage);
    open.capabilities.retain(|c| {
        !matches!(
            c,
            Capability::FourOctetAs(_) | Capability::GracefulRestart(_)
        )
    });
    open.capabilities
        .push(Capability::GracefulRestart(GracefulRestart {
            restarting: true,
            notification: false,
            restart_time: 30,
            families: vec![GracefulRestartFamily {
                afi: 25,
                safi: 70,
                forwarding_preserved: true,
            }],
        }));
    let n = check_open(&config(), &open).expect("accepted");
    assert!(!n.params.four_octet_as);
    assert_eq!(n.params.max_message_len, 65535);
    assert!(n.peer_restarts_gracefully(25, 70));
}

#[test]
fn local_open_advertises_evpn_4_octet_as_route_refresh_gr() {
    let mut cfg = FsmConfig::evpn(4_200_000_000, LOCAL_ID, 65001);
    cfg.hold_time = 3;
    cfg.graceful_restart = Some(fsm::GracefulRestartConfig {
        restart_time: 90,
        restarting: true,
        forwarding_preserved: true,
    });
    let open = local_open(&cfg);
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_000);
    assert_eq!(open.hold_time, 3);
    assert_eq!(open.bgp_id, LOCAL_ID);
    assert!(open
        .capabilities
        .contains(&Capability::Multiprotocol { afi: 25, safi: 70 }));
    assert!(open.capabilities.contains(&Capability::RouteRefresh));
    assert!(open.capabilities.contains(&Capability::ExtendedMessage));
    assert!(open
        .capabilities
        .contains(&Capability::GracefulRestart(GracefulRestart {
            restarting: true,
            notification: false,
            restart_time: 90,
            families: vec![GracefulRestartFamily {
                afi: 25,
                safi: 70,
                forwarding_preserved: true
            }],
        })));
}

#[test]
fn connect_retry_backs_off_and_resets_when_established() {
    let mut f = fsm_in(State::Connect);
    let mut waits = Vec::new();
    for _ in 0..6 {
        let actions = f.handle(Event::TcpConnectionFails);
        assert_eq!(f.state(), State::Active);
        waits.extend(actions.iter().filter_map(|a| match a {
            Action::StartTimer(Timer::ConnectRetry, d) => Some(d.as_secs()),
            _ => None,
        }));
        let actions = f.handle(Event::ConnectRetryTimerExpires);
        assert_eq!(f.state(), State::Connect);
        assert!(actions.contains(&Action::Connect));
    }
    assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
    f.handle(Event::TcpCrAcked);
    f.handle(Event::BgpOpen(peer_open()));
    f.handle(Event::KeepAliveMsg);
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.connect_retry_counter(), 0);
}

#[test]
fn passive_peer_never_connects() {
    let mut f = Fsm::new(FsmConfig {
        passive: true,
        ..config()
    });
    let actions = f.handle(Event::ManualStart);
    assert_eq!(f.state(), State::Active);
    assert!(!actions.contains(&Action::Connect), "{actions:?}");
    assert!(f.handle(Event::ConnectRetryTimerExpires).is_empty());
    assert_eq!(f.state(), State::Active);
    f.handle(Event::TcpConnectionConfirmed);
    assert_eq!(f.state(), State::OpenSent);
    let actions = f.handle(Event::TcpConnectionFails);
    assert_eq!(f.state(), State::Active);
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::StartTimer(Timer::ConnectRetry, _) | Action::Connect
    )));
}

#[test]
fn error_restarts_automatically_after_idle_hold_but_manual_stop_does_not() {
    let mut f = fsm_in(State::Established);
    let actions = f.handle(Event::HoldTimerExpires);
    assert!(
        actions.contains(&Action::StartTimer(Timer::IdleHold, Duration::from_secs(5))),
        "{actions:?}"
    );
    let actions = f.handle(Event::IdleHoldTimerExpires);
    assert_eq!(f.state(), State::Connect);
    assert!(actions.contains(&Action::Connect));

    let mut f = fsm_in(State::Established);
    f.handle(Event::ManualStop(admin_shutdown("maintenance")));
    assert!(f.handle(Event::IdleHoldTimerExpires).is_empty());
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn manual_stop_sends_admin_shutdown_with_rfc9003_message() {
    let mut f = fsm_in(State::Established);
    let actions = f.handle(Event::ManualStop(admin_shutdown("planed stopping")));
    let n: Vec<&Notification> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SendNotification(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].code, n[0].subcode), (6, 2));
    assert_eq!(n[0].data.first(), Some(&15u8));
    assert_eq!(
        fsm::shutdown_message(n[0]).as_deref(),
        Some("planed stopping")
    );
    let text = fsm::describe(n[0]);
    assert!(
        text.contains("Administrative Shutdown") && text.contains("\"planed stopping\""),
        "{text}"
    );
    // The NOTIFICATION goes out before the connection is closed.
    let send = actions
        .iter()
        .position(|a| matches!(a, Action::SendNotification(_)));
    let close = actions.iter().position(|a| *a == Action::CloseConnection);
    assert!(send < close);
}

#[test]
fn shutdown_message_is_cut_at_255_octets_on_a_char_boundary() {
    let long = "é".repeat(200); // 400 octets
    let n = admin_shutdown(&long);
    assert_eq!(n.data.first(), Some(&254u8));
    assert_eq!(
        fsm::shutdown_message(&n).map(|m| m.chars().count()),
        Some(127)
    );
}
