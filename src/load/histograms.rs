//! Export of HDR histograms (V2 serialized, base64) per instance and in total, and merging of
//! exported files from several runs or generators.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
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
}

fn encode(h: &Histogram<u64>) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("histogram is not base64")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram is not V2 serialized HDR data: {e:?}"))
}

/// Build the export of one run.
pub fn export(outcome: &RunOutcome) -> anyhow::Result<HistogramFile> {
    let mut instances = BTreeMap::new();
    for i in &outcome.instances {
        instances.insert(i.id.clone(), encode(&i.stats.corrected)?);
    }
    Ok(HistogramFile {
        schema: SCHEMA.into(),
        unit: "us".into(),
        total: encode(&outcome.totals.corrected)?,
        instances,
    })
}

/// Write an export atomically (temporary file, then rename).
pub fn write(path: &Path, file: &HistogramFile) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(file)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A file given to `--merge` that is not a histogram export hale can read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("{} is not a hale histogram export ({why}); write one with --histogram-out", path.display())]
    NotAnExport {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("{}: schema {found:?}, expected {SCHEMA:?}", path.display())]
    Schema {
        path: std::path::PathBuf,
        found: String,
    },
}

/// Merged histograms: the total and one per instance id.
pub type Merged = (Histogram<u64>, BTreeMap<String, Histogram<u64>>);

/// Merge exported files: totals add up, instances with the same id add up.
pub fn merge(paths: &[std::path::PathBuf]) -> anyhow::Result<Merged> {
    let mut total = latency_histogram();
    let mut instances: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: HistogramFile =
            serde_json::from_str(&text).map_err(|e| HistogramError::NotAnExport {
                path: path.clone(),
                why: e.to_string(),
            })?;
        if file.schema != SCHEMA {
            return Err(HistogramError::Schema {
                path: path.clone(),
                found: file.schema,
            }
            .into());
        }
        let t = decode(&file.total).with_context(|| format!("{}: total", path.display()))?;
        total
            .add(&t)
            .map_err(|e| anyhow::anyhow!("merging {}: {e:?}", path.display()))?;
        for (id, text) in &file.instances {
            let h = decode(text).with_context(|| format!("{}: instance {id}", path.display()))?;
            instances
                .entry(id.clone())
                .or_insert_with(latency_histogram)
                .add(&h)
                .map_err(|e| anyhow::anyhow!("merging {}: {e:?}", path.display()))?;
        }
    }
    Ok((total, instances))
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

/// The `hale.load.merge/v1` document: percentiles of merged exports, in total and per instance.
#[derive(Debug, Serialize)]
pub struct MergeReport {
    pub schema: &'static str,
    pub files: usize,
    pub total: Percentiles,
    pub instances: BTreeMap<String, Percentiles>,
}

/// Merge exported files into the document `hale load --merge` prints.
pub fn merge_report(paths: &[std::path::PathBuf]) -> anyhow::Result<MergeReport> {
    let (total, instances) = merge(paths)?;
    Ok(MergeReport {
        schema: "hale.load.merge/v1",
        files: paths.len(),
        total: Percentiles::of(&total),
        instances: instances
            .iter()
            .map(|(id, h)| (id.clone(), Percentiles::of(h)))
            .collect(),
    })
}

impl MergeReport {
    /// The text form: one row of percentiles (ms) for the total and each instance.
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
        Ok(())
    }
}
