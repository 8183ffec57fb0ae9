//! Alerts: when checks warn or fail, tell someone.
//!
//! ```toml
//! [notify]
//! on = "warn"                          # warn (default): any check warns or fails; error: a check fails
//! command = "mail -s 'saasql checks' data@acme.example"   # JSON results on stdin
//! webhook_env = "SLACK_WEBHOOK_URL"    # the variable holding the webhook URL
//! # webhook_file = "/run/secrets/slack-webhook"           # or a file holding it
//! timeout = "10s"                      # the command's time, and each webhook attempt's
//! retries = 2                          # webhook attempts after the first
//! ```
//!
//! `saasql test`, `run --test` and `batch --test` send one alert per run
//! (`--on-failure CMD` names the command instead of `[notify] command`).
//! The same JSON document goes to the command's stdin and the webhook's
//! POST body: `text` (a Slack-compatible summary), `status`, `command`,
//! `project`, `time`, `summary` and `checks` (every check, as `saasql test
//! --format json` prints them).
//!
//! A webhook URL carries its credential in the path, so it is never written
//! in a config file (a literal `webhook = "https://…"` is refused), never
//! printed, and never part of an error: messages name the host only. It
//! must be `https`, except to this machine (`http://127.0.0.1:…`, for a
//! local relay or a test). Redirects are not followed.
//!
//! An alert that cannot be delivered (the command fails or times out, the
//! webhook answers an error after its retries) is an error: the command
//! exits 1 even when the checks only warned, after its output is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::checks::{CheckResult, Status};

/// How long the command, and each webhook attempt, may take by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Webhook attempts after the first, by default.
const DEFAULT_RETRIES: u32 = 2;
/// The longest wait between two webhook attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How many checks the `text` summary lists.
const TEXT_LINES: usize = 20;

/// The `[notify]` section as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// `warn` (default) or `error`: the least status that sends an alert.
    pub on: Option<String>,
    /// A shell command run with the JSON results on stdin.
    pub command: Option<String>,
    /// Refused: a URL literal would put the webhook's credential in the file.
    pub webhook: Option<String>,
    /// The environment variable holding the webhook URL.
    pub webhook_env: Option<String>,
    /// A file holding the webhook URL (relative to the config file).
    pub webhook_file: Option<PathBuf>,
    /// The command's time limit and each webhook attempt's (`10s`, `1m`).
    pub timeout: Option<String>,
    /// Webhook attempts after the first (default 2).
    pub retries: Option<u32>,
}

/// Where the webhook URL is read from, when an alert is sent (so a missing
/// secret stops only the alert, not every command).
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookSource {
    /// An environment variable.
    Env(String),
    /// A file (its first line).
    File(PathBuf),
}

impl WebhookSource {
    /// How `saasql config` shows it (never the URL).
    pub fn describe(&self) -> String {
        match self {
            WebhookSource::Env(name) => format!("${name}"),
            WebhookSource::File(path) => format!("file {}", path.display()),
        }
    }

    fn read(&self) -> Result<String, String> {
        let text = match self {
            WebhookSource::Env(name) => std::env::var(name)
                .map_err(|_| format!("webhook_env: the environment variable {name} is not set"))?,
            WebhookSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("webhook_file: cannot read {}: {e}", path.display()))?,
        };
        let url = text.lines().next().unwrap_or("").trim().to_string();
        if url.is_empty() {
            return Err(match self {
                WebhookSource::Env(name) => format!("webhook_env: {name} is empty"),
                WebhookSource::File(path) => format!(
                    "webhook_file: the first line of {} is empty (it must be the URL)",
                    path.display()
                ),
            });
        }
        Ok(url)
    }
}

/// The `[notify]` settings of one config file, or of all of them merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyConfig {
    /// The least status that sends an alert.
    pub on: Option<Status>,
    /// The command.
    pub command: Option<String>,
    /// The webhook URL's source.
    pub webhook: Option<WebhookSource>,
    /// The command's time limit and each webhook attempt's.
    pub timeout: Option<Duration>,
    /// Webhook attempts after the first.
    pub retries: Option<u32>,
}

