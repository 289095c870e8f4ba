//! What `hale discover` shows of a service's instances: the `hale.discover/v1` document
//! (docs/json/discover.md), its table, and the one line per change of `--watch`; and what
//! `hale register` reports (`hale.register/v1`, docs/json/register.md).
use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

use super::{Instance, Layout, RegistryUrl};

/// The `--output json` document and `--watch` JSON line.
#[derive(Debug, Serialize)]
pub struct DiscoverReport<'a> {
    pub schema: &'static str,
    pub service: &'a str,
    pub registry: String,
    pub instances: &'a [Instance],
}

impl<'a> DiscoverReport<'a> {
    pub fn new(service: &'a str, url: &RegistryUrl, instances: &'a [Instance]) -> Self {
        DiscoverReport {
            schema: "hale.discover/v1",
            service,
            registry: url.to_string(),
            instances,
        }
    }

    /// `--watch` in text: `<time> N healthy: id=host:port ...`.
    pub fn watch_line(&self, now: SystemTime) -> String {
        let list: Vec<String> = self
            .instances
            .iter()
            .map(|i| format!("{}={}", i.id, i.endpoint()))
            .collect();
        // Entries are what other programs registered: control characters are escaped.
        crate::output::escape_controls(&format!(
            "{} {} healthy: {}",
            humantime::format_rfc3339_seconds(now),
            self.instances.len(),
            list.join(" ")
        ))
    }

    /// The table: ID, ADDRESS, TAGS and META columns (`-` for none); nothing for no instance.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.instances.is_empty() {
            return Ok(());
        }
        let rows: Vec<[String; 4]> = self
            .instances
            .iter()
            .map(|i| {
                let meta: Vec<String> = i.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
                [
                    i.id.clone(),
                    i.endpoint(),
                    if i.tags.is_empty() {
                        "-".into()
                    } else {
                        i.tags.join(",")
                    },
                    if meta.is_empty() {
                        "-".into()
                    } else {
                        meta.join(",")
                    },
                ]
                // Entries are what other programs registered: a terminal escape sequence in
                // an address or a tag is shown, not obeyed.
                .map(|cell| crate::output::escape_controls(&cell))
            })
            .collect();
        let width = |col: usize, title: &str| {
            rows.iter()
                .map(|r| r[col].len())
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let (w0, w1, w2) = (width(0, "ID"), width(1, "ADDRESS"), width(2, "TAGS"));
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  META",
            "ID", "ADDRESS", "TAGS"
        )?;
        for [id, endpoint, tags, meta] in &rows {
            writeln!(out, "{id:<w0$}  {endpoint:<w1$}  {tags:<w2$}  {meta}")?;
        }
        Ok(())
    }
}

/// `hale register --output json` (docs/json/register.md).
#[derive(Debug, Serialize)]
pub struct RegisterReport<'a> {
    schema: &'static str,
    registry: String,
    layout: Layout,
    instance: &'a Instance,
    once: bool,
    deregistered: bool,
}

impl<'a> RegisterReport<'a> {
    pub fn new(
        url: &RegistryUrl,
        layout: Layout,
        instance: &'a Instance,
        once: bool,
        deregistered: bool,
    ) -> Self {
        RegisterReport {
            schema: "hale.register/v1",
            registry: url.to_string(),
            layout,
            instance,
            once,
            deregistered,
        }
    }

    /// The text form: the instance id of a `--once` registration, nothing otherwise.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.once {
            writeln!(out, "{}", self.instance.id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn instance(id: &str, port: u16, tags: &[&str], meta: &[(&str, &str)]) -> Instance {
        Instance {
            name: "orders".into(),
            id: id.into(),
            address: "127.0.0.1".into(),
            port,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            check: None,
            ttl: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_table_aligns_its_columns_and_marks_empty_ones() {
        let url = RegistryUrl::parse("file:///tmp/r.json").unwrap();
        let list = [
            instance("orders-1", 8081, &[], &[("weight", "2")]),
            instance("orders-long-id", 18082, &["https", "v2"], &[]),
        ];
        let report = DiscoverReport::new("orders", &url, &list);
        let mut out = Vec::new();
        report.write_table(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID              ADDRESS          TAGS      META\n\
             orders-1        127.0.0.1:8081   -         weight=2\n\
             orders-long-id  127.0.0.1:18082  https,v2  -\n"
        );
        assert_eq!(
            report.watch_line(UNIX_EPOCH + Duration::from_secs(60)),
            "1970-01-01T00:01:00Z 2 healthy: orders-1=127.0.0.1:8081 orders-long-id=127.0.0.1:18082"
        );
        let mut empty = Vec::new();
        DiscoverReport::new("orders", &url, &[])
            .write_table(&mut empty)
            .unwrap();
        assert!(empty.is_empty());
    }
}
