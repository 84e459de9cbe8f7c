//! The `tessera` binary: hand over to [`tessera::cli`], which parses the
//! command line, runs it and chooses the exit status.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tessera::cli::main().await
}

/// mimalloc instead of glibc's malloc. A request's buffers are often freed on
/// another runtime worker than the one that allocated them (tasks move between
/// workers, audit records go to the writer thread). glibc then takes the
/// owning arena's lock, and under load those locks collide and cost futex
/// waits and context switches; mimalloc frees across threads without a lock.
/// Built without transparent huge pages, so a touched heap page costs 4 KiB
/// of RSS, not 2 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
