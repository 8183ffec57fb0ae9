//! The cluster token: a shared secret that every request between the
//! client, the scheduler and the executors carries.
//!
//! The secret comes from the `SAASQL_CLUSTER_TOKEN` environment variable or a
//! file (`--token-file`), never from the command line, and it never appears
//! in a message. Servers check it with a tonic interceptor ([`TokenCheck`]).
//!
//! Where it travels: Ballista 55 lets its gRPC *clients* be customised only
//! through an endpoint override (`EndpointOverrideFn`: the client's session
//! config, `SchedulerConfig` and `ExecutorProcessConfig` each take one, and
//! the executors' shuffle reads use the one in their session config). An
//! endpoint cannot add request headers, but it can set the `user-agent`; so
//! the token travels as a `saasql-cluster-token/SECRET` word of the
//! user-agent header, on every channel. The client's HTTP readiness probe
//! sends the same header.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use ballista_core::extension::EndpointOverrideFn;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::transport::Endpoint;
use tonic::{Request, Status};

/// The environment variable that holds the cluster token.
pub const TOKEN_ENV: &str = "SAASQL_CLUSTER_TOKEN";

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The user-agent word that carries the token: `PREFIX` then the secret.
const PREFIX: &str = "saasql-cluster-token/";

/// Why a server refused a request. Names no secret.
pub const REFUSED: &str = "missing or wrong cluster token \
     (set the same SAASQL_CLUSTER_TOKEN or --token-file on the client, the scheduler and every executor)";

/// The cluster's shared secret. Its `Debug` does not show it.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<secret>)")
    }
}

impl Token {
    /// A token from its text, without surrounding whitespace: at least
    /// [`MIN_TOKEN_LEN`] printable ASCII characters, no spaces. The error
    /// does not contain the text.
    pub fn new(secret: &str) -> Result<Self, String> {
        let secret = secret.trim();
        if secret.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the cluster token must have at least {MIN_TOKEN_LEN} characters"
            ));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the cluster token must be printable ASCII without spaces (e.g. `openssl rand -hex 32`)"
                    .to_string(),
            );
        }
        Ok(Self(secret.into()))
    }

    /// The token from `file` if given (with a warning when other users can
    /// read it), else from [`TOKEN_ENV`] if set.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, String> {
        if let Some(file) = file {
            let text = saasql_common::private_files::read_secret_file("--token-file", file)
                .map_err(|e| format!("--token-file {}: {e}", file.display()))?;
            return Self::new(&text)
                .map(Some)
                .map_err(|e| format!("--token-file {}: {e}", file.display()));
        }
        match std::env::var(TOKEN_ENV) {
            Ok(text) => Self::new(&text)
                .map(Some)
                .map_err(|e| format!("{TOKEN_ENV}: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "{TOKEN_ENV}: the cluster token must be printable ASCII"
            )),
        }
    }

    /// The user-agent word that carries the token.
    pub(crate) fn user_agent(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }

    /// `endpoint`, sending the token with every request.
    pub fn endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, tonic::transport::Error> {
        endpoint.user_agent(self.user_agent())
    }

    /// An endpoint override for Ballista's gRPC clients that sends the token.
    pub fn endpoint_override(&self) -> EndpointOverrideFn {
        let token = self.clone();
        Arc::new(move |endpoint| Ok(token.endpoint(endpoint)?))
    }

    /// Whether `metadata` carries this token.
    fn carried_by(&self, metadata: &MetadataMap) -> bool {
        let expected = self.user_agent();
        metadata
            .get_all("user-agent")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(str::split_whitespace)
            .any(|word| bool::from(word.as_bytes().ct_eq(expected.as_bytes())))
    }
}

/// A server-side interceptor: without a token every request passes; with
/// one, only requests that carry it.
#[derive(Debug, Clone)]
pub struct TokenCheck(Option<Token>);

impl TokenCheck {
    /// Checks for `token`, if any.
    pub fn new(token: Option<Token>) -> Self {
        Self(token)
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match &self.0 {
            Some(token) if !token.carried_by(request.metadata()) => {
                Err(Status::unauthenticated(REFUSED))
            }
            _ => Ok(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in the middle").is_err());
        let token = Token::new(" 0123456789abcdef\n").unwrap();
        assert_eq!(format!("{token:?}"), "Token(<secret>)");

        let mut check = TokenCheck::new(Some(token.clone()));
        let mut request = Request::new(());
        assert_eq!(check.call(Request::new(())).unwrap_err().message(), REFUSED);
        request.metadata_mut().insert(
            "user-agent",
            format!("{} tonic/0.14", token.user_agent())
                .parse()
                .unwrap(),
        );
        assert!(check.call(request).is_ok());
        let mut wrong = Request::new(());
        wrong.metadata_mut().insert(
            "user-agent",
            "saasql-cluster-token/0123456789abcdeX".parse().unwrap(),
        );
        assert!(check.call(wrong).is_err());
        assert!(!REFUSED.contains("0123456789abcdef"));
        assert!(TokenCheck::new(None).call(Request::new(())).is_ok());
    }
}
