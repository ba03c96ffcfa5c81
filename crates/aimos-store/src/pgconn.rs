//! Connecting to PostgreSQL as libpq does, for the settings a store URL carries.
//!
//! - `sslmode` in the URL: `disable`; `allow` and `prefer` (the default: TLS when the server
//!   offers it, unverified); `require` (TLS or no connection, unverified unless `sslrootcert`
//!   is given, then as `verify-ca`); `verify-ca` (the server's certificate chains to
//!   `sslrootcert`); `verify-full` (and names the host). TLS is rustls's, with the ring provider.
//! - `sslrootcert`: a PEM file of trusted certificates (default `~/.postgresql/root.crt` when it
//!   exists).
//! - The password: the URL's, else `PGPASSWORD`, else the first matching line of the passfile
//!   (`PGPASSFILE`, default `~/.pgpass`; ignored, with a warning, when others may read it).

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::Client;
use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// No TLS at all.
    Off,
    /// Encrypted, certificate not checked (libpq's `prefer` and `require`).
    None,
    /// The certificate chains to a trusted root.
    Chain,
    /// The certificate chains to a trusted root and names the host.
    Full,
}

/// A parsed store URL, ready to open connections.
pub(crate) struct Connector {
    pub config: postgres::Config,
    tls: Option<MakeRustls>,
    #[cfg(test)]
    verify: Verify,
}

impl Connector {
    /// Reads `url`; the error says what to write instead.
    pub fn parse(url: &str) -> Result<Connector, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let (mut mode, mut root) = (None::<String>, None::<PathBuf>);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = Some(decode(value)?),
                "sslrootcert" => root = Some(PathBuf::from(decode(value)?)),
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                    return Err(format!(
                        "`{key}` is not supported: aimos does not present client certificates"
                    ));
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt =
            if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut config: postgres::Config = rebuilt.parse().map_err(|err: postgres::Error| {
            format!(
                "the URL is not a valid PostgreSQL URL ({err}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        })?;
        let mode = mode.as_deref().unwrap_or("prefer");
        let verify = match mode {
            "disable" => Verify::Off,
            "allow" | "prefer" => Verify::None,
            "require" if root.is_some() => Verify::Chain,
            "require" => Verify::None,
            "verify-ca" => Verify::Chain,
            "verify-full" => Verify::Full,
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        config.ssl_mode(match mode {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let root = root.or_else(|| {
            let default = home()?.join(".postgresql/root.crt");
            default.exists().then_some(default)
        });
        let tls = match verify {
            Verify::Off => None,
            _ => Some(MakeRustls(Arc::new(client_config(verify, root.as_deref())?))),
        };
        if config.get_password().is_none()
            && let Some(password) = password(&config)
        {
            config.password(password);
        }
        Ok(Connector {
            config,
            tls,
            #[cfg(test)]
            verify,
        })
    }

    /// A new connection.
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(postgres::NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Percent-decoding of a URL query value.
fn decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("`{value}` has a bad %-escape"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{value}` is not UTF-8 once decoded"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(verify: Verify, root: Option<&Path>) -> Result<ClientConfig, String> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Off | Verify::None => Arc::new(Unverified(algorithms)),
        Verify::Chain | Verify::Full => {
            let Some(root) = root else {
                return Err(
                    "this sslmode checks the server's certificate: name the trusted root in the URL with sslrootcert=FILE (a PEM file), or put it at ~/.postgresql/root.crt"
                        .into(),
                );
            };
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(root)
                .map_err(|err| format!("sslrootcert {}: {err}", root.display()))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|err| format!("sslrootcert {}: {err}", root.display()))?;
                roots
                    .add(certificate)
                    .map_err(|err| format!("sslrootcert {}: {err}", root.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {} holds no certificate", root.display()));
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|err| format!("TLS: {err}"))?;
            if verify == Verify::Full { webpki } else { Arc::new(ChainOnly(webpki)) }
        }
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// libpq's `prefer` and `require`: encrypted, whoever the server is.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The password for `config` from `PGPASSWORD` or the passfile.
fn password(config: &postgres::Config) -> Option<String> {
    if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(home()?.join(".pgpass")))?;
    let text = std::fs::read_to_string(&file).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                "the password file is ignored: others may read it (chmod 600 it)"
            );
            return None;
        }
    }
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        Some(postgres::config::Host::Unix(_)) | None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    passfile_match(&text, [&host, &port, database, user])
}

/// The password of the first line of a passfile whose fields (with `*` for any) match.
fn passfile_match(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_passfile(line);
        let [host, port, database, user, password] = fields.as_slice() else { continue };
        let matches = [host, port, database, user]
            .iter()
            .zip(wanted)
            .all(|(field, want)| field.as_str() == "*" || field.as_str() == want);
        if matches {
            return Some(password.clone());
        }
    }
    None
}

/// A passfile line's fields: `:` separates them, `\:` and `\\` escape.
fn split_passfile(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

/// tokio-postgres's TLS connector over rustls.
#[derive(Clone)]
struct MakeRustls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        let name = ServerName::try_from(domain.to_owned())?;
        Ok(RustlsConnect { config: Arc::clone(&self.0), name })
    }
}

struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

type Handshake<S> = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(RustlsStream(connector.connect(self.name, stream).await?))
        })
    }
}

struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_settings_come_out_of_the_url() {
        let connector = Connector::parse(
            "postgres://u:p@db.internal:6543/app?sslmode=disable&application_name=x",
        )
        .expect("parses");
        assert_eq!(connector.verify, Verify::Off);
        assert_eq!(connector.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(connector.config.get_application_name(), Some("x"));
        let connector = Connector::parse("postgres://u:p@h/app").expect("parses");
        assert_eq!(
            (connector.verify, connector.config.get_ssl_mode()),
            (Verify::None, SslMode::Prefer)
        );
        let connector = Connector::parse("postgres://u:p@h/app?sslmode=require").expect("parses");
        assert_eq!(
            (connector.verify, connector.config.get_ssl_mode()),
            (Verify::None, SslMode::Require)
        );
        let err = Connector::parse(
            "postgres://u:p@h/app?sslmode=verify-full&sslrootcert=%2Fnone%2Fca.pem",
        )
        .err()
        .expect("no such file");
        assert!(err.contains("sslrootcert /none/ca.pem"), "{err}");
        let err = Connector::parse("postgres://u:p@h/app?sslmode=sometimes").err().expect("mode");
        assert!(err.contains("not one of disable"), "{err}");
        let err = Connector::parse("postgres://u:p@h/app?sslcert=c.pem").err().expect("cert");
        assert!(err.contains("client certificates"), "{err}");
    }

    #[test]
    fn passfile_lines_match_field_by_field() {
        let text = "# comment\nother:5432:*:*:nope\ndb\\:1:*:app:u:pa\\:ss\n*:*:*:*:fallback\n";
        assert_eq!(passfile_match(text, ["db:1", "5432", "app", "u"]).as_deref(), Some("pa:ss"));
        assert_eq!(
            passfile_match(text, ["db:1", "5432", "other", "u"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(passfile_match("h:1:d:u\n", ["h", "1", "d", "u"]), None, "four fields");
    }
}
