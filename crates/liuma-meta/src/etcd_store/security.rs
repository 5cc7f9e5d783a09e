//! TLS and authentication of the etcd client, and what to say when they fail.
//!
//! - **TLS** goes through tonic's rustls client (ring provider, no OpenSSL): etcd's server
//!   certificate must chain to the CA given in [`EtcdSecurity::ca_pem`] (the system trust
//!   store is not used: an etcd is served by a private CA), and a client certificate is
//!   presented when etcd runs with `--client-cert-auth`.
//! - **Authentication** with a user and password: etcd hands out a token that expires
//!   (`--auth-token-ttl`, 5 minutes by default, reset by each use of a simple token) and is
//!   forgotten when etcd restarts. The client re-authenticates when a request is refused
//!   with an invalid token (etcd-client's auto refresh, plus [`Reauth`] for the refusals
//!   it does not recognise: a stale auth revision, and the "permission denied" that etcd
//!   answers a watch created with an expired token). An established watch stream or
//!   keep-alive stream is not affected by the expiry (etcd checks the token when a watch is
//!   created, not per event).
//! - **Diagnosis**: a failure to connect is turned into [`Error::Access`] with an
//!   [`AccessProblem`] when its cause says what is wrong (untrusted server certificate,
//!   client certificate refused, wrong password, TLS spoken to a plain port or the
//!   reverse), so that a node stops at start with a sentence, not a transport error.

use std::time::Duration;

use etcd_client::{Certificate, Client, Identity, TlsOptions};

use super::retry;
use crate::error::{AccessProblem, Error};

/// TLS and authentication settings of the etcd client (part of
/// [`EtcdConfig`](super::EtcdConfig)). The default is plain HTTP without authentication.
#[derive(Clone, Default)]
pub struct EtcdSecurity {
    /// PEM bundle of the CA(s) etcd's server certificate must chain to. Needed for `https://`
    /// endpoints.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM certificate chain and PEM private key this client presents (etcd's
    /// `--client-cert-auth`).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// User name and password for etcd's authentication (`etcdctl auth enable`).
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdSecurity {
    /// Never shows the password or the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSecurity")
            .field("ca", &self.ca_pem.is_some())
            .field("client_cert", &self.identity.is_some())
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl EtcdSecurity {
    /// True when the client speaks TLS (a CA or a client certificate is set).
    pub fn tls(&self) -> bool {
        self.ca_pem.is_some() || self.identity.is_some()
    }

    /// tonic's TLS settings, when TLS is on.
    pub(crate) fn tls_options(&self) -> Option<TlsOptions> {
        if !self.tls() {
            return None;
        }
        let mut tls = TlsOptions::new();
        if let Some(ca) = &self.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Some(tls)
    }
}

/// Re-authenticates with etcd when a refusal shows the token went stale. Cheap to clone.
#[derive(Clone)]
pub(super) struct Reauth {
    client: Client,
    enabled: bool,
    timeout: Duration,
}

impl Reauth {
    pub(super) fn new(client: Client, security: &EtcdSecurity, timeout: Duration) -> Reauth {
        Reauth {
            client,
            enabled: security.user.is_some(),
            timeout,
        }
    }

    /// Whether `e` is a refusal a fresh token may cure (and there are credentials to get one).
    pub(super) fn applies(&self, e: &etcd_client::Error) -> bool {
        self.enabled && is_stale_token(e)
    }

    /// Whether a watch refused with `reason` may succeed with a fresh token.
    pub(super) fn applies_to_watch(&self, reason: &str) -> bool {
        self.enabled && reason.contains("permission denied")
    }

    /// Authenticates again; false when that failed (the caller then reports the refusal).
    pub(super) async fn refresh(&self) -> bool {
        match tokio::time::timeout(self.timeout, self.client.refresh_token()).await {
            Ok(Ok(())) => {
                tracing::debug!("etcd auth token refreshed");
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "re-authenticating with etcd failed");
                false
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "re-authenticating with etcd timed out");
                false
            }
        }
    }
}

/// etcd's refusals of a stale token: invalid (expired, or etcd restarted and forgot it) or
/// issued before the last change of users and roles.
fn is_stale_token(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            s.code() == tonic::Code::Unauthenticated
                || s.message().contains("invalid auth token")
                || s.message().contains("revision of auth store is old")
        }
        _ => false,
    }
}

/// The whole cause chain of an error as one line, for matching and for messages.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// How a connection closed under the client shows in the error chain: as
/// text, or as the `Debug` of an I/O error kind when the gRPC status only
/// formats its source (`hyper::Error(Io, Kind(ConnectionReset))`).
const CLOSED: [&str; 9] = [
    "frame with invalid size",
    "h2 protocol error",
    "connection reset",
    "broken pipe",
    "unexpected eof",
    "connection closed",
    "Kind(ConnectionReset)",
    "Kind(BrokenPipe)",
    "Kind(UnexpectedEof)",
];

