//! Object storage: tables and outputs at `s3://`, `gs://`, `az://`
//! (`abfs://`, `abfss://`) and `http(s)://` locations.
//!
//! [`StoreRegistry`] is the session's [`ObjectStoreRegistry`]: it builds the
//! store for a bucket the first time a location in it is used, from, in
//! order (later wins):
//!
//! 1. the standard environment variables (`AWS_ACCESS_KEY_ID`,
//!    `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//!    `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`,
//!    `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, …);
//! 2. the `[storage.s3]`, `[storage.gs]` and `[storage.azure]` sections of
//!    the config file ([`StorageConfig`]), which may hold secrets;
//! 3. the session's `s3.*` settings ([`S3Settings`]): `SET s3.region`,
//!    `s3.endpoint`, `s3.allow_http`, `s3.skip_signature`,
//!    `s3.virtual_hosted_style`. Secrets cannot be `SET`: they would be in the
//!    SQL text, the shell history and `SHOW ALL`.
//!
//! Building a store makes no network call (the region is never discovered),
//! and every request has a connect timeout, a request timeout and few
//! retries, so an unreachable endpoint fails within seconds.
//! [`describe_error`] turns a store's error into one line naming the
//! location and the cause, without credentials.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, plan_err};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use url::Url;

/// Adds `information_schema`, the `saasql.*` settings
/// ([`saasql::with_saasql_settings`]) and the `s3.*` storage settings
/// ([`S3Settings`]) to `config`, keeping any values it already has: the
/// settings of every session the command, the server and the cluster make.
pub fn with_settings(config: SessionConfig) -> SessionConfig {
    let config = saasql::with_saasql_settings(config);
    if config.options().extensions.get::<S3Settings>().is_none() {
        config.with_option_extension(S3Settings::default())
    } else {
        config
    }
}

/// The schemes saasql reads and writes, for messages.
pub const SCHEMES: &str = "s3://, gs://, az://, abfss://, http:// and https://";

/// How long connecting to a storage endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `location` is an object-storage URL (`scheme://…` other than
/// `file://`), as opposed to a local path.
pub fn is_url(location: &str) -> bool {
    match location.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !scheme.eq_ignore_ascii_case("file")
        }
        None => false,
    }
}

/// The `s3.*` session settings: `SET s3.region = 'eu-west-1'`. Unset
/// settings leave the environment's and the config file's values in force.
/// They carry their prefix in [`entries`](ExtensionOptions::entries), so a
/// Ballista cluster forwards them to its scheduler and executors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct S3Settings {
    /// The bucket's region (e.g. `eu-west-1`).
    pub region: Option<String>,
    /// An S3-compatible endpoint (MinIO, R2, …), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: Option<bool>,
    /// Send unsigned requests (public buckets); no credentials needed.
    pub skip_signature: Option<bool>,
    /// Address buckets as `bucket.endpoint` rather than `endpoint/bucket`.
    pub virtual_hosted_style: Option<bool>,
}

/// The `s3.*` settings: key (without prefix), description.
pub const S3_SETTINGS: &[(&str, &str)] = &[
    (
        "region",
        "Region of s3:// buckets (else AWS_REGION, [storage.s3] region, or us-east-1).",
    ),
    (
        "endpoint",
        "Endpoint of an S3-compatible store such as MinIO or R2 (else AWS_ENDPOINT_URL).",
    ),
    (
        "allow_http",
        "true: allow an http:// endpoint (else AWS_ALLOW_HTTP).",
    ),
    (
        "skip_signature",
        "true: send unsigned requests, for public buckets (no credentials needed).",
    ),
    (
        "virtual_hosted_style",
        "true: address buckets as bucket.endpoint instead of endpoint/bucket.",
    ),
];

/// Keys that hold secrets: refused by `SET`, accepted in `[storage.*]`.
const SECRET_KEYS: &[&str] = &[
    "access_key_id",
    "secret_access_key",
    "session_token",
    "token",
    "access_key",
    "account_key",
    "client_secret",
    "service_account_key",
    "sas_key",
];

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        _ => plan_err!("s3.{key}: '{value}' is not true or false"),
    }
}

