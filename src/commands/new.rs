//! `hale new NAME`: scaffold a Go service (see docs/commands/new.md).
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::output::Printer;
use crate::scaffold::{self, CiSystem, NewOptions, Tidy};

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service name: a DNS-1123 label (lowercase letters, digits, '-'; starts with a letter).
    pub name: String,
    /// Go module path [default: example.com/<NAME>].
    #[arg(long, value_name = "PATH")]
    pub module: Option<String>,
    /// Folder to create [default: ./<NAME>].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Write into a non-empty folder, replacing the generated files there.
    #[arg(long)]
    pub force: bool,
    /// List the files that would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use the templates in this folder instead of the built-in set.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Do not run `go mod tidy` after writing.
    #[arg(long)]
    pub no_tidy: bool,
    /// The CI pipeline to write: GitHub Actions (.github/workflows/ci.yml), GitLab CI
    /// (.gitlab-ci.yml) or none.
    #[arg(long, value_enum, value_name = "SYSTEM", default_value_t = CiSystem::Github)]
    pub ci: CiSystem,
    /// Add a gRPC API beside the HTTP one, on the same port: api/NAME/v1/NAME.proto, its
    /// generated Go code, and the gRPC server with health, metrics and interceptors.
    #[arg(long)]
    pub grpc: bool,
}

/// `--output json` document (docs/json/new.md).
#[derive(Debug, Serialize)]
struct NewReport<'a> {
    schema: &'static str,
    name: &'a str,
    module: &'a str,
    dir: String,
    dry_run: bool,
    tidy: Tidy,
    files: Vec<String>,
}

pub async fn run(args: NewArgs, printer: &Printer) -> anyhow::Result<()> {
    let opts = NewOptions {
        name: args.name,
        module: args.module,
        dir: args.dir,
        force: args.force,
        templates: args.templates,
        ci: args.ci,
        hale_action: super::upgrade::hale_action_env(),
        grpc: args.grpc,
    };
    let plan = scaffold::plan(&opts)?;
    let root = plan.root.clone();
    let to_write = plan.files_to_write();
    let tidy = if args.dry_run {
        // A dry run fails where the real run would, so it can be trusted as a preview.
        scaffold::check_target(&root, opts.force)?;
        Tidy::Skipped
    } else {
        scaffold::write_tree(&root, &to_write, opts.force)?;
        printer.status(
            "Created",
            format!(
                "{} ({} files, and {} with its base in {}) in {}",
                plan.context.name,
                plan.files.len(),
                scaffold::lock::LOCK_FILE,
                scaffold::lock::BASE_DIR,
                root.display()
            ),
        );
        if args.no_tidy {
            Tidy::Skipped
        } else {
            printer.status("Running", "go mod tidy");
            let root = root.clone();
            let outcome = tokio::task::spawn_blocking(move || scaffold::tidy(&root)).await??;
            if outcome == Tidy::NoGo {
                printer.warn("go was not found on PATH: skipped `go mod tidy`");
            }
            outcome
        }
    };
    let mut files: Vec<String> = to_write
        .iter()
        .map(|f| scaffold::lock::slash_path(&f.path))
        .collect();
    files.sort();
    let report = NewReport {
        schema: "hale.new/v1",
        name: &plan.context.name,
        module: &plan.context.module,
        dir: root.display().to_string(),
        dry_run: args.dry_run,
        tidy,
        files,
    };
    printer.emit(&report, |out| {
        if args.dry_run {
            writeln!(
                out,
                "Would write {} files into {}:",
                report.files.len(),
                report.dir
            )?;
            let base = format!("{}/", scaffold::lock::BASE_DIR);
            for f in report.files.iter().filter(|f| !f.starts_with(&base)) {
                writeln!(out, "  {f}")?;
            }
            writeln!(
                out,
                "  {base} (what the templates rendered, for `hale upgrade --merge`)"
            )?;
            return Ok(());
        }
        if printer.is_quiet() {
            return Ok(());
        }
        writeln!(out, "Next steps:")?;
        writeln!(out, "  cd {}", report.dir)?;
        writeln!(out, "  go test ./...")?;
        writeln!(
            out,
            "  hale up --replicas 3        # a local fleet on the embedded registry"
        )?;
        writeln!(out, "  hale discover {}", report.name)?;
        writeln!(out, "  hale load {} --duration 10s", report.name)
    })?;
    Ok(())
}
