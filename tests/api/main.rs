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
mod signing_keys;

mod account_page;
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
#[cfg(feature = "demo")]
mod demo_exchange;
mod deploy;
mod faults;
mod flow;
mod id_jag;
#[cfg(feature = "demo")]
mod interop;
mod lifecycle;
mod limits;
mod manage;
mod metadata;
mod node;
mod offline_access;
mod operators;
mod ops;
mod passkeys;
mod private_key_jwt;
mod readme;
mod refresh;
mod register;
mod replicas;
mod resource_kit;
mod second_factors;
mod serving;
mod strictness;
mod token;
mod token_errors;
mod token_exchange;
mod trust_grants;
mod upstream;
mod upstream_chromium;
mod upstream_policy;