impl ExtensionOptions for S3Settings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Ballista re-applies entries with their prefix; accept both forms.
        let key = key.strip_prefix("s3.").unwrap_or(key);
        let text = || {
            let v = value.trim();
            (!v.is_empty()).then(|| v.to_string())
        };
        match key {
            "region" => self.region = text(),
            "endpoint" => {
                if let Some(v) = text()
                    && Url::parse(&v).is_err()
                {
                    return plan_err!(
                        "s3.endpoint: '{v}' is not a URL (e.g. http://127.0.0.1:9000)"
                    );
                }
                self.endpoint = text();
            }
            "allow_http" => self.allow_http = Some(parse_bool(key, value)?),
            "skip_signature" => self.skip_signature = Some(parse_bool(key, value)?),
            "virtual_hosted_style" => {
                self.virtual_hosted_style = Some(parse_bool(key, value)?);
            }
            secret if SECRET_KEYS.contains(&secret) => {
                return plan_err!(
                    "s3.{secret} cannot be SET: a secret in SQL ends up in histories and logs; \
                     put it in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                     AWS_SESSION_TOKEN) or in [storage.s3] of the config file"
                );
            }
            other => {
                let known: Vec<&str> = S3_SETTINGS.iter().map(|(k, _)| *k).collect();
                return plan_err!(
                    "unknown setting s3.{other}; known settings: s3.{}",
                    known.join(", s3.")
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let flag = |b: Option<bool>| b.map(|b| b.to_string());
        S3_SETTINGS
            .iter()
            .map(|(k, description)| ConfigEntry {
                key: format!("{}.{k}", Self::PREFIX),
                value: match *k {
                    "region" => self.region.clone(),
                    "endpoint" => self.endpoint.clone(),
                    "allow_http" => flag(self.allow_http),
                    "skip_signature" => flag(self.skip_signature),
                    _ => flag(self.virtual_hosted_style),
                },
                description,
            })
            .collect()
    }
}

impl ConfigExtension for S3Settings {
    const PREFIX: &'static str = "s3";
}

/// The `[storage.*]` sections of the config file: options for each kind of
/// store, secrets included. Values are never shown: `Debug` prints keys only.
#[derive(Clone, Default)]
pub struct StorageConfig {
    s3: Vec<(AmazonS3ConfigKey, String)>,
    gcs: Vec<(GoogleConfigKey, String)>,
    azure: Vec<(AzureConfigKey, String)>,
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("s3", &self.s3.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("gcs", &self.gcs.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field(
                "azure",
                &self.azure.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl StorageConfig {
    /// Adds `other`'s options after this one's (they win).
    pub fn merge(&mut self, other: StorageConfig) {
        self.s3.extend(other.s3);
        self.gcs.extend(other.gcs);
        self.azure.extend(other.azure);
    }

    /// Adds option `key` = `value` of store kind `section` (`s3`, `gs` or
    /// `azure`). Keys are the stores' own option names, with or without
    /// their `aws_`, `google_` or `azure_` prefix (`region`, `endpoint`,
    /// `access_key_id`, `service_account`, `account_name`, …). The error
    /// names the section and key, never the value.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<(), String> {
        let unknown = || format!("[storage.{section}]: unknown option '{key}'");
        let lower = key.to_ascii_lowercase();
        match section {
            "s3" => {
                let k = lower
                    .parse::<AmazonS3ConfigKey>()
                    .or_else(|_| format!("aws_{lower}").parse())
                    .map_err(|_| unknown())?;
                self.s3.push((k, value.to_string()));
            }
            "gs" | "gcs" => {
                let k = lower
                    .parse::<GoogleConfigKey>()
                    .or_else(|_| format!("google_{lower}").parse())
                    .map_err(|_| unknown())?;
                self.gcs.push((k, value.to_string()));
            }
            "azure" | "az" => {
                let k = lower
                    .parse::<AzureConfigKey>()
                    .or_else(|_| format!("azure_{lower}").parse())
                    .or_else(|_| format!("azure_storage_{lower}").parse())
                    .map_err(|_| unknown())?;
                self.azure.push((k, value.to_string()));
            }
            other => {
                return Err(format!(
                    "[storage.{other}]: unknown store; the sections are [storage.s3], \
                     [storage.gs] and [storage.azure]"
                ));
            }
        }
        Ok(())
    }
}

/// A store cannot be set up for a location (unknown scheme, no credentials,
/// a bad option): the message names the location and the cause.
#[derive(Debug, Clone)]
pub struct StorageError(pub String);

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StorageError {}

fn storage_err(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(StorageError(message)))
}

/// A bucket's store and the settings it was built with.
type BuiltStore = (S3Settings, Arc<dyn ObjectStore>);

type LiveSettings = Box<dyn Fn() -> Option<S3Settings> + Send + Sync>;

/// The object-store registry of a saasql session: local files as
/// DataFusion's default registry has them, and a store per bucket built on
/// first use (see the module docs). A bucket's store is rebuilt when the
/// session's `s3.*` settings change.
pub struct StoreRegistry {
    local: DefaultObjectStoreRegistry,
    config: StorageConfig,
    fixed: S3Settings,
    live: OnceLock<LiveSettings>,
    stores: Mutex<HashMap<String, BuiltStore>>,
}

impl fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buckets: Vec<String> = match self.stores.lock() {
            Ok(stores) => stores.keys().cloned().collect(),
            Err(_) => vec![],
        };
        f.debug_struct("StoreRegistry")
            .field("config", &self.config)
            .field("buckets", &buckets)
            .finish()
    }
}

impl StoreRegistry {
    /// A registry with the `[storage.*]` options `config` and the fixed
    /// `s3.*` settings `settings` (a cluster task's).
    pub fn new(config: StorageConfig, settings: S3Settings) -> Self {
        StoreRegistry {
            local: DefaultObjectStoreRegistry::new(),
            config,
            fixed: settings,
            live: OnceLock::new(),
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the `s3.*` settings from `settings` at each use instead of the
    /// fixed ones, so that `SET s3.…` in a session applies to its next query.
    /// Only the first call has an effect.
    pub fn follow(&self, settings: impl Fn() -> Option<S3Settings> + Send + Sync + 'static) {
        let _ = self.live.set(Box::new(settings));
    }

    fn settings(&self) -> S3Settings {
        self.live
            .get()
            .and_then(|live| live())
            .unwrap_or_else(|| self.fixed.clone())
    }

    fn build(&self, url: &Url, settings: &S3Settings) -> Result<Arc<dyn ObjectStore>> {
        let scheme = url.scheme().to_ascii_lowercase();
        let bucket = url.host_str().unwrap_or_default();
        let root = format!("{scheme}://{bucket}");
        let config_err =
            |e: object_store::Error| storage_err(format!("{root}: {}", describe_store_error(&e)));
        let store: Arc<dyn ObjectStore> = match scheme.as_str() {
            "s3" | "s3a" => {
                if bucket.is_empty() {
                    return Err(storage_err(format!(
                        "{url}: no bucket name (use s3://BUCKET/PATH)"
                    )));
                }
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in &self.config.s3 {
                    b = b.with_config(*k, v);
                }
                if let Some(v) = &settings.region {
                    b = b.with_region(v);
                }
                if let Some(v) = &settings.endpoint {
                    b = b.with_endpoint(v);
                }
                if let Some(v) = settings.allow_http {
                    b = b.with_allow_http(v);
                }
                if let Some(v) = settings.skip_signature {
                    b = b.with_skip_signature(v);
                }
                if let Some(v) = settings.virtual_hosted_style {
                    b = b.with_virtual_hosted_style_request(v);
                }
                let has = |k: AmazonS3ConfigKey| b.get_config_value(&k).is_some();
                let unsigned = b
                    .get_config_value(&AmazonS3ConfigKey::SkipSignature)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                if !unsigned
                    && !has(AmazonS3ConfigKey::AccessKeyId)
                    && std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_none()
                    && std::env::var_os("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_none()
                    && std::env::var_os("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_none()
                {
                    return Err(storage_err(format!(
                        "{root}: no credentials: set AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY (or access_key_id and secret_access_key in \
                         [storage.s3] of the config file); for a public bucket \
                         SET s3.skip_signature = true"
                    )));
                }
                if has(AmazonS3ConfigKey::AccessKeyId) && !has(AmazonS3ConfigKey::SecretAccessKey) {
                    return Err(storage_err(format!(
                        "{root}: an access key id is set but no secret access key \
                         (AWS_SECRET_ACCESS_KEY or secret_access_key in [storage.s3])"
                    )));
                }
                let allow_http = b
                    .get_config_value(&AmazonS3ConfigKey::Client(
                        object_store::ClientConfigKey::AllowHttp,
                    ))
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                Arc::new(
                    b.with_client_options(client_options(allow_http))
                        .with_retry(retry_config())
                        .build()
                        .map_err(config_err)?,
                )
            }
            "gs" | "gcs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                for (k, v) in &self.config.gcs {
                    b = b.with_config(*k, v);
                }
                Arc::new(
                    b.with_client_options(client_options(false))
                        .with_retry(retry_config())
                        .build()
                        .map_err(config_err)?,
                )
            }
            "az" | "azure" | "abfs" | "abfss" | "adl" => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                for (k, v) in &self.config.azure {
                    b = b.with_config(*k, v);
                }
                Arc::new(
                    b.with_client_options(client_options(false))
                        .with_retry(retry_config())
                        .build()
                        .map_err(config_err)?,
                )
            }
            "http" | "https" => Arc::new(
                HttpBuilder::new()
                    .with_url(url[..url::Position::BeforePath].to_string())
                    .with_client_options(client_options(scheme == "http"))
                    .with_retry(retry_config())
                    .build()
                    .map_err(config_err)?,
            ),
            other => {
                return Err(storage_err(format!(
                    "{url}: unknown scheme '{other}://'; saasql reads local paths and {SCHEMES}"
                )));
            }
        };
        tracing::debug!(store = %root, "object store built");
        Ok(store)
    }
}

/// Timeouts so that an unreachable endpoint fails, not hangs.
fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
}

/// Two retries within 10 s: transient errors are retried, an unreachable
/// endpoint is reported soon.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

/// `scheme://host:port`: one store per bucket (or web server).
fn store_key(url: &Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    )
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        if url.scheme() == "file" {
            return self.local.register_store(url, store);
        }
        let key = store_key(url);
        let mut stores = self.stores.lock().ok()?;
        stores
            .insert(key, (self.settings(), store))
            .map(|(_, old)| old)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "file" {
            return self.local.get_store(url);
        }
        let key = store_key(url);
        let settings = self.settings();
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| DataFusionError::Execution("object-store registry poisoned".into()))?;
        if let Some((built_with, store)) = stores.get(&key)
            && *built_with == settings
        {
            return Ok(Arc::clone(store));
        }
        let store = self.build(url, &settings)?;
        stores.insert(key, (settings, Arc::clone(&store)));
        Ok(store)
    }
}