impl NotifyConfig {
    /// Validates a `[notify]` section; `base` is the config file's folder.
    pub fn from_section(section: NotifySection, base: &Path) -> Result<Self, String> {
        if section.webhook.is_some() {
            return Err(
                "notify.webhook: a webhook URL holds its credential and config files \
                 are usually committed; set webhook_env = \"NAME\" (the environment variable \
                 holding the URL) or webhook_file = \"PATH\""
                    .into(),
            );
        }
        let on = match section.on.as_deref().map(str::trim) {
            None => None,
            Some("warn") => Some(Status::Warn),
            Some("error") => Some(Status::Error),
            Some(other) => {
                return Err(format!(
                    "notify.on: '{other}': expected 'warn' (any check warns or fails) or 'error' (a check fails)"
                ));
            }
        };
        let webhook = match (section.webhook_env, section.webhook_file) {
            (Some(_), Some(_)) => {
                return Err("notify: set webhook_env or webhook_file, not both".into());
            }
            (Some(name), None) => {
                // The value is not repeated: a URL put here by mistake is
                // the secret itself.
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || name.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err("notify.webhook_env: not an environment variable name \
                         (letters, digits and _): it names the variable that holds the URL, \
                         it is not the URL"
                        .into());
                }
                Some(WebhookSource::Env(name))
            }
            (None, Some(path)) => {
                if path.to_string_lossy().contains("://") {
                    return Err(
                        "notify.webhook_file: looks like a URL: it names a file that \
                         holds the URL (or use webhook_env), it is not the URL"
                            .into(),
                    );
                }
                Some(WebhookSource::File(base.join(path)))
            }
            (None, None) => None,
        };
        let command = match section.command {
            Some(c) if c.trim().is_empty() => {
                return Err("notify.command: empty; name a command, or leave the key out".into());
            }
            other => other,
        };
        let timeout = match section.timeout {
            None => None,
            Some(text) => Some(parse_timeout(&text).map_err(|e| format!("notify.timeout: {e}"))?),
        };
        if section.retries.is_some_and(|r| r > 10) {
            return Err(format!(
                "notify.retries: {}: at most 10",
                section.retries.unwrap_or_default()
            ));
        }
        Ok(NotifyConfig {
            on,
            command,
            webhook,
            timeout,
            retries: section.retries,
        })
    }

    /// Lays `other` over this one, key by key.
    pub fn merge(&mut self, other: NotifyConfig) {
        self.on = other.on.or(self.on);
        self.command = other.command.or(self.command.take());
        self.webhook = other.webhook.or(self.webhook.take());
        self.timeout = other.timeout.or(self.timeout);
        self.retries = other.retries.or(self.retries);
    }
}

/// A command as `saasql config` shows it: passwords and every URL's path
/// and query blanked (a command may carry a webhook URL).
pub fn shown_command(command: &str) -> String {
    let text = saasql_common::error::redact_secrets(command);
    let stop = |c: char| c.is_whitespace() || c == '\'' || c == '"';
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(stop).unwrap_or(tail.len());
        let url = &tail[..end];
        match url.find(['/', '?']) {
            Some(p) if p + 1 < url.len() => {
                out.push_str(&url[..p]);
                out.push_str("/…");
            }
            _ => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A duration of 1 second to 10 minutes.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds = super::checks::parse_duration(text)?;
    if !(1..=600).contains(&seconds) {
        return Err(format!("'{text}': between 1s and 10m"));
    }
    Ok(Duration::from_secs(seconds as u64))
}

/// The merged `[notify]` settings of a session (a session extension).
#[derive(Debug, Default)]
struct Notify(NotifyConfig);

/// Attaches the `[notify]` settings to `ctx`.
pub fn set_notify(ctx: &SessionContext, config: NotifyConfig) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(Notify(config)));
}

fn notify_of(ctx: &SessionContext) -> NotifyConfig {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<Notify>()
        .map(|n| n.0.clone())
        .unwrap_or_default()
}

/// Who ran the checks, for the alert.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `saasql test`, `saasql run --test`, `saasql batch --test`.
    pub command: &'a str,
    /// The project's folder, if any (also the command's working folder).
    pub project: Option<&'a Path>,
    /// `--on-failure CMD`: replaces `[notify] command`.
    pub on_failure: Option<&'a str>,
}

