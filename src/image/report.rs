//! The text form of a [`BuildRecord`]: what `hale build` prints when the output is not JSON.
use super::BuildRecord;

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// Write the build's summary: the reference, digest, each platform's sizes, tags, outputs.
pub fn write_text(out: &mut dyn std::io::Write, r: &BuildRecord) -> std::io::Result<()> {
    let plats: Vec<&str> = r.platforms.iter().map(|p| p.platform.as_str()).collect();
    writeln!(
        out,
        "Built {} ({}, {})",
        r.reference,
        r.engine,
        plats.join(", ")
    )?;
    writeln!(out, "  digest      {}", r.digest)?;
    for p in &r.platforms {
        writeln!(
            out,
            "  {:<11} {} compressed, {} uncompressed, {} layers, binary {}",
            p.platform,
            human(p.compressed_size),
            human(p.uncompressed_size),
            p.layers,
            human(p.binary_size)
        )?;
    }
    writeln!(out, "  tags        {}", r.tags.join(", "))?;
    writeln!(out, "  base        {}", r.base)?;
    writeln!(out, "  user        {}", r.user)?;
    writeln!(out, "  sbom        {}", r.sbom.join(", "))?;
    if let Some(l) = &r.oci_layout {
        writeln!(out, "  oci layout  {l}")?;
    }
    if let Some(a) = &r.archive {
        writeln!(out, "  archive     {a}")?;
    }
    if let Some(p) = &r.push {
        writeln!(
            out,
            "  pushed      {} ({} blobs uploaded, {}; {} mounted; {} already there)",
            p.reference,
            p.uploaded_blobs,
            human(p.uploaded_bytes),
            p.mounted_blobs,
            p.existing_blobs
        )?;
    }
    if r.loaded {
        writeln!(
            out,
            "  loaded      into the Docker Engine as {}",
            r.tags.join(", ")
        )?;
    }
    Ok(())
}