/// Points `registry` at `ctx`'s `s3.*` settings, so that `SET s3.…` in
/// the session applies to its next query.
pub fn follow_session(registry: &StoreRegistry, ctx: &SessionContext) {
    let state = Arc::downgrade(&ctx.state_ref());
    registry.follow(move || {
        let state = state.upgrade()?;
        // Never wait for the lock: a planner holding it would deadlock.
        let state = state.try_read()?;
        state
            .config()
            .options()
            .extensions
            .get::<S3Settings>()
            .cloned()
    });
}

/// The `s3.*` settings of `config` (defaults when it has none).
pub fn settings_of(config: &datafusion::prelude::SessionConfig) -> S3Settings {
    config
        .options()
        .extensions
        .get::<S3Settings>()
        .cloned()
        .unwrap_or_default()
}

/// One line for an object store's error: what went wrong, without the
/// store's request details (XML bodies, retry counts) or credentials.
pub fn describe_store_error(e: &object_store::Error) -> String {
    use object_store::Error as E;
    let full = e.to_string();
    let lower = full.to_ascii_lowercase();
    match e {
        E::NotFound { path, .. } => {
            if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
                "the bucket does not exist".to_string()
            } else {
                format!("{path}: not found")
            }
        }
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            "access denied: the credentials were refused or lack permission; check the \
             access key, the secret and the bucket's permissions"
                .to_string()
        }
        _ if lower.contains("nosuchbucket") => "the bucket does not exist".to_string(),
        _ if lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("accessdenied")
            || lower.contains("403 forbidden") =>
        {
            "the credentials were refused (access denied); check the access key and secret"
                .to_string()
        }
        _ if lower.contains("error sending request")
            || lower.contains("connection refused")
            || lower.contains("timed out")
            || lower.contains("dns error")
            || lower.contains("connect") =>
        {
            let cause = if lower.contains("connection refused") {
                "connection refused"
            } else if lower.contains("timed out") || lower.contains("timeout") {
                "timed out"
            } else if lower.contains("dns") {
                "the host name does not resolve"
            } else {
                "no connection"
            };
            format!("cannot reach the {} endpoint ({cause})", store_name(e))
        }
        _ => first_line(&full),
    }
}

