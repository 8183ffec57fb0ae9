//! `saasql completions SHELL` and `saasql man`: the shell completion scripts
//! and the man pages, generated from the clap definition in [`super::args`]
//! so they always match the binary that prints them.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;
use super::commit::OutputFile;
use super::error::{CliError, CliResult};
use super::output::Target;

/// Prints the completion script for `shell` to stdout.
pub fn print_completions(shell: Shell) -> CliResult<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "saasql", &mut script);
    let mut target = Target::stdout();
    target.write_str(&String::from_utf8_lossy(&script))?;
    target.finish()
}

/// Prints the man page `saasql.1` to stdout, or with `dir` writes it and one
/// page per subcommand (`saasql-run.1`, …; the pages `saasql.1` refers to)
/// into `dir`, each replaced atomically.
pub fn man_pages(dir: Option<&Path>) -> CliResult<()> {
    // `saasql help` needs no page of its own.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let Some(dir) = dir else {
        let mut target = Target::stdout();
        target.write_str(&String::from_utf8_lossy(&render(command)?))?;
        return target.finish();
    };
    std::fs::create_dir_all(dir).map_err(|e| CliError::write(&dir.display().to_string(), &e))?;
    let mut pages = vec![command];
    while let Some(command) = pages.pop() {
        pages.extend(
            command
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .cloned(),
        );
        let man = page(command);
        let path = dir.join(man.get_filename());
        let mut roff = Vec::new();
        man.render(&mut roff)
            .map_err(|e| CliError::write(&path.display().to_string(), &e))?;
        let mut file = OutputFile::create(&path)?;
        file.write_all(&roff)
            .map_err(|e| CliError::write(&path.display().to_string(), &e))?;
        file.commit()?;
    }
    Ok(())
}

/// One command's page, in roff.
fn render(command: clap::Command) -> CliResult<Vec<u8>> {
    let mut roff = Vec::new();
    page(command)
        .render(&mut roff)
        .map_err(|e| CliError::write("the man page", &e))?;
    Ok(roff)
}

/// A page in the "saasql VERSION" manual (subcommands have no version of
/// their own).
fn page(command: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command).source(concat!("saasql ", env!("CARGO_PKG_VERSION")))
}
