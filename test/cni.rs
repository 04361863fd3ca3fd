//! cni tests (see the module docs of the tests below).