/// What a failed connection says about its cause, if it says something definite.
pub(super) fn diagnose(e: &(dyn std::error::Error + 'static), tls: bool) -> Option<AccessProblem> {
    let text = chain(e);
    let t = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(&n.to_ascii_lowercase()));
    if has(&[
        "invalid peer certificate",
        "UnknownIssuer",
        "NotValidForName",
        "certificate verify failed",
    ]) {
        Some(AccessProblem::UntrustedServer)
    } else if has(&[
        "alert: CertificateRequired",
        "alert: BadCertificate",
        "alert: UnknownCA",
        "alert: CertificateUnknown",
        "alert: HandshakeFailure",
    ]) {
        Some(AccessProblem::ClientCertRefused)
    } else if has(&["authentication failed"]) {
        Some(AccessProblem::AuthFailed)
    } else if has(&["user name is empty", "user name not found"]) {
        Some(AccessProblem::UserRequired)
    } else if has(&["permission denied"]) {
        Some(AccessProblem::PermissionDenied)
    } else if tls && has(&["InvalidContentType", "corrupt message", "invalid message"]) {
        Some(AccessProblem::TlsToPlain)
    } else if tls && has(&CLOSED) {
        // With TLS 1.3 the server checks the client certificate after the client has
        // finished its handshake; its alert is then often lost behind the closed
        // connection, and all the client sees is the connection closing at once.
        Some(AccessProblem::ClientCertRefused)
    } else if !tls && has(&CLOSED) {
        // etcd's TLS port answers the HTTP/2 preface of a plain client by closing:
        // never what a plain etcd does.
        Some(AccessProblem::PlainToTls)
    } else {
        None
    }
}

/// `err` (a failed connect) as [`Error::Access`] when its cause is definite, else unchanged.
pub(super) fn explain(err: Error, tls: bool) -> Error {
    let problem = match &err {
        Error::Unavailable { source, .. } | Error::Rejected { source, .. } => {
            diagnose(source.as_ref(), tls)
        }
        _ => None,
    };
    match (problem, err) {
        (Some(problem), Error::Unavailable { source, .. } | Error::Rejected { source, .. }) => {
            Error::Access {
                backend: super::BACKEND,
                problem,
                detail: chain(source.as_ref()),
            }
        }
        (_, err) => err,
    }
}

/// [`Error::Unavailable`] or [`Error::Rejected`] for a failed `Client::connect` (which, with
/// a user, authenticates at once).
pub(super) fn connect_error(e: etcd_client::Error) -> Error {
    match retry::classify(&e) {
        retry::Class::Final => retry::rejected(e),
        _ => retry::unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    fn diag(outer: &'static str, inner: &'static str, tls: bool) -> Option<AccessProblem> {
        diagnose(&E(outer, Some(Box::new(E(inner, None)))), tls)
    }

    #[test]
    fn causes_are_recognised_anywhere_in_the_chain() {
        assert_eq!(
            diag(
                "transport error",
                "invalid peer certificate: UnknownIssuer",
                true
            ),
            Some(AccessProblem::UntrustedServer)
        );
        assert_eq!(
            diag(
                "status: Unknown",
                "received fatal alert: CertificateRequired",
                true
            ),
            Some(AccessProblem::ClientCertRefused)
        );
        assert_eq!(
            diag(
                "grpc",
                "etcdserver: authentication failed, invalid user ID or password",
                true
            ),
            Some(AccessProblem::AuthFailed)
        );
        assert_eq!(
            diag("transport error", "received corrupt message", true),
            Some(AccessProblem::TlsToPlain)
        );
        assert_eq!(
            diag("transport error", "connection reset by peer", false),
            Some(AccessProblem::PlainToTls)
        );
        // the same close, seen only through a gRPC status's Debug of its source
        assert_eq!(
            diag(
                "grpc request error: code: 'Unknown error', message: \"transport error\", \
                 source: tonic::transport::Error(Transport, hyper::Error(Io, Kind(ConnectionReset)))",
                "",
                false
            ),
            Some(AccessProblem::PlainToTls)
        );
        // TLS 1.3: the refusal of a client certificate often shows only as a closed stream
        assert_eq!(
            diag(
                "transport error",
                "stream closed because of a broken pipe",
                true
            ),
            Some(AccessProblem::ClientCertRefused)
        );
        // a refused connection says nothing definite
        assert_eq!(diag("transport error", "Connection refused", false), None);
        assert_eq!(diag("transport error", "Connection refused", true), None);
    }

    #[test]
    fn debug_hides_the_password_and_key() {
        let s = EtcdSecurity {
            ca_pem: Some(b"ca".to_vec()),
            identity: Some((b"cert".to_vec(), b"SECRET-KEY".to_vec())),
            user: Some(("liuma".into(), "hunter2".into())),
        };
        let shown = format!("{s:?}");
        assert!(shown.contains("liuma"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("SECRET"),
            "{shown}"
        );
    }
}
