use std::collections::HashMap;

use super::*;

/// An environment of `pairs` only.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn resolve(pairs: &[(&str, &str)]) -> Result<EngineHost, EngineError> {
    EngineHost::from_env(&env_of(pairs))
}

fn default_socket() -> EngineHost {
    EngineHost::Unix(DEFAULT_SOCKET.into())
}

/// Writes `name`'s meta.json as `docker context create` does, and its TLS files if asked.
fn write_context(config: &Path, name: &str, host: &str, tls: bool) -> PathBuf {
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta = config.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
        })
        .to_string(),
    )
    .unwrap();
    let tls_dir = config.join("contexts/tls").join(&id).join("docker");
    if tls {
        std::fs::create_dir_all(&tls_dir).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls_dir.join(f), "x").unwrap();
        }
    }
    tls_dir
}

#[test]
fn nothing_set_is_the_default_socket() {
    let home = tempfile::tempdir().unwrap();
    let host = resolve(&[("HOME", home.path().to_str().unwrap())]).unwrap();
    assert_eq!(host, default_socket());
    assert_eq!(host.to_string(), "unix:///var/run/docker.sock");
}

#[test]
fn docker_host_forms_and_default_ports() {
    let tcp = |addr: &str| EngineHost::Tcp {
        addr: addr.into(),
        tls: None,
    };
    assert_eq!(
        resolve(&[("DOCKER_HOST", "unix:///tmp/d.sock")]).unwrap(),
        EngineHost::Unix("/tmp/d.sock".into())
    );
    assert_eq!(
        resolve(&[("DOCKER_HOST", "tcp://127.0.0.1:2999/")]).unwrap(),
        tcp("127.0.0.1:2999")
    );
    assert_eq!(
        resolve(&[("DOCKER_HOST", "tcp://engine.local")]).unwrap(),
        tcp("engine.local:2375")
    );
    assert_eq!(
        resolve(&[("DOCKER_HOST", "tcp://[::1]:2999")]).unwrap(),
        tcp("[::1]:2999")
    );
    assert_eq!(
        resolve(&[("DOCKER_HOST", "tcp://::1")]).unwrap(),
        tcp("[::1]:2375")
    );
    // Empty is unset, as for the docker CLI.
    assert_eq!(resolve(&[("DOCKER_HOST", "")]).unwrap(), default_socket());
    for bad in [
        "npipe:////./pipe/docker",
        "127.0.0.1:2375",
        "unix://",
        "tcp://a/b",
    ] {
        let e = resolve(&[("DOCKER_HOST", bad)]).unwrap_err();
        assert!(matches!(e, EngineError::BadHost(..)), "{bad}: {e}");
        assert!(e.is_bad_input());
    }
}

#[test]
fn ssh_is_refused_in_one_line_that_says_what_to_do() {
    let e = resolve(&[("DOCKER_HOST", "ssh://me@build-box")]).unwrap_err();
    assert!(matches!(e, EngineError::Ssh(..)));
    assert!(e.is_bad_input());
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.starts_with(
            "DOCKER_HOST=\"ssh://me@build-box\": hale does not reach engines over ssh"
        ),
        "{text}"
    );
}

#[test]
fn tls_verify_takes_the_cert_path_files_and_port_2376() {
    let certs = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(certs.path().join(f), "x").unwrap();
    }
    let dir = certs.path().to_str().unwrap();
    let host = resolve(&[
        ("DOCKER_HOST", "tcp://engine.local"),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", dir),
    ])
    .unwrap();
    assert_eq!(
        host,
        EngineHost::Tcp {
            addr: "engine.local:2376".into(),
            tls: Some(TlsFiles::in_dir(certs.path())),
        }
    );
    // Without DOCKER_CERT_PATH the files are looked for in the Docker config folder.
    let config = tempfile::tempdir().unwrap();
    let e = resolve(&[
        ("DOCKER_HOST", "tcp://engine.local:2376"),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CONFIG", config.path().to_str().unwrap()),
    ])
    .unwrap_err();
    assert!(matches!(e, EngineError::TlsFiles { .. }), "{e}");
    assert!(e.is_bad_input());
    assert!(
        e.to_string()
            .contains(&config.path().join("ca.pem").display().to_string()),
        "{e}"
    );
    // DOCKER_TLS_VERIFY unset: plain tcp even when certificates are there.
    let plain = resolve(&[
        ("DOCKER_HOST", "tcp://engine.local:2375"),
        ("DOCKER_CERT_PATH", dir),
    ])
    .unwrap();
    assert!(matches!(plain, EngineHost::Tcp { tls: None, .. }));
}