fn store_name(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::Generic { store, .. } => store,
        _ => "storage",
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// If `e` is (or wraps) a [`StorageError`] or an object store's error, one
/// line describing it ([`describe_store_error`]).
pub fn describe_error(e: &DataFusionError) -> Option<String> {
    let mut current: &(dyn std::error::Error + 'static) = e;
    loop {
        if let Some(StorageError(message)) = current.downcast_ref::<StorageError>() {
            return Some(message.clone());
        }
        if let Some(DataFusionError::ObjectStore(inner)) = current.downcast_ref::<DataFusionError>()
        {
            return Some(describe_store_error(inner));
        }
        if let Some(inner) = current.downcast_ref::<object_store::Error>() {
            return Some(describe_store_error(inner));
        }
        match current.source() {
            Some(next) => current = next,
            None => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_local_paths() {
        assert!(is_url("s3://b/k"));
        assert!(is_url("ftp://x/y"));
        assert!(!is_url("file:///tmp/x"));
        assert!(!is_url("/data/events/"));
        assert!(!is_url("data/x://y"));
    }

    #[test]
    fn secrets_cannot_be_set_and_are_not_echoed() {
        let mut s = S3Settings::default();
        s.set("region", "eu-west-1").unwrap();
        s.set("s3.allow_http", "true").unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.allow_http, Some(true));
        let e = s
            .set("secret_access_key", "hunter2-secret")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be SET"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = s.set("allow_http", "maybe").unwrap_err().to_string();
        assert!(e.contains("not true or false"), "{e}");
        let keys: Vec<String> = s.entries().into_iter().map(|e| e.key).collect();
        assert!(keys.contains(&"s3.region".to_string()));

        let mut c = StorageConfig::default();
        c.set("s3", "secret_access_key", "hunter2-secret").unwrap();
        c.set("s3", "aws_region", "eu-west-1").unwrap();
        c.set("gs", "service_account", "/k.json").unwrap();
        c.set("azure", "account_name", "acct").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = c.set("s3", "nope", "hunter2").unwrap_err();
        assert!(
            e.contains("unknown option 'nope'") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn stores_are_built_offline_and_unknown_schemes_refused() {
        let mut c = StorageConfig::default();
        c.set("s3", "access_key_id", "AKIDEXAMPLE").unwrap();
        c.set("s3", "secret_access_key", "secret").unwrap();
        let settings = S3Settings {
            region: Some("eu-west-1".into()),
            ..S3Settings::default()
        };
        let registry = StoreRegistry::new(c, settings);
        let url = Url::parse("s3://bucket/events/").unwrap();
        let a = registry.get_store(&url).unwrap();
        let b = registry.get_store(&url).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let e = registry
            .get_store(&Url::parse("ftp://host/x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown scheme 'ftp://'"), "{e}");
    }
}
