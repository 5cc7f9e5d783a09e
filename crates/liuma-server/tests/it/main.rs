//! Process-level tests: the real `liuma` binary on loopback, one test
//! binary for all of them (linking is slow on 2 cores).

mod abuse;
mod admin;
mod admin_tls;
mod backend;
mod bench;
mod browser;
mod browser_common;
mod cluster;
mod cluster_browser;
mod console;
mod console_admin;
mod console_browser;
mod console_objects;
mod console_objects_browser;
mod etcd;
mod fault_proxy;
mod harness;
mod http;
mod meta_full;
mod native;
mod native_sessions;
mod post_object;
mod s3;
mod security;
mod server;
mod sse_keys;
mod tls;
mod tus;
mod users;