#[test]
fn the_current_context_of_config_json_names_the_engine() {
    let config = tempfile::tempdir().unwrap();
    let c = config.path();
    std::fs::write(c.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
    write_context(c, "remote", "unix:///run/remote.sock", false);
    let tls_dir = write_context(c, "secure", "tcp://10.0.0.9:2376", true);
    let dir = c.to_str().unwrap();
    assert_eq!(
        resolve(&[("DOCKER_CONFIG", dir)]).unwrap(),
        EngineHost::Unix("/run/remote.sock".into())
    );
    // DOCKER_CONTEXT wins over currentContext; its TLS files come along.
    assert_eq!(
        resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "secure")]).unwrap(),
        EngineHost::Tcp {
            addr: "10.0.0.9:2376".into(),
            tls: Some(TlsFiles::in_dir(&tls_dir)),
        }
    );
    // DOCKER_HOST wins over both.
    assert_eq!(
        resolve(&[
            ("DOCKER_CONFIG", dir),
            ("DOCKER_CONTEXT", "secure"),
            ("DOCKER_HOST", "unix:///tmp/x.sock")
        ])
        .unwrap(),
        EngineHost::Unix("/tmp/x.sock".into())
    );
    // `default` is the default socket.
    assert_eq!(
        resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "default")]).unwrap(),
        default_socket()
    );
    // A context that is not there: the user's mistake, said in one line.
    let e = resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "gone")]).unwrap_err();
    assert!(matches!(e, EngineError::NoContext { .. }), "{e}");
    assert!(e.is_bad_input());
    assert!(e
        .to_string()
        .starts_with("docker context \"gone\" (DOCKER_CONTEXT) does not exist"));
}

#[test]
fn a_context_that_skips_tls_verification_is_refused() {
    let config = tempfile::tempdir().unwrap();
    let c = config.path();
    write_context(c, "lax", "tcp://10.0.0.9:2376", false);
    let id = hex::encode(sha2::Sha256::digest(b"lax"));
    let meta = c.join("contexts/meta").join(id).join("meta.json");
    let text = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("\"SkipTLSVerify\":false", "\"SkipTLSVerify\":true");
    std::fs::write(&meta, text).unwrap();
    let e = resolve(&[
        ("DOCKER_CONFIG", c.to_str().unwrap()),
        ("DOCKER_CONTEXT", "lax"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("skips TLS verification"), "{e}");
}

#[test]
fn a_recorded_engine_takes_tls_files_only_from_the_same_address() {
    let certs = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(certs.path().join(f), "x").unwrap();
    }
    let env = env_of(&[
        ("DOCKER_HOST", "tcp://engine.local:2376"),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", certs.path().to_str().unwrap()),
    ]);
    let same = EngineHost::recorded(Some("tcp://engine.local:2376"), &env).unwrap();
    assert!(matches!(same, EngineHost::Tcp { tls: Some(_), .. }));
    let other = EngineHost::recorded(Some("tcp://other.local:2375"), &env).unwrap();
    assert!(matches!(other, EngineHost::Tcp { tls: None, .. }));
    assert_eq!(EngineHost::recorded(None, &env).unwrap(), default_socket());
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let host = EngineHost::Unix(dir.path().join("none.sock"));
    let e = ping(&host).await.unwrap_err();
    assert!(matches!(e, EngineError::Unreachable { .. }));
    assert!(!e.is_bad_input());
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it signed, in `dir` as
/// `dockerd --tlsverify` and the docker CLI keep them; the server's half returned.
fn tls_material(dir: &Path) -> (rustls::pki_types::CertificateDer<'static>, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), client_key.serialize_pem()).unwrap();
    (
        ca.der().clone(),
        server.der().to_vec(),
        server_key.serialize_der(),
    )
}

#[tokio::test]
async fn a_tls_engine_is_pinged_with_the_client_certificate() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let certs = tempfile::tempdir().unwrap();
    let (ca, server_cert, server_key) = tls_material(certs.path());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    // The server insists on a client certificate its CA signed, as `dockerd --tlsverify` does.
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server_cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut buf = [0u8; 1024];
            let _ = tls.read(&mut buf).await;
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                .await;
            let _ = tls.shutdown().await;
        }
    });
    let env = env_of(&[
        ("DOCKER_HOST", &format!("tcp://{addr}")),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", certs.path().to_str().unwrap()),
    ]);
    let host = EngineHost::from_env(&env).unwrap();
    ping(&host).await.unwrap();
    // Without the client certificate the engine does not answer.
    let plain = EngineHost::Tcp {
        addr: addr.to_string(),
        tls: None,
    };
    assert!(ping(&plain).await.is_err());
}
