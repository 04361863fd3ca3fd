//! Third-party BGP peers for interop tests: GoBGP (gobgpd) and FRR (bgpd,
//! zebra) run inside a test's namespace, each stopped by PID when dropped.
