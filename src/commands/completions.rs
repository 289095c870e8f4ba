//! `hale completions <shell>`: a completion script generated from the clap definition.
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs, _printer: &Printer) -> anyhow::Result<()> {
    let script = script(args.shell);
    crate::output::Printer::plain().line(script.trim_end())?;
    Ok(())
}

/// The completion script for `shell`, as committed under completions/.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "hale", &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// The file name each shell looks for.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "hale.bash",
        Shell::Zsh => "_hale",
        Shell::Fish => "hale.fish",
        Shell::PowerShell => "_hale.ps1",
        Shell::Elvish => "hale.elv",
        _ => "hale.completion",
    }
}
