//! Target platforms (`linux/amd64`, `linux/arm/v7`, ...): parsed and checked before any build,
//! and turned into the Go toolchain's GOOS/GOARCH/GOARM/GOAMD64.
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One target platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// Why a platform string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {given:?}: {reason} (use os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7)")]
pub struct PlatformError {
    pub given: String,
    pub reason: &'static str,
}

const ARCHES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64",
];

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PlatformError {
            given: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(err("expected two or three parts"));
        }
        if parts[0] != "linux" {
            return Err(err("only linux images are built"));
        }
        let arch = parts[1];
        if !ARCHES.contains(&arch) {
            return Err(err(
                "unknown architecture (amd64, arm64, arm, 386, ppc64le, s390x, riscv64)",
            ));
        }
        let variant = match (arch, parts.get(2).copied()) {
            (_, None) => None,
            ("arm", Some(v @ ("v5" | "v6" | "v7"))) => Some(v.to_string()),
            ("arm64", Some("v8")) => Some("v8".to_string()),
            ("amd64", Some(v @ ("v1" | "v2" | "v3" | "v4"))) => Some(v.to_string()),
            _ => return Err(err("unknown variant for this architecture")),
        };
        // linux/arm means v7 to every registry and engine; say it so the index is explicit.
        let variant = match (arch, variant) {
            ("arm", None) => Some("v7".to_string()),
            (_, v) => v,
        };
        Ok(Platform {
            os: parts[0].to_string(),
            arch: arch.to_string(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Platform {
    /// The platform of this machine (linux/<arch>), the default target.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            _ => "amd64",
        };
        Platform {
            os: "linux".to_string(),
            arch: arch.to_string(),
            variant: (arch == "arm").then(|| "v7".to_string()),
        }
    }

    /// The Go toolchain's environment for this target.
    pub fn go_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("GOOS", self.os.clone()), ("GOARCH", self.arch.clone())];
        match (self.arch.as_str(), self.variant.as_deref()) {
            ("arm", Some(v)) => env.push(("GOARM", v.trim_start_matches('v').to_string())),
            ("amd64", Some(v)) => env.push(("GOAMD64", v.to_string())),
            _ => {}
        }
        env
    }

    /// A file-name-safe form: `linux-arm-v7`.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_platforms_and_defaults_arm_to_v7() {
        let p: Platform = "linux/arm".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert!(p.go_env().contains(&("GOARM", "7".to_string())));
        let p: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(p.variant, None);
        assert_eq!(p.slug(), "linux-arm64");
    }

    #[test]
    fn refuses_other_systems_unknown_arches_and_bad_variants() {
        for bad in [
            "windows/amd64",
            "linux/sparc",
            "linux/arm/v9",
            "linux",
            "a/b/c/d",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }
}
