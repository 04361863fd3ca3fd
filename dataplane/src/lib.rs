//! plane's dataplane: turns EVPN state into Linux kernel state.
