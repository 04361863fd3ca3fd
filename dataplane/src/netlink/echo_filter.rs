//! Classic BPF socket filter that drops plane's own programming echoed back
//! on the notification socket, in the kernel, before it is queued.
//!
//! Every remote MAC+IP plane installs makes the kernel multicast three
//! RTM_NEWNEIGH notifications (FDB self, FDB master, suppression neighbour);
//! receiving them cost about 30 % of plane's CPU while programming. The
//! monitor already ignored them after decoding ([`super::monitor`]); this
//! filter makes the kernel drop them instead, so they are never copied.
//!
//! Dropped (exactly the additions the monitor would ignore):
//! - RTM_NEWNEIGH whose nlmsg_pid is the port id of one of plane's request
//!   sockets: the kernel stamps a neighbour change with the port id of the
//!   request that made it, so these are plane's own changes by
//!   construction. This is what catches the NUD_FAILED update the kernel
//!   sends before every neighbour deletion (it carries no NTF_EXT_LEARNED,
//!   so the marks below would not); FDB notifications carry port id 0;
//! - RTM_NEWNEIGH, family AF_BRIDGE, ndm_flags with NTF_EXT_LEARNED: an FDB
//!   entry marked like plane's (plane marks every FDB entry extern_learn);
//! - RTM_NEWNEIGH, family AF_INET/AF_INET6, NTF_EXT_LEARNED and an
//!   NDA_PROTOCOL attribute equal to [`PLANE_PROTOCOL`], found
//!   among the first [`MAX_ATTRS`] attributes.
//!
//! Kept: everything else, in particular every RTM_DELNEIGH (deletions behind
//! plane's back), a neighbour replaced without extern_learn or with another
//! protocol (a foreign replacement of a plane entry), all link messages, and
//! any message the program cannot read with certainty (short, odd attribute
//! lengths): in doubt it accepts, so drift is never hidden by the filter.
//!
//! Invariant: the filter looks at the first netlink message of a datagram
//! only. Kernel multicast notifications carry one message per skb
//! (rtnl_notify of one nlmsg), so for this socket, which only receives
//! multicast, the first message is the whole datagram.
//!
//! Netlink fields are in host byte order while classic BPF half-word loads
//! convert from network order; constants compared with half-word loads go
//! through [`h16`], and attribute lengths are read byte by byte.

use socket2::SockFilter;

use super::PLANE_PROTOCOL;

/// One classic BPF instruction `(code, jt, jf, k)` (struct sock_filter).
pub type Insn = (u16, u8, u8, u32);

// linux/bpf_common.h and linux/filter.h.
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_LEN: u16 = 0x80;
const BPF_ADD: u16 = 0x00;
const BPF_SUB: u16 = 0x10;
const BPF_AND: u16 = 0x50;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_X: u16 = 0x08;
const BPF_TAX: u16 = 0x00;
const BPF_TXA: u16 = 0x80;

const RTM_NEWNEIGH: u16 = 28;
const AF_BRIDGE: u32 = 7;
const NTF_EXT_LEARNED: u32 = 0x10;
const NDA_PROTOCOL: u16 = 12;
/// nlmsghdr (16) then ndmsg: family at 0, flags at 10; attributes at 12.
const OFF_TYPE: u32 = 4;
const OFF_PID: u32 = 12;
const OFF_FAMILY: u32 = 16;
const OFF_FLAGS: u32 = 16 + 10;
const OFF_ATTRS: u32 = 16 + 12;
/// Attributes examined for NDA_PROTOCOL. The kernel (neigh_fill_info) puts
/// NDA_DST, NDA_LLADDR, NDA_PROBES, NDA_CACHEINFO, then NDA_PROTOCOL.
pub const MAX_ATTRS: usize = 8;

/// Accept: the whole message is queued.
const ACCEPT: u32 = u32::MAX;
/// Drop.
const DROP: u32 = 0;

/// What a half-word load of the host-order `v` yields (loads are big endian).
fn h16(v: u16) -> u32 {
    u32::from(u16::from_be_bytes(v.to_ne_bytes()))
}

/// What a word load of the host-order `v` yields.
fn h32(v: u32) -> u32 {
    u32::from_be_bytes(v.to_ne_bytes())
}

