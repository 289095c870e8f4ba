//! SPDX 2.3 JSON SBOMs from a Go binary's build information: one package per module (main
//! module and every dependency) with its version and a `pkg:golang` purl, the toolchain as a
//! package, and DESCRIBES / DEPENDS_ON relationships. Deterministic: same binary, same bytes.
use serde_json::{json, Value};

use super::gobuild::{BuildInfo, Module};

/// The SPDX document for the image `name` built for `platform`. `binary_digest` makes the
/// namespace unique per binary; `created` is RFC 3339 (UTC, seconds).
pub fn document(
    name: &str,
    version: &str,
    platform: &str,
    info: &BuildInfo,
    binary_digest: &str,
    created: &str,
) -> Value {
    let main = info.main.clone().unwrap_or(Module {
        path: info.package.clone(),
        version: String::new(),
        sum: None,
    });
    // `(devel)` is what Go records for a main module built from a checkout.
    let main_version = if main.version.is_empty() || main.version == "(devel)" {
        version.to_string()
    } else {
        main.version.clone()
    };
    let mut packages = vec![package(
        "SPDXRef-Package-main",
        &main.path,
        &main_version,
        None,
    )];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Package-main",
    })];
    let go = info.go_version.trim_start_matches("go");
    if !go.is_empty() {
        packages.push(json!({
            "name": "stdlib",
            "SPDXID": "SPDXRef-Package-stdlib",
            "versionInfo": go,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [purl(&format!("pkg:golang/stdlib@{go}"))],
        }));
        relationships.push(depends("SPDXRef-Package-stdlib"));
    }
    for (i, dep) in info.deps.iter().enumerate() {
        let id = format!("SPDXRef-Package-dep-{i}");
        packages.push(package(&id, &dep.path, &dep.version, dep.sum.as_deref()));
        relationships.push(depends(&id));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name}-{version}-{}", platform.replace('/', "-")),
        "documentNamespace": format!(
            "https://spdx.hale.invalid/{name}/{}",
            binary_digest.trim_start_matches("sha256:")
        ),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: hale-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn package(id: &str, path: &str, version: &str, sum: Option<&str>) -> Value {
    let mut p = json!({
        "name": path,
        "SPDXID": id,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [purl(&format!("pkg:golang/{path}@{version}"))],
    });
    if let Some(sum) = sum {
        p["comment"] = Value::String(format!("go.sum {sum}"));
    }
    p
}

fn purl(locator: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": locator,
    })
}

fn depends(id: &str) -> Value {
    json!({
        "spdxElementId": "SPDXRef-Package-main",
        "relationshipType": "DEPENDS_ON",
        "relatedSpdxElement": id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::gobuild::parse_build_info;

    #[test]
    fn every_module_is_a_package_with_a_purl_and_a_relationship() {
        let info = parse_build_info(
            "x: go1.26.8\n\tpath\tex.org/o/cmd/o\n\tmod\tex.org/o\t(devel)\t\n\tdep\tgithub.com/a/b\tv1.0.0\th1:z=\n",
        );
        let doc = document(
            "o",
            "1.2.3",
            "linux/amd64",
            &info,
            "sha256:ab",
            "1970-01-01T00:00:00Z",
        );
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        let pkgs = doc["packages"].as_array().unwrap();
        assert_eq!(pkgs.len(), 3);
        assert_eq!(pkgs[0]["versionInfo"], "1.2.3");
        assert_eq!(
            pkgs[2]["externalRefs"][0]["referenceLocator"],
            "pkg:golang/github.com/a/b@v1.0.0"
        );
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 3);
    }
}
