//! hale's own base layer, the same bytes on every machine: CA certificates from the Mozilla
//! bundle pinned by the `webpki-root-certs` crate (never the host's files), `/etc/passwd` and
//! `/etc/group` with `nonroot` 65532, `/tmp` mode 1777. Time zones come from Go's embedded
//! tzdata (the binary is built with `-tags timetzdata`), so the layer carries none.
use base64::Engine as _;

use super::layer::{self, Entry, Layer};

/// Where the certificates go, and what `SSL_CERT_FILE` names (as in distroless).
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The user every hale image runs as.
pub const NONROOT_UID: u32 = 65532;

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// The certificates as one PEM bundle, in the crate's (Mozilla's) order.
pub fn ca_bundle() -> Vec<u8> {
    pem(webpki_root_certs::TLS_SERVER_ROOT_CERTS).into_bytes()
}

/// Certificates as PEM, 64 characters a line.
pub fn pem(certificates: &[rustls::pki_types::CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for certificate in certificates {
        let b64 = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// The base layer's entries.
pub fn entries() -> Vec<Entry> {
    let dir = |path: &str, mode| Entry::Dir {
        path: path.into(),
        mode,
    };
    let file = |path: &str, data: Vec<u8>| Entry::File {
        path: path.into(),
        mode: 0o644,
        data,
    };
    vec![
        dir("etc", 0o755),
        dir("etc/ssl", 0o755),
        dir("etc/ssl/certs", 0o755),
        file(CA_BUNDLE.trim_start_matches('/'), ca_bundle()),
        file("etc/passwd", PASSWD.into()),
        file("etc/group", GROUP.into()),
        dir("home", 0o755),
        // Owned by root like everything else; the service writes to /tmp, not its home.
        dir("home/nonroot", 0o755),
        dir("tmp", 0o1777),
    ]
}

/// The base layer with every mtime at `mtime`.
pub fn layer(mtime: u64) -> Layer {
    // Every path above is short and plain.
    layer::build(entries(), mtime).unwrap_or_else(|e| unreachable!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_layer_is_the_same_bytes_every_time_and_holds_the_pinned_bundle() {
        assert_eq!(layer(0).digest, layer(0).digest);
        let pem = String::from_utf8(ca_bundle()).unwrap();
        assert!(pem.matches("BEGIN CERTIFICATE").count() > 100);
        assert!(PASSWD.contains(":65532:65532:"));
    }
}
