//! Where each value the configuration takes from the command line came from
//! (a flag or a `TESSERA_*` variable), so an error names it.

use clap::ArgMatches;
use clap::parser::ValueSource;

pub use crate::config::Sources;

impl Sources {
    /// The sources of the values in `matches` (the top level's and the
    /// subcommand's).
    pub fn of(matches: &ArgMatches) -> Self {
        let sub = matches.subcommand().map(|(_, m)| m);
        let name = |id: &str, flag: &str, env: &str| -> Option<String> {
            let m = [Some(matches), sub]
                .into_iter()
                .flatten()
                .find(|m| m.try_contains_id(id).unwrap_or(false))?;
            match m.value_source(id)? {
                ValueSource::CommandLine => Some(flag.to_owned()),
                ValueSource::EnvVariable => Some(env.to_owned()),
                _ => None,
            }
        };
        Self {
            listen: name("listen", "--listen", "TESSERA_LISTEN"),
            admin_listen: name("admin_listen", "--admin-listen", "TESSERA_ADMIN_LISTEN"),
            issuer: name("issuer", "--issuer", "TESSERA_ISSUER"),
            database: name("database", "--database", "TESSERA_DATABASE_URL"),
        }
    }
}
