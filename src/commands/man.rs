//! `hale man`: the man page, from the clap definition.
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write hale.1 and one page per subcommand (hale-new.1, ...) into this folder instead of
    /// printing hale.1 to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: ManArgs, printer: &Printer) -> anyhow::Result<()> {
    let cmd = Cli::command();
    match args.dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            use std::io::Write as _;
            std::io::stdout().lock().write_all(&out)?;
        }
        Some(dir) => {
            crate::userfile::create_dir_all(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            printer.status("Wrote", format!("man pages into {}", dir.display()));
        }
    }
    Ok(())
}
