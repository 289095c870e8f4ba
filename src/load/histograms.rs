//! Export of HDR histograms (V2 serialized, base64) per instance and in total, with the
//! run's request counts, and merging of exported files from several runs or generators: the
//! merged total is the sum of its parts, and the merge document says where figures differ.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::report::Percentiles;
use super::stats::latency_histogram;
use super::RunOutcome;

pub const SCHEMA: &str = "hale.load.histograms/v1";

/// The `--histogram-out` file.
#[derive(Debug, Serialize, Deserialize)]
pub struct HistogramFile {
    pub schema: String,
    /// Always "us": values are microseconds.
    pub unit: String,
    /// Corrected latency of final outcomes, all instances.
    pub total: String,
    /// Per-instance attempt latency, by instance id.
    pub instances: BTreeMap<String, String>,
    /// The run's request counts (absent from exports made by older hale versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<RunCounts>,
}

/// What a run counted besides latency: a merge adds these up as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Final outcomes: `ok + errors`.
    pub requests: u64,
    /// Successful requests: the latencies in `total`.
    pub ok: u64,
    pub errors: u64,
    pub retries: u64,
    /// Attempts sent to instances (retries and failed attempts included): the latencies in
    /// `instances`.
    pub attempts: u64,
}

impl RunCounts {
    fn add(&mut self, other: &RunCounts) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.errors += other.errors;
        self.retries += other.retries;
        self.attempts += other.attempts;
    }
}

/// Export, write and merge failures. A `--merge` file that is missing or not an export is
/// the user's to fix ([`HistogramError::is_bad_input`]); encoding or writing is not.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("{} is not a hale histogram export ({why}); write one with --histogram-out", path.display())]
    NotAnExport { path: PathBuf, why: String },
    #[error("{}: schema {found:?}, expected {SCHEMA:?}", path.display())]
    Schema { path: PathBuf, found: String },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {part}: {why}", path.display())]
    Corrupt {
        path: PathBuf,
        part: String,
        why: String,
    },
    #[error("serializing a histogram: {0}")]
    Encode(String),
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HistogramError {
    /// Whether the user gave a file hale cannot merge (exit 2), not an export that failed.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            HistogramError::Encode(_) | HistogramError::Write { .. }
        )
    }
}

fn encode(h: &Histogram<u64>) -> Result<String, HistogramError> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram is not V2 serialized HDR data: {e:?}"))
}

/// Build the export of one run.
pub fn export(outcome: &RunOutcome) -> Result<HistogramFile, HistogramError> {
    let mut instances = BTreeMap::new();
    for i in &outcome.instances {
        instances.insert(i.id.clone(), encode(&i.stats.corrected)?);
    }
    let totals = &outcome.totals;
    Ok(HistogramFile {
        schema: SCHEMA.into(),
        unit: "us".into(),
        total: encode(&totals.corrected)?,
        instances,
        counts: Some(RunCounts {
            requests: totals.requests,
            ok: totals.ok,
            errors: totals.error_total(),
            retries: totals.retries,
            attempts: outcome.instances.iter().map(|i| i.stats.sent).sum(),
        }),
    })
}