/// Sends the alert when `results` call for one. `Ok(None)`: nothing to
/// send; `Ok(Some(what))`: delivered (`what` names the channels);
/// `Err(why)`: a channel failed (one line, without the webhook URL).
pub async fn alert(
    ctx: &SessionContext,
    results: &[CheckResult],
    origin: Origin<'_>,
) -> Result<Option<String>, String> {
    let config = notify_of(ctx);
    let command = origin.on_failure.map(str::to_string).or(config.command);
    if command.is_none() && config.webhook.is_none() {
        return Ok(None);
    }
    let worst = results.iter().map(|r| r.status).max();
    let on = config.on.unwrap_or(Status::Warn);
    let Some(worst) = worst.filter(|w| *w >= on) else {
        return Ok(None);
    };
    let payload = payload(results, worst, origin);
    let body = serde_json::to_vec(&payload).map_err(|e| format!("notify: {e}"))?;
    let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut sent = vec![];
    let mut failed = vec![];
    if let Some(command) = command {
        match run_command(&command, &body, origin.project, timeout, worst).await {
            Ok(()) => sent.push("command".to_string()),
            Err(e) => failed.push(e),
        }
    }
    if let Some(source) = &config.webhook {
        let retries = config.retries.unwrap_or(DEFAULT_RETRIES);
        match post(source, body, timeout, retries).await {
            Ok(host) => sent.push(format!("webhook ({host})")),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(Some(sent.join(" and ")))
    } else {
        Err(failed.join("; "))
    }
}

/// The alert document.
fn payload(results: &[CheckResult], worst: Status, origin: Origin<'_>) -> serde_json::Value {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let (failed, warned) = (count(Status::Error), count(Status::Warn));
    let project = origin.project.map(|p| p.display().to_string());
    let name = origin
        .project
        .and_then(Path::file_name)
        .map(|n| format!(" in {}", n.to_string_lossy()))
        .unwrap_or_default();
    let mut text = format!(
        "saasql checks: {failed} failed, {warned} warned (of {}){name}: {}",
        results.len(),
        origin.command
    );
    let mut listed = 0;
    for r in results.iter().filter(|r| r.status == Status::Error) {
        listed += 1;
        if listed <= TEXT_LINES {
            text.push_str(&line(r));
        }
    }
    for r in results.iter().filter(|r| r.status == Status::Warn) {
        listed += 1;
        if listed <= TEXT_LINES {
            text.push_str(&line(r));
        }
    }
    if listed > TEXT_LINES {
        text.push_str(&format!("\n… and {} more", listed - TEXT_LINES));
    }
    let checks: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            json!({
                "check": r.name,
                "kind": r.kind,
                "status": r.status.name(),
                "observed": r.observed,
                "threshold": r.threshold,
                "details": r.details,
                "source": r.source,
            })
        })
        .collect();
    json!({
        "text": text,
        "status": worst.name(),
        "command": origin.command,
        "project": project,
        "time": now_utc(),
        "summary": {
            "checks": results.len(),
            "passed": count(Status::Pass),
            "warned": warned,
            "failed": failed,
        },
        "checks": checks,
    })
}

fn line(r: &CheckResult) -> String {
    format!(
        "\n• {} {}: {} (threshold {})",
        r.status.name(),
        r.name,
        r.observed,
        r.threshold
    )
}

/// Now, as `2026-12-07T03:10:00Z`.
fn now_utc() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    datafusion::arrow::temporal_conversions::timestamp_s_to_datetime(seconds)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Runs `command` through the shell in the project's folder, the alert on
/// its stdin, its stdout sent to our stderr (our stdout is the report's).
async fn run_command(
    command: &str,
    body: &[u8],
    dir: Option<&Path>,
    timeout: Duration,
    worst: Status,
) -> Result<(), String> {
    #[cfg(unix)]
    let mut cmd = {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(command);
        c
    };
    #[cfg(windows)]
    let mut cmd = {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").raw_arg(command);
        c
    };
    #[cfg(not(any(unix, windows)))]
    let mut cmd = {
        let mut c = tokio::process::Command::new(command);
        c.kill_on_drop(true);
        c
    };
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::io::stderr())
        .env("SAASQL_CHECKS_STATUS", worst.name())
        .kill_on_drop(true);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    // Its own process group, so that a timeout stops what it started too
    // (a `curl` under `sh -c` would otherwise keep running, and keep our
    // stderr open for whoever reads it).
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("notify command: cannot start it: {e}"))?;
    let group = child.id();
    let mut stdin = child.stdin.take();
    let run = async {
        if let Some(mut pipe) = stdin.take() {
            // A command that does not read its stdin (`true`) closes the
            // pipe early: that is its business, not a failure.
            match pipe.write_all(body).await {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("notify command: cannot write its stdin: {e}"));
                }
                _ => {}
            }
        }
        child
            .wait()
            .await
            .map_err(|e| format!("notify command: {e}"))
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => {
            stop_group(group);
            Err(format!(
                "notify command: still running after {}; stopped",
                seconds_text(timeout)
            ))
        }
        Ok(Err(e)) => Err(e),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("notify command: exited with status {code}"),
            None => "notify command: stopped by a signal".to_string(),
        }),
    }
}

/// Kills the process group `group` (the command and what it started).
/// Without `libc` (this crate forbids `unsafe`), through the shell's `kill`.
fn stop_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(group) = group {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("kill -s KILL -- -{group} 2>/dev/null"))
            .status();
    }
    #[cfg(not(unix))]
    let _ = group;
}

