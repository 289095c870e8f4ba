//! `hale load --grpc METHOD` without `--proto`: the method's descriptors asked of the target's
//! server reflection (`grpc.reflection.v1`, then `v1alpha` for older servers), once, before
//! the run. Each request is its own stream (one request, the half-close, the answers), which
//! every reflection server answers with the file and the dependencies it has not sent on that
//! stream, that is all of them; a dependency still missing is asked for by file name.
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorProto;

use super::{frame, CallError, Connection};
use crate::load::tls::TlsClient;
use crate::load::Endpoint;
use crate::load::ErrorKind;

/// The two versions of the reflection service, newest first.
const SERVICES: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Largest answer read: far above any service's descriptors.
const LIMIT: usize = 16 << 20;

/// Most files fetched one by one after the first answer.
const MAX_FETCHES: usize = 64;

/// Why the reflection did not give the method's descriptors.
#[derive(Debug, thiserror::Error)]
pub enum ReflectionError {
    /// The target answers gRPC but has no reflection service: the user's to fix.
    #[error(
        "{target} does not serve gRPC server reflection (neither grpc.reflection.v1 nor v1alpha): \
         pass --proto FILE, or turn reflection on in the service (GRPC_REFLECTION=true in a \
         service made by `hale new --grpc`)"
    )]
    NotServed { target: String },
    /// Reflection answered that it does not know the service: the user's to fix.
    #[error("--grpc: {target}'s reflection does not know service {service:?} (it lists {known})")]
    NoService {
        target: String,
        service: String,
        known: String,
    },
    /// No answer: the target is down, not gRPC, or its TLS failed.
    #[error("gRPC reflection from {target}: {detail}")]
    Failed { target: String, detail: String },
}

impl ReflectionError {
    /// Whether the user can fix it by changing what they asked for (exit 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ReflectionError::Failed { .. })
    }
}

/// `grpc.reflection.v1.ServerReflectionRequest`, the fields hale asks with.
#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionRequest {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(string, optional, tag = "3")]
    file_by_filename: Option<String>,
    #[prost(string, optional, tag = "4")]
    file_containing_symbol: Option<String>,
    #[prost(string, optional, tag = "7")]
    list_services: Option<String>,
}

