//! What `hale load` prints after a run (local or on the cluster): faults reset, files written,
//! the report, CI annotations; and the exit the run calls for.
use super::load::LoadArgs;
use crate::load::{self, job};
use crate::output::Printer;
use crate::usage;

/// What a run did, printed: faults reset, files written, the report, CI annotations; the exit.
pub(super) fn print_ran(ran: job::Ran, args: &LoadArgs, printer: &Printer) -> anyhow::Result<()> {
    for reset in ran.resets {
        match reset.result {
            Ok(()) => printer.status("Reset", format!("faults on {}", reset.instance)),
            Err(e) => printer.warn(format!(
                "could not reset the faults on {}: {:#}",
                reset.instance,
                anyhow::Error::new(e)
            )),
        }
    }
    for (what, path) in &ran.written {
        printer.status("Wrote", format!("{what} to {}", path.display()));
    }
    let finished = ran.result?;
    let report = &finished.report;
    printer.emit(report, |out| report.write_text(out))?;
    let annotations = crate::ci::load::publish(report, &args.report, &crate::ci::process_env)?;
    crate::ci::annotations::print(printer, &annotations)?;
    if finished.interrupted {
        return Err(crate::exit::Interrupted.into());
    }
    if let Some(cause) = finished.failure {
        anyhow::bail!(cause);
    }
    if !finished.failed_assertions.is_empty() {
        return Err(crate::exit::AssertionsFailed(finished.failed_assertions.clone()).into());
    }
    Ok(())
}

pub(super) fn cluster_error(e: load::cluster::ClusterError) -> anyhow::Error {
    match e {
        load::cluster::ClusterError::Interrupted => crate::exit::Interrupted.into(),
        e if e.is_bad_input() => usage!("{e}"),
        e => anyhow::Error::new(e),
    }
}