fn seconds_text(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Checks a webhook URL: `https`, or `http` to this machine only. The
/// error never repeats the URL.
fn webhook_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("the webhook URL is not a URL ({e})"))?;
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if local => Ok(url),
        "http" => Err(format!(
            "the webhook URL (host {}) uses plain http, which would send its credential \
             unencrypted; use https (http is allowed only to this machine)",
            url.host_str().unwrap_or("")
        )),
        other => Err(format!(
            "the webhook URL has scheme '{other}'; expected https"
        )),
    }
}

/// POSTs the alert, retrying timeouts, connection failures, 429 and 5xx
/// answers with a doubling pause (1 s, 2 s, …). Returns the host.
async fn post(
    source: &WebhookSource,
    body: Vec<u8>,
    timeout: Duration,
    retries: u32,
) -> Result<String, String> {
    let fail = |why: String| format!("notify webhook: {why}");
    let url = webhook_url(&source.read().map_err(fail)?).map_err(fail)?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or("")),
        None => url.host_str().unwrap_or("").to_string(),
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("saasql/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(hide(&e.without_url().to_string(), &url)))?;
    let mut pause = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let (why, again) = match answer {
            Ok(response) if response.status().is_success() => return Ok(host),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let why = match answer_text(&text, &url) {
                    Some(said) => format!("{host} answered HTTP {status}: {said}"),
                    None if status.is_redirection() => {
                        format!("{host} answered HTTP {status} (redirects are not followed)")
                    }
                    None => format!("{host} answered HTTP {status}"),
                };
                (
                    why,
                    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
                )
            }
            Err(e) if e.is_timeout() => (
                format!("{host} did not answer within {}", seconds_text(timeout)),
                true,
            ),
            Err(e) => (
                format!(
                    "cannot reach {host}: {}",
                    hide(&chain(e.without_url()), &url)
                ),
                true,
            ),
        };
        if !again || attempt > retries {
            let tries = if attempt == 1 {
                String::new()
            } else {
                format!(" (after {attempt} attempts)")
            };
            return Err(fail(format!("{why}{tries}")));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

/// An error and its causes, `: `-separated (reqwest's own text only says
/// "error sending request").
fn chain(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The first line of an answer, to show in an error: with the URL's path
/// blanked out first, then cut to 120 characters; `None` when it is empty
/// or still holds a piece of the path or query (echoed in another form).
fn answer_text(body: &str, url: &url::Url) -> Option<String> {
    let first = hide(body, url);
    let first = first.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return None;
    }
    let lower = first.to_ascii_lowercase();
    let decoded = |s: &str| {
        url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, v)| format!("{k}{v}"))
            .collect::<String>()
    };
    let pieces = url
        .path_segments()
        .into_iter()
        .flatten()
        .chain(url.query().into_iter().flat_map(|q| q.split('&')))
        .flat_map(|p| [p.to_string(), decoded(p)])
        .filter(|p| p.len() >= 4);
    for piece in pieces {
        if lower.contains(&piece.to_ascii_lowercase()) {
            return None;
        }
    }
    Some(first.chars().take(120).collect())
}