/// Byte offsets of the low and high byte of a host-order u16.
const fn u16_bytes() -> (u32, u32) {
    if cfg!(target_endian = "little") {
        (0, 1)
    } else {
        (1, 0)
    }
}

/// A jump target while building: an instruction index, or the final returns.
#[derive(Clone, Copy)]
enum To {
    Next,
    Skip(u8),
    Accept,
    Drop,
}

/// The filter program; `own_pids` are the port ids of plane's request
/// sockets (0, the kernel's own, is ignored).
pub fn program(own_pids: &[u32]) -> Vec<Insn> {
    let mut p: Vec<(u16, To, To, u32)> = Vec::new();
    let op = |p: &mut Vec<(u16, To, To, u32)>, code, k| p.push((code, To::Next, To::Next, k));
    let (lo, hi) = u16_bytes();

    op(&mut p, BPF_LD | BPF_H | BPF_ABS, OFF_TYPE);
    p.push((
        BPF_JMP | BPF_JEQ | BPF_K,
        To::Next,
        To::Accept,
        h16(RTM_NEWNEIGH),
    ));
    let pids: Vec<u32> = own_pids.iter().copied().filter(|&p| p != 0).collect();
    if !pids.is_empty() {
        op(&mut p, BPF_LD | BPF_W | BPF_ABS, OFF_PID);
        for pid in pids {
            p.push((BPF_JMP | BPF_JEQ | BPF_K, To::Drop, To::Next, h32(pid)));
        }
    }
    op(&mut p, BPF_LD | BPF_B | BPF_ABS, OFF_FLAGS);
    p.push((
        BPF_JMP | BPF_JSET | BPF_K,
        To::Next,
        To::Accept,
        NTF_EXT_LEARNED,
    ));
    op(&mut p, BPF_LD | BPF_B | BPF_ABS, OFF_FAMILY);
    p.push((BPF_JMP | BPF_JEQ | BPF_K, To::Drop, To::Next, AF_BRIDGE));
    // X is the offset of the current attribute.
    op(&mut p, BPF_LDX | BPF_W | BPF_IMM, OFF_ATTRS);
    for _ in 0..MAX_ATTRS {
        // Need X + 5 <= len (header and one payload byte) else accept:
        // out-of-bounds loads would make the kernel drop the message.
        op(&mut p, BPF_MISC | BPF_TXA, 0);
        op(&mut p, BPF_ALU | BPF_ADD | BPF_K, 4);
        op(&mut p, BPF_MISC | BPF_TAX, 0);
        op(&mut p, BPF_LD | BPF_W | BPF_LEN, 0);
        p.push((BPF_JMP | BPF_JGT | BPF_X, To::Next, To::Accept, 0));
        op(&mut p, BPF_MISC | BPF_TXA, 0);
        op(&mut p, BPF_ALU | BPF_SUB | BPF_K, 4);
        op(&mut p, BPF_MISC | BPF_TAX, 0);
        // nla_type == NDA_PROTOCOL: the verdict is its first payload byte.
        op(&mut p, BPF_LD | BPF_H | BPF_IND, 2);
        p.push((
            BPF_JMP | BPF_JEQ | BPF_K,
            To::Next,
            To::Skip(2),
            h16(NDA_PROTOCOL),
        ));
        op(&mut p, BPF_LD | BPF_B | BPF_IND, 4);
        p.push((
            BPF_JMP | BPF_JEQ | BPF_K,
            To::Drop,
            To::Accept,
            u32::from(PLANE_PROTOCOL),
        ));
        // Next attribute: X += align4(nla_len); lengths >= 256 or < 4 accept.
        op(&mut p, BPF_LD | BPF_B | BPF_IND, hi);
        p.push((BPF_JMP | BPF_JEQ | BPF_K, To::Next, To::Accept, 0));
        op(&mut p, BPF_LD | BPF_B | BPF_IND, lo);
        p.push((BPF_JMP | BPF_JGE | BPF_K, To::Next, To::Accept, 4));
        op(&mut p, BPF_ALU | BPF_ADD | BPF_K, 3);
        op(&mut p, BPF_ALU | BPF_AND | BPF_K, !3);
        op(&mut p, BPF_ALU | BPF_ADD | BPF_X, 0);
        op(&mut p, BPF_MISC | BPF_TAX, 0);
    }
    // Not found among the first attributes: keep it.
    op(&mut p, BPF_RET | BPF_K, ACCEPT);
    let drop_at = p.len();
    let accept_at = drop_at + 1;
    let rel = |i: usize, t: To| -> u8 {
        let off = match t {
            To::Next => 0,
            To::Skip(n) => usize::from(n),
            To::Accept => accept_at - i - 1,
            To::Drop => drop_at - i - 1,
        };
        // The program is about 170 instructions: every offset fits.
        u8::try_from(off).unwrap_or(u8::MAX)
    };
    let mut out: Vec<Insn> = p
        .iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k))| (code, rel(i, jt), rel(i, jf), k))
        .collect();
    out.push((BPF_RET | BPF_K, 0, 0, DROP));
    out.push((BPF_RET | BPF_K, 0, 0, ACCEPT));
    out
}

