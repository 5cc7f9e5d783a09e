//! Process-level tests: the real `liuma` binary on loopback, one test
//! binary for all of them (linking is slow on 2 cores).

mod harness;
mod server;
