//! The `tessera` binary: parse the command line and hand over to [`tessera::cli`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = tessera::cli::Cli::parse();
    match tessera::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: error: {e:#}");
            ExitCode::from(2)
        }
    }
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