/// Attaches [`program`] to `sock` (SO_ATTACH_FILTER).
pub fn attach<S: std::os::fd::AsFd>(sock: &S, own_pids: &[u32]) -> std::io::Result<()> {
    let prog: Vec<SockFilter> = program(own_pids)
        .into_iter()
        .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect();
    socket2::SockRef::from(sock).attach_filter(&prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for the instructions [`program`] uses, with
    /// the kernel's semantics: big-endian half-word loads, out-of-bounds
    /// loads return 0 (drop), only forward jumps.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |at: u32, n: usize| -> Option<u32> {
            let at = usize::try_from(at).ok()?;
            let b = pkt.get(at..at.checked_add(n)?)?;
            Some(b.iter().fold(0u32, |v, &c| (v << 8) | u32::from(c)))
        };
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            let size = match code & 0x18 {
                BPF_H => 2,
                BPF_B => 1,
                _ => 4,
            };
            match code & 0x07 {
                BPF_LD => {
                    a = match code & 0xe0 {
                        BPF_ABS => match load(k, size) {
                            Some(v) => v,
                            None => return 0,
                        },
                        BPF_IND => match load(x.wrapping_add(k), size) {
                            Some(v) => v,
                            None => return 0,
                        },
                        BPF_LEN => u32::try_from(pkt.len()).unwrap(),
                        c => panic!("ld mode {c:#x}"),
                    }
                }
                BPF_LDX => {
                    assert_eq!(code & 0xe0, BPF_IMM);
                    x = k;
                }
                BPF_ALU => {
                    let v = if code & BPF_X != 0 { x } else { k };
                    a = match code & 0xf0 {
                        BPF_ADD => a.wrapping_add(v),
                        BPF_SUB => a.wrapping_sub(v),
                        BPF_AND => a & v,
                        c => panic!("alu {c:#x}"),
                    }
                }
                BPF_JMP => {
                    let v = if code & BPF_X != 0 { x } else { k };
                    let taken = match code & 0xf0 {
                        BPF_JEQ => a == v,
                        BPF_JGT => a > v,
                        BPF_JGE => a >= v,
                        BPF_JSET => a & v != 0,
                        c => panic!("jmp {c:#x}"),
                    };
                    pc += usize::from(if taken { jt } else { jf });
                }
                BPF_RET => return k,
                BPF_MISC => {
                    if code & 0xf8 == BPF_TXA {
                        a = x;
                    } else {
                        x = a;
                    }
                }
                c => panic!("class {c:#x}"),
            }
        }
    }

    /// A neighbour message as the kernel sends it: nlmsghdr, ndmsg, then
    /// NDA_DST, NDA_LLADDR, NDA_PROBES, NDA_CACHEINFO and, if given,
    /// NDA_PROTOCOL (neigh_fill_info order).
    fn neigh(kind: u16, family: u8, flags: u8, proto: Option<u8>) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[family, 0, 0, 0]);
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0x40u16.to_ne_bytes());
        m.extend_from_slice(&[flags, 1]);
        let attr = |m: &mut Vec<u8>, t: u16, v: &[u8]| {
            let len = u16::try_from(4 + v.len()).unwrap();
            m.extend_from_slice(&len.to_ne_bytes());
            m.extend_from_slice(&t.to_ne_bytes());
            m.extend_from_slice(v);
            while m.len() % 4 != 0 {
                m.push(0);
            }
        };
        attr(&mut m, 1, &[10, 0, 0, 2]);
        attr(&mut m, 2, &[2, 0, 0, 0, 0, 2]);
        attr(&mut m, 4, &0u32.to_ne_bytes());
        attr(&mut m, 3, &[0; 16]);
        if let Some(p) = proto {
            attr(&mut m, NDA_PROTOCOL, &[p]);
        }
        let len = u32::try_from(m.len()).unwrap();
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 10;
    const BR: u8 = 7;
    const EXT: u8 = 0x10;
    const RTM_DELNEIGH: u16 = 29;

    #[test]
    fn drops_exactly_planes_own_additions() {
        let p = program(&[]);
        let plane = Some(PLANE_PROTOCOL);
        // plane's echoes: dropped.
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, BR, EXT | 0x02, None)), DROP);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, BR, EXT | 0x04, None)), DROP);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, AF_INET, EXT, plane)), DROP);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, AF_INET6, EXT, plane)), DROP);
        // Deletions, foreign replacements, other protocols: kept.
        assert_eq!(run(&p, &neigh(RTM_DELNEIGH, BR, EXT, None)), ACCEPT);
        assert_eq!(run(&p, &neigh(RTM_DELNEIGH, AF_INET, EXT, plane)), ACCEPT);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, BR, 0x02, None)), ACCEPT);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, AF_INET, 0, plane)), ACCEPT);
        assert_eq!(run(&p, &neigh(RTM_NEWNEIGH, AF_INET, EXT, None)), ACCEPT);
        assert_eq!(
            run(&p, &neigh(RTM_NEWNEIGH, AF_INET, EXT, Some(186))),
            ACCEPT
        );
        // A link message (RTM_NEWLINK).
        let mut link = neigh(RTM_NEWNEIGH, AF_INET, EXT, plane);
        link[4..6].copy_from_slice(&16u16.to_ne_bytes());
        assert_eq!(run(&p, &link), ACCEPT);
    }

    #[test]
    fn drops_neighbour_changes_made_by_planes_own_sockets() {
        let own = [4242, 0];
        let p = program(&own);
        let with_pid = |mut m: Vec<u8>, pid: u32| {
            m[12..16].copy_from_slice(&pid.to_ne_bytes());
            m
        };
        // The NUD_FAILED update before plane deletes its own neighbour: no
        // NTF_EXT_LEARNED, plane's protocol, plane's port id.
        let failed = neigh(RTM_NEWNEIGH, AF_INET, 0, Some(PLANE_PROTOCOL));
        assert_eq!(run(&p, &with_pid(failed.clone(), 4242)), DROP);
        // The same change made by anyone else (another socket, the
        // kernel itself): kept, it is drift.
        assert_eq!(run(&p, &with_pid(failed.clone(), 4243)), ACCEPT);
        assert_eq!(run(&p, &with_pid(failed, 0)), ACCEPT);
        // Deletions are never dropped, whoever made them.
        let del = neigh(RTM_DELNEIGH, AF_INET, EXT, Some(PLANE_PROTOCOL));
        assert_eq!(run(&p, &with_pid(del, 4242)), ACCEPT);
        // Without port ids the program is the marks-only one.
        assert_eq!(program(&[0]), program(&[]));
    }

    #[test]
    fn agrees_with_the_monitor_and_accepts_when_in_doubt() {
        let p = program(&[]);
        let m = neigh(RTM_NEWNEIGH, AF_INET, EXT, Some(PLANE_PROTOCOL));
        // The filter drops only what the monitor itself drops.
        assert_eq!(super::super::monitor::decode(&m), None);
        // Every truncation the program cannot read through is accepted,
        // except those that still hold the whole NDA_PROTOCOL attribute.
        for i in 0..m.len() {
            let v = run(&p, &m[..i]);
            if i < m.len() - 3 && i > usize::try_from(OFF_FLAGS).unwrap() {
                assert_eq!(v, ACCEPT, "truncated at {i}");
            }
        }
        // A zero-length attribute would loop forever in a naive walk.
        let mut bad = m.clone();
        bad[28..30].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(run(&p, &bad), ACCEPT);
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program(&[]);
        for (i, &(code, jt, jf, _)) in p.iter().enumerate() {
            if code & 0x07 == BPF_JMP {
                assert!(i + 1 + usize::from(jt.max(jf)) < p.len(), "insn {i}");
            }
        }
        assert!(p.len() <= 4096);
    }
}