/// `grpc.reflection.v1.ServerReflectionResponse`, the fields hale reads.
#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionResponse {
    #[prost(message, optional, tag = "4")]
    file_descriptor_response: Option<FileDescriptorResponse>,
    #[prost(message, optional, tag = "6")]
    list_services_response: Option<ListServiceResponse>,
    #[prost(message, optional, tag = "7")]
    error_response: Option<ErrorResponse>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileDescriptorResponse {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file_descriptor_proto: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListServiceResponse {
    #[prost(message, repeated, tag = "1")]
    service: Vec<ServiceResponse>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ServiceResponse {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The descriptors of `service` and everything it imports, from `endpoint`'s reflection.
pub async fn descriptors(
    endpoint: &Endpoint,
    tls: Option<&TlsClient>,
    service: &str,
) -> Result<DescriptorPool, ReflectionError> {
    let target = endpoint.authority.clone();
    let failed = |detail: String| ReflectionError::Failed {
        target: target.clone(),
        detail,
    };
    let tls = match (&endpoint.tls, tls) {
        (None, _) => None,
        (Some(name), Some(client)) => Some((client, name)),
        (Some(_), None) => return Err(failed("no TLS client for an HTTPS target".into())),
    };
    let mut connection = Connection::open(endpoint.addr, tls).await.map_err(|kind| {
        failed(match kind {
            ErrorKind::Connect => "cannot connect, or no HTTP/2 answered".to_string(),
            ErrorKind::Tls => "the TLS handshake failed (a certificate not trusted: pass \
                                   --cacert FILE; or no ALPN h2)"
                .to_string(),
            _ => "no HTTP/2 after the TLS handshake".to_string(),
        })
    })?;
    let mut asker = Asker {
        connection: &mut connection,
        authority: &endpoint.authority,
        path: SERVICES[0],
    };
    let first = ReflectionRequest {
        file_containing_symbol: Some(service.to_string()),
        ..Default::default()
    };
    let answer = match asker.ask(&first).await.map_err(&failed)? {
        Asked::Answer(a) => a,
        Asked::Unimplemented => {
            asker.path = SERVICES[1];
            match asker.ask(&first).await.map_err(&failed)? {
                Asked::Answer(a) => a,
                Asked::Unimplemented => return Err(ReflectionError::NotServed { target }),
            }
        }
    };
    if answer.error_response.is_some() {
        let list = ReflectionRequest {
            list_services: Some(String::new()),
            ..Default::default()
        };
        let known = match asker.ask(&list).await {
            Ok(Asked::Answer(ReflectionResponse {
                list_services_response: Some(list),
                ..
            })) => list
                .service
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        return Err(ReflectionError::NoService {
            target,
            service: service.to_string(),
            known: if known.is_empty() {
                "no services".into()
            } else {
                known
            },
        });
    }
    let mut files = BTreeMap::new();
    add_files(&mut files, answer).map_err(&failed)?;
    // A dependency the answers did not carry (a server that leaves out well-known types, say)
    // is asked for by name.
    for _ in 0..MAX_FETCHES {
        let Some(missing) = missing_dependency(&files) else {
            break;
        };
        let request = ReflectionRequest {
            file_by_filename: Some(missing.clone()),
            ..Default::default()
        };
        match asker.ask(&request).await.map_err(&failed)? {
            Asked::Answer(a) if a.error_response.is_none() => {
                add_files(&mut files, a).map_err(&failed)?;
            }
            _ => {
                return Err(failed(format!(
                    "it does not give {missing}, which is imported"
                )))
            }
        }
        if !files.contains_key(&missing) {
            return Err(failed(format!(
                "it does not give {missing}, which is imported"
            )));
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files.into_values())
        .map_err(|e| failed(format!("its descriptors do not build: {e}")))?;
    Ok(pool)
}

/// One reflection stream at a time on one connection.
struct Asker<'a> {
    connection: &'a mut Connection,
    authority: &'a str,
    path: &'static str,
}

enum Asked {
    Answer(ReflectionResponse),
    /// The server has no such reflection service (status 12).
    Unimplemented,
}

impl Asker<'_> {
    async fn ask(&mut self, request: &ReflectionRequest) -> Result<Asked, String> {
        let (code, message, answers) = self
            .connection
            .collect(
                self.authority,
                self.path,
                frame(&request.encode_to_vec()),
                LIMIT,
            )
            .await
            .map_err(|e| match e {
                CallError::Stale => "the connection closed before the call".to_string(),
                CallError::Broken => "the connection broke, or the answer is not gRPC".to_string(),
            })?;
        match code {
            0 => {}
            12 => return Ok(Asked::Unimplemented),
            _ => return Err(format!("status {code} {message}").trim_end().to_string()),
        }
        let first: &Bytes = answers
            .first()
            .ok_or_else(|| "an empty answer".to_string())?;
        ReflectionResponse::decode(first.clone())
            .map(Asked::Answer)
            .map_err(|e| format!("an answer that is not a ServerReflectionResponse: {e}"))
    }
}

fn add_files(
    files: &mut BTreeMap<String, FileDescriptorProto>,
    answer: ReflectionResponse,
) -> Result<(), String> {
    for bytes in answer
        .file_descriptor_response
        .map(|r| r.file_descriptor_proto)
        .unwrap_or_default()
    {
        let file = FileDescriptorProto::decode(&bytes[..])
            .map_err(|e| format!("a file descriptor that does not decode: {e}"))?;
        files.insert(file.name().to_string(), file);
    }
    Ok(())
}

fn missing_dependency(files: &BTreeMap<String, FileDescriptorProto>) -> Option<String> {
    let have: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    files
        .values()
        .flat_map(|f| f.dependency.iter())
        .find(|d| !have.contains(d.as_str()))
        .cloned()
}
