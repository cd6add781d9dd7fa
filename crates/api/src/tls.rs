//! TLS for the API over TCP: the daemon's certificate and key, and client certificates
//! required and verified against a CA (Docker's `--tlsverify`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// What accepts TLS connections for the API.
pub type Acceptor = tokio_rustls::TlsAcceptor;

/// Loading the certificates or key, or building the configuration, failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not load {what} {path}: {cause}")]
    Load {
        what: &'static str,
        path: String,
        cause: String,
    },
    #[error("tls configuration: {0}")]
    Config(String),
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |cause: String| TlsError::Load {
        what,
        path: path.display().to_string(),
        cause,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(certs)
}

/// A server configuration that demands a client certificate signed by `ca`.
pub fn acceptor(ca: &Path, cert: &Path, key: &Path) -> Result<Acceptor, TlsError> {
    let chain = certs("server certificate", cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Load {
        what: "server key",
        path: key.display().to_string(),
        cause: e.to_string(),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs("CA certificate", ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Config(format!("CA certificate {}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
