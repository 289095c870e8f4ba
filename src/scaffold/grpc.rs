//! The gRPC variant's generated Go code (`hale new --grpc`): the one part of `NAME.pb.go` that
//! is not text a template can hold, the serialized file descriptor, computed from the rendered
//! `.proto` exactly as protoc-gen-go writes it, so the committed code equals what the
//! project's own generator (`make proto`) produces.
use prost::Message as _;

use super::{refuse, ScaffoldError};

/// The template of the service's API definition; the other gRPC templates need its descriptor.
pub const PROTO_TEMPLATE: &str = "api/_name_/v1/_name_.proto.tera";

/// The `.proto`'s path as protoc-gen-go sees it: relative to `api/`, the generator's import path.
pub fn proto_path(name: &str) -> String {
    format!("{name}/v1/{name}.proto")
}

/// One in-memory `.proto` for protox.
struct OneFile {
    path: String,
    source: String,
}

impl protox::file::FileResolver for OneFile {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if name == self.path {
            protox::file::File::from_source(name, &self.source)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// Compile one `.proto` source (no imports) into its file descriptor.
pub fn file_descriptor(
    path: &str,
    source: &str,
) -> Result<prost_types::FileDescriptorProto, ScaffoldError> {
    let mut compiler = protox::Compiler::with_file_resolver(OneFile {
        path: path.to_string(),
        source: source.to_string(),
    });
    compiler.include_source_info(false).include_imports(false);
    compiler
        .open_file(path)
        .map_err(|e| refuse!(Templates, "{path}: {e}"))?;
    compiler
        .file_descriptor_set()
        .file
        .into_iter()
        .find(|f| f.name() == path)
        .ok_or_else(|| refuse!(Templates, "{path}: protox returned no descriptor"))
}

/// The body of protoc-gen-go's `const file_..._rawDesc = "" +`: the descriptor without source
/// information, serialized, split after every 0x0a byte, each piece quoted as Go's `%q` does
/// and indented as gofmt leaves it.
pub fn go_raw_descriptor(descriptor: &prost_types::FileDescriptorProto) -> String {
    let mut descriptor = descriptor.clone();
    descriptor.source_code_info = None;
    let bytes = descriptor.encode_to_vec();
    let mut lines = Vec::new();
    let mut rest = bytes.as_slice();
    loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                lines.push(go_quote(&rest[..=i]));
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(go_quote(rest));
                break;
            }
        }
    }
    lines
        .iter()
        .map(|l| format!("\t{l}"))
        .collect::<Vec<_>>()
        .join(" +\n")
}

/// Go's `strconv.Quote` of bytes: printable characters as they are, the C escapes, `\xHH` for
/// other control bytes and for bytes that are not UTF-8.
fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => (
                std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
                e.error_len().unwrap_or(rest.len() - e.valid_up_to()),
            ),
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        let consumed = valid.len();
        for b in &rest[consumed..consumed + bad] {
            out.push_str(&format!("\\x{b:02x}"));
        }
        rest = &rest[consumed + bad..];
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote(b"\n"), r#""\n""#);
        assert_eq!(
            go_quote(b"\x14a/v1/a.proto\x12\x07a\"\\\x7f\xc8\x01"),
            r#""\x14a/v1/a.proto\x12\aa\"\\\x7f\xc8\x01""#
        );
    }

    #[test]
    fn the_descriptor_carries_json_names_as_protoc_gives_them_to_plugins() {
        let source =
            "syntax = \"proto3\";\npackage a.v1;\nmessage M { int64 created_unix_ms = 1; }\n";
        let fd = file_descriptor("a/v1/a.proto", source).unwrap();
        assert_eq!(fd.message_type[0].field[0].json_name(), "createdUnixMs");
        let raw = go_raw_descriptor(&fd);
        assert!(raw.starts_with("\t\"\\n\" +\n\t\"\\fa/v1/a.proto"), "{raw}");
    }
}