/// Write an export atomically (temporary file, then rename).
pub fn write(path: &Path, file: &HistogramFile) -> Result<(), HistogramError> {
    let text =
        serde_json::to_string_pretty(file).map_err(|e| HistogramError::Encode(e.to_string()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let failed = |source| HistogramError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(failed)?;
    tmp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// One file of a merge.
pub struct Part {
    pub path: PathBuf,
    pub total: Histogram<u64>,
    pub instances: BTreeMap<String, Histogram<u64>>,
    pub counts: Option<RunCounts>,
}

/// Read one export.
pub fn read(path: &Path) -> Result<Part, HistogramError> {
    let text = crate::userfile::read_to_string(path, crate::userfile::Limit::HISTOGRAMS).map_err(
        |source| HistogramError::Read {
            path: path.to_path_buf(),
            source,
        },
    )?;
    let file: HistogramFile =
        serde_json::from_str(&text).map_err(|e| HistogramError::NotAnExport {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if file.schema != SCHEMA {
        return Err(HistogramError::Schema {
            path: path.to_path_buf(),
            found: file.schema,
        });
    }
    let corrupt = |part: String| {
        move |why: String| HistogramError::Corrupt {
            path: path.to_path_buf(),
            part,
            why,
        }
    };
    let total = decode(&file.total).map_err(corrupt("total".into()))?;
    let mut instances = BTreeMap::new();
    for (id, text) in &file.instances {
        let h = decode(text).map_err(corrupt(format!("instance {id}")))?;
        instances.insert(id.clone(), h);
    }
    Ok(Part {
        path: path.to_path_buf(),
        total,
        instances,
        counts: file.counts,
    })
}

/// Merged histograms: the total and one per instance id.
pub type Merged = (Histogram<u64>, BTreeMap<String, Histogram<u64>>);

/// Add up parts: totals add up, instances with the same id add up.
fn add_up(parts: &[Part]) -> Result<Merged, HistogramError> {
    let mut total = latency_histogram();
    let mut instances: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for part in parts {
        let failed = |e: hdrhistogram::AdditionError| HistogramError::Corrupt {
            path: part.path.clone(),
            part: "merging".into(),
            why: format!("{e:?}"),
        };
        total.add(&part.total).map_err(failed)?;
        for (id, h) in &part.instances {
            instances
                .entry(id.clone())
                .or_insert_with(latency_histogram)
                .add(h)
                .map_err(failed)?;
        }
    }
    Ok((total, instances))
}

/// Merge exported files: totals add up, instances with the same id add up.
pub fn merge(paths: &[PathBuf]) -> Result<Merged, HistogramError> {
    let parts = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    add_up(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_histograms_round_trip_and_merge() {
        let mut a = latency_histogram();
        a.record(100).unwrap();
        a.record(2000).unwrap();
        let back = decode(&encode(&a).unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.max(), a.max());
        let dir = tempfile::tempdir().unwrap();
        let file = HistogramFile {
            schema: SCHEMA.into(),
            unit: "us".into(),
            total: encode(&a).unwrap(),
            instances: [("x-1".to_string(), encode(&a).unwrap())].into(),
            counts: None,
        };
        let p1 = dir.path().join("a.json");
        let p2 = dir.path().join("b.json");
        write(&p1, &file).unwrap();
        write(&p2, &file).unwrap();
        let (total, per) = merge(&[p1, p2]).unwrap();
        assert_eq!(total.len(), 4);
        assert_eq!(per["x-1"].len(), 4);
    }
}

/// The `hale.load.merge/v1` document: percentiles of merged exports, in total and per
/// instance; each part's counts and their sum; and, in words, every way the figures do not add
/// up to each other.
#[derive(Debug, Serialize)]
pub struct MergeReport {
    pub schema: &'static str,
    pub files: usize,
    pub total: Percentiles,
    pub instances: BTreeMap<String, Percentiles>,
    /// One per file, in the order given.
    pub parts: Vec<MergePart>,
    /// The parts' counts added up (parts without counts left out, and named in `differences`).
    pub counts: RunCounts,
    /// Where the figures differ from a plain sum, and why; empty when everything adds up.
    pub differences: Vec<String>,
}

/// One merged file: how many latencies its total holds and what its run counted.
#[derive(Debug, Serialize)]
pub struct MergePart {
    pub file: String,
    /// Latencies in the part's `total` histogram.
    pub latencies: u64,
    /// The run's counts; `null` for an export made before hale recorded them.
    pub counts: Option<RunCounts>,
}

/// Merge exported files into the document `hale load --merge` prints.
pub fn merge_report(paths: &[PathBuf]) -> Result<MergeReport, HistogramError> {
    let parts = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (total, instances) = add_up(&parts)?;
    let mut counts = RunCounts::default();
    let mut differences = Vec::new();
    for part in &parts {
        match &part.counts {
            Some(c) => {
                counts.add(c);
                if c.ok != part.total.len() {
                    differences.push(format!(
                        "{}: {} successful requests but {} latencies in its total",
                        part.path.display(),
                        c.ok,
                        part.total.len()
                    ));
                }
            }
            None => differences.push(format!(
                "{} has no request counts (exported by an older hale): the counts cover the \
                 other parts only",
                part.path.display()
            )),
        }
    }
    let part_latencies: u64 = parts.iter().map(|p| p.total.len()).sum();
    if total.len() != part_latencies {
        differences.push(format!(
            "the merged total holds {} latencies, the parts {part_latencies}",
            total.len()
        ));
    }
    let attempts: u64 = instances.values().map(|h| h.len()).sum();
    if attempts != total.len() {
        differences.push(format!(
            "the total counts successful requests ({}); the instance rows count attempts \
             ({attempts}): failed attempts{} are in the instance rows only",
            total.len(),
            if counts.retries > 0 {
                " and retries"
            } else {
                ""
            }
        ));
    }
    Ok(MergeReport {
        schema: "hale.load.merge/v1",
        files: paths.len(),
        total: Percentiles::of(&total),
        instances: instances
            .iter()
            .map(|(id, h)| (id.clone(), Percentiles::of(h)))
            .collect(),
        parts: parts
            .iter()
            .map(|p| MergePart {
                file: p.path.display().to_string(),
                latencies: p.total.len(),
                counts: p.counts,
            })
            .collect(),
        counts,
        differences,
    })
}

impl MergeReport {
    /// The text form: one row of percentiles (ms) for the total and each instance, then the
    /// parts' counts and their sum, then what differs.
    pub fn write_text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{:<24} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency ms", "count", "p50", "p90", "p99", "p99.9", "max"
        )?;
        let row = |out: &mut dyn std::io::Write, name: &str, p: &Percentiles| {
            writeln!(
                out,
                "{name:<24} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                p.count, p.p50, p.p90, p.p99, p.p999, p.max
            )
        };
        row(out, "total", &self.total)?;
        for (id, p) in &self.instances {
            row(out, id, p)?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "parts", "requests", "ok", "errors", "retries", "attempts"
        )?;
        let counts = |out: &mut dyn std::io::Write, name: &str, c: Option<&RunCounts>| match c {
            Some(c) => writeln!(
                out,
                "{name:<24} {:>10} {:>10} {:>10} {:>10} {:>10}",
                c.requests, c.ok, c.errors, c.retries, c.attempts
            ),
            None => writeln!(
                out,
                "{name:<24} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "-", "-", "-", "-", "-"
            ),
        };
        for part in &self.parts {
            counts(out, &part.file, part.counts.as_ref())?;
        }
        counts(out, "sum", Some(&self.counts))?;
        for d in &self.differences {
            writeln!(out, "note: {d}")?;
        }
        Ok(())
    }
}
