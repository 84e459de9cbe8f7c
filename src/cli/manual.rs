//! `tessera completions SHELL` and `tessera man`: generated from the same clap
//! definition as the parser, so they never drift from it.

use std::io::Write;

use clap::{Command, CommandFactory};

use super::Cli;

/// Print the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tessera", &mut out);
    write_all(&out)
}

/// Print the manual page (roff): the top-level page, then a section for
/// every command with its synopsis, description and options.
pub fn man_page() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands() {
        section(sub, "tessera", &mut out)?;
    }
    write_all(&out)
}

/// `sub`'s section, then its own subcommands', depth first.
fn section(sub: &Command, parent: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    if sub.is_hide_set() || sub.get_name() == "help" {
        return Ok(());
    }
    let name = format!("{parent} {}", sub.get_name());
    let named = sub.clone().bin_name(name.clone());
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    let man = clap_mangen::Man::new(named);
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    man.render_options_section(&mut body)?;
    // Each part starts its own `.SH`; under a command's section they are `.SS`.
    let body = String::from_utf8_lossy(&body).replace(".SH ", ".SS ");
    out.extend_from_slice(body.as_bytes());
    for child in sub.get_subcommands() {
        section(child, &name, out)?;
    }
    Ok(())
}

fn write_all(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}
