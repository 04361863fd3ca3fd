//! TCP-MD5 signatures (RFC 2385) via `setsockopt(TCP_MD5SIG)`.
//!
//! The only module of plane-bgp that may use `unsafe`: libc has the
//! constant but not `struct tcp_md5sig`, so it is declared here with the
//! kernel's layout (include/uapi/linux/tcp.h, 216 bytes) and handed to
//! `setsockopt`. A key set on a listening socket applies to connections
//! accepted from that peer address; on a connecting socket it must be set
//! before `connect`. A wrong or missing key is a silent drop by the kernel
//! (see [`super::netstat`] for the counters that reveal it).
//!
//! Never does anything but that one syscall on a socket the caller owns.
#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// TCP_MD5SIG_MAXKEYLEN in the kernel.
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` of include/uapi/linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MAX_KEY_LEN],
}

/// Errors setting a key.
#[derive(Debug, thiserror::Error)]
pub enum Md5Error {
    #[error("TCP-MD5 key for {peer} is {len} octets; the kernel takes at most {MAX_KEY_LEN}")]
    KeyTooLong { peer: IpAddr, len: usize },
    #[error("setsockopt(TCP_MD5SIG) for {peer}: {source}")]
    Setsockopt { peer: IpAddr, source: io::Error },
}

/// Sets (or with an empty key, removes) the TCP-MD5 key for `peer` on `socket`.
pub fn set_key(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> Result<(), Md5Error> {
    if key.len() > MAX_KEY_LEN {
        return Err(Md5Error::KeyTooLong {
            peer,
            len: key.len(),
        });
    }
    // SAFETY: sockaddr_storage and the integer fields are plain data for
    // which all-zero bytes are a valid value.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut sig.addr as *mut libc::sockaddr_storage as *mut libc::sockaddr_in)
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.octets()),
            };
        }
        IpAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut sig.addr as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6)
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.octets(),
            };
        }
    }
    // Checked above: at most 80.
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a valid, initialised tcp_md5sig that outlives the
    // call; the length passed is its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const TcpMd5Sig as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Md5Error::Setsockopt {
            peer,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn key_is_accepted_on_a_socket_and_too_long_refused() {
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer: IpAddr = "127.0.0.2".parse().expect("addr");
        set_key(&s, peer, b"secret").expect("set key");
        set_key(&s, peer, b"").expect("remove key");
        // A dual-stack listener takes IPv4 peers' keys as v4-mapped addresses.
        let s6 = std::net::TcpListener::bind("[::1]:0").expect("bind v6");
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        set_key(&s6, mapped, b"secret").expect("set v4-mapped key");
        assert!(matches!(
            set_key(&s, peer, &[0u8; 81]),
            Err(Md5Error::KeyTooLong { len: 81, .. })
        ));
    }
}
