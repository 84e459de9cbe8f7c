//! The one integration-test binary: every test drives the real router (or a
//! real TCP server, or the real `tessera` binary) over a real SQLite file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    reason = "a failing test panics by design"
)]

mod database;
mod helpers;
mod private_postgres;

mod accounts;
mod architecture;
mod at_rest;
mod audit;
mod audit_keyed;
mod authorize;
mod backends;
mod binary;
mod browser;
mod chromium;
mod cimd;
mod cluster;
mod crash;
mod db_copy;
mod deploy;
mod faults;
mod flow;
#[cfg(feature = "demo")]
mod interop;
mod lifecycle;
mod limits;
mod manage;
mod metadata;
mod operators;
mod ops;
mod readme;
mod refresh;
mod register;
mod replicas;
mod resource_kit;
mod serving;
mod strictness;
mod token;
mod token_errors;
mod trust_grants;