/// Blanks the URL's path and query (where its credential is) out of `text`.
fn hide(text: &str, url: &url::Url) -> String {
    let mut text = text.replace(url.as_str(), "<webhook URL>");
    let path = url.path();
    if path.len() > 1 {
        text = text.replace(path, "/…");
    }
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        text = text.replace(query, "…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> Result<NotifyConfig, String> {
        let s: NotifySection = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        NotifyConfig::from_section(s, Path::new("/p"))
    }

    #[test]
    fn sections_are_validated() {
        let c = section("on = \"error\"\ncommand = \"cat\"\nwebhook_env = \"HOOK\"\ntimeout = \"5s\"\nretries = 1").unwrap();
        assert_eq!(c.on, Some(Status::Error));
        assert_eq!(c.webhook, Some(WebhookSource::Env("HOOK".into())));
        assert_eq!(c.timeout, Some(Duration::from_secs(5)));
        let f = section("webhook_file = \"secrets/hook\"").unwrap();
        assert_eq!(
            f.webhook,
            Some(WebhookSource::File(PathBuf::from("/p/secrets/hook")))
        );
        let literal = section("webhook = \"https://hooks.example/T0/B0/secret\"").unwrap_err();
        assert!(literal.contains("webhook_env"), "{literal}");
        assert!(!literal.contains("secret\""), "{literal}");
        assert!(section("on = \"fail\"").unwrap_err().contains("'fail'"));
        let env = section("webhook_env = \"https://h.example/T/B/hunter2\"").unwrap_err();
        assert!(!env.contains("hunter2"), "{env}");
        let file = section("webhook_file = \"https://h.example/T/B/hunter2\"").unwrap_err();
        assert!(!file.contains("hunter2"), "{file}");
        assert!(section("webhook_env = \"A\"\nwebhook_file = \"f\"").is_err());
        assert!(section("timeout = \"0s\"").is_err());
        assert!(section("timeout = \"2h\"").is_err());
        assert!(section("retries = 11").is_err());
        assert!(section("command = \" \"").is_err());
        assert!(section("url = \"x\"").is_err());
    }

    #[test]
    fn commands_are_shown_without_url_paths() {
        assert_eq!(
            shown_command("curl -d @- https://hooks.slack.com/services/T/B/hunter2 && echo ok"),
            "curl -d @- https://hooks.slack.com/… && echo ok"
        );
        assert_eq!(shown_command("mail -s 'a b' x@y"), "mail -s 'a b' x@y");
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let mut a = section("command = \"a\"\nretries = 1").unwrap();
        a.merge(section("webhook_env = \"H\"\nretries = 3").unwrap());
        assert_eq!(a.command.as_deref(), Some("a"));
        assert_eq!(a.retries, Some(3));
        assert!(a.webhook.is_some());
    }

    #[test]
    fn webhook_urls_must_be_encrypted_unless_local() {
        assert!(webhook_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(webhook_url("http://127.0.0.1:9/hook").is_ok());
        assert!(webhook_url("http://[::1]:9/hook").is_ok());
        assert!(webhook_url("http://localhost/hook").is_ok());
        let plain = webhook_url("http://hooks.example.com/T/B/topsecret").unwrap_err();
        assert!(plain.contains("hooks.example.com"), "{plain}");
        assert!(!plain.contains("topsecret"), "{plain}");
        assert!(webhook_url("ftp://x/y").unwrap_err().contains("'ftp'"));
        let bad = webhook_url("not a url topsecret").unwrap_err();
        assert!(!bad.contains("topsecret"), "{bad}");
    }

    #[test]
    fn answers_never_show_the_credential() {
        let url = url::Url::parse("https://h.example/services/T1/B2/hunter2secret").unwrap();
        let long = format!(
            "Not found: {} /services/T1/B2/hunter2secret",
            "x".repeat(110)
        );
        let shown = answer_text(&long, &url).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            answer_text("invalid_token", &url).as_deref(),
            Some("invalid_token")
        );
        let encoded = url::Url::parse("https://h.example/services/T1/B2/%68unter2secret").unwrap();
        assert_eq!(answer_text("no hunter2secret here", &encoded), None);
        assert_eq!(answer_text("no %68unter2secret here", &encoded), None);
        assert_eq!(answer_text("no such hunter2secret", &url), None);
        assert_eq!(answer_text("\n", &url), None);
    }

    #[test]
    fn hide_blanks_the_credential() {
        let url = url::Url::parse("https://h.example/services/T1/B2/abc?token=zz").unwrap();
        let text = hide(
            "error for https://h.example/services/T1/B2/abc?token=zz and /services/T1/B2/abc",
            &url,
        );
        assert!(!text.contains("abc") && !text.contains("zz"), "{text}");
    }

    #[test]
    fn the_text_lists_failures_first() {
        let result = |name: &str, status| CheckResult {
            name: name.into(),
            kind: "threshold",
            status,
            observed: "1".into(),
            threshold: "min 2".into(),
            details: String::new(),
            source: "saasql.toml".into(),
            input_error: false,
            failures: None,
        };
        let results = [
            result("a", Status::Warn),
            result("b", Status::Pass),
            result("c", Status::Error),
        ];
        let origin = Origin {
            command: "saasql test",
            project: Some(Path::new("/srv/acme")),
            on_failure: None,
        };
        let p = payload(&results, Status::Error, origin);
        let text = p["text"].as_str().unwrap();
        assert!(
            text.starts_with("saasql checks: 1 failed, 1 warned (of 3) in acme: saasql test"),
            "{text}"
        );
        assert!(text.find("error c").unwrap() < text.find("warn a").unwrap());
        assert!(!text.contains(" b:"));
        assert_eq!(p["status"], "error");
        assert_eq!(p["summary"]["passed"], 1);
        assert_eq!(p["checks"].as_array().unwrap().len(), 3);
        assert!(p["time"].as_str().unwrap().ends_with('Z'));
    }
}
