//! TLS for `saasql serve` (`--tls-cert`, `--tls-key`): one certificate and
//! key (PEM files) for both protocols, rustls with the ring provider (TLS 1.2
//! and 1.3, rustls' safe defaults).
//!
//! Postgres clients ask for TLS in the protocol (SSLRequest, which pgwire
//! answers with this acceptor); plain connections are then refused at
//! startup ([`super::pg`]). Flight SQL clients speak gRPC over TLS from the
//! first byte: [`incoming`] does each handshake in its own task and hands
//! tonic the finished connections.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::server::{Connected, TcpConnectInfo};

use saasql_common::error::{CliError, CliResult};

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's TLS set-up, read once at start.
#[derive(Clone)]
pub struct Tls {
    /// For Postgres clients (ALPN `postgresql`, as Postgres 17 offers it).
    pub postgres: TlsAcceptor,
    /// For Flight SQL clients (ALPN `h2`, which gRPC requires).
    pub flight: TlsAcceptor,
    /// The certificate chain as PEM, for SCRAM channel binding.
    pub cert_pem: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(<certificate and key>)")
    }
}

/// Reads `--tls-cert` (a PEM chain, the server's certificate first) and
/// `--tls-key` (a PEM private key: PKCS#8, PKCS#1 or SEC1). Errors name the
/// flag and file, never the key's contents.
pub fn load(cert: &Path, key: &Path) -> CliResult<Tls> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| CliError::usage(format!("--tls-cert {}: {e}", cert.display())))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            CliError::usage(format!(
                "--tls-cert {}: not a PEM certificate chain: {e}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(CliError::usage(format!(
            "--tls-cert {}: no certificate in it (expected PEM 'BEGIN CERTIFICATE' blocks)",
            cert.display()
        )));
    }
    let key_pem = std::fs::read(key)
        .map_err(|e| CliError::usage(format!("--tls-key {}: {e}", key.display())))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        CliError::usage(format!(
            "--tls-key {}: no private key in it (expected a PEM 'PRIVATE KEY', \
             'RSA PRIVATE KEY' or 'EC PRIVATE KEY' block)",
            key.display()
        ))
    })?;
    let config = |alpn: &[u8]| -> CliResult<TlsAcceptor> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| CliError::usage(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), private.clone_key())
            .map_err(|e| {
                CliError::usage(format!(
                    "--tls-key {} does not fit --tls-cert {}: {e}",
                    key.display(),
                    cert.display()
                ))
            })?;
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    };
    Ok(Tls {
        postgres: config(b"postgresql")?,
        flight: config(b"h2")?,
        cert_pem: Arc::new(cert_pem),
    })
}

/// A Flight SQL client's connection after its TLS handshake.
pub struct TlsConnection {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    info: TcpConnectInfo,
}

impl Connected for TlsConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The connections of `listener` after their TLS handshakes. Each
/// handshake runs in its own task with [`HANDSHAKE_TIMEOUT`], so a slow or
/// silent client holds up no one; failed handshakes are logged at info.
pub fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> impl Stream<Item = io::Result<TlsConnection>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<TlsConnection>(64);
    tokio::spawn(async move {
        loop {
            let (socket, peer) = super::accept(&listener).await;
            if tx.is_closed() {
                return;
            }
            let _ = socket.set_nodelay(true);
            let info = TcpConnectInfo {
                local_addr: socket.local_addr().ok(),
                remote_addr: Some(peer),
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(TlsConnection { stream, info }).await;
                    }
                    Ok(Err(e)) => handshake_failed(peer, &e.to_string()),
                    Err(_) => handshake_failed(peer, "timed out"),
                }
            });
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|connection| (Ok(connection), rx))
    })
}

fn handshake_failed(peer: SocketAddr, why: &str) {
    tracing::info!("refused Flight SQL connection from {peer}: TLS handshake failed: {why}");
}
