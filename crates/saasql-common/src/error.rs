//! Errors of the `saasql` command and the exit codes they map to.
//!
//! Every failure travels up to `main` as a [`CliError`] and is printed there,
//! once, on stderr. The exit codes are documented in `saasql --help`.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::process::ExitCode;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// Why a table cannot be read; the error every query using it gets (exit
/// 3, its message as it is).
#[derive(Debug)]
pub struct UnreadableTable(pub String);

impl fmt::Display for UnreadableTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for UnreadableTable {}

/// Why `saasql` failed; the numeric value is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A query or data error: bad SQL, a type error, a failed execution.
    Query = 1,
    /// A usage error: bad flags, `--param`, config file contents.
    Usage = 2,
    /// An input file or table was not found or could not be read.
    Input = 3,
    /// An output could not be written.
    Output = 4,
    /// Interrupted by Ctrl-C outside the interactive shell.
    Interrupted = 130,
    /// Stopped by SIGTERM; temporary files were removed.
    Terminated = 143,
}

/// A failure of the `saasql` command.
#[derive(Debug)]
pub enum CliError {
    /// Whoever read our stdout went away (`saasql … | head`). Not an error:
    /// `saasql` stops quietly and exits 0.
    BrokenPipe,
    /// A real failure, reported once on stderr.
    Failed {
        /// The exit code.
        code: Code,
        /// `file:line` of the failing statement, if any.
        location: Option<String>,
        /// One line saying what went wrong.
        message: String,
        /// The failing statement's first line, shown under the message.
        statement: Option<String>,
    },
}

/// The result type of the command's functions.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// A failure with this exit code and message.
    /// Passwords in URLs (`scheme://user:secret@…`) are blanked out.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CliError::Failed {
            code,
            location: None,
            message: redact_secrets(&without_bug_report(&message.into())),
            statement: None,
        }
    }

    /// The exit code, for a failure.
    pub fn code(&self) -> Option<Code> {
        match self {
            CliError::Failed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The message alone, with its `file:line` if it has one (no
    /// `saasql: error:` prefix, no statement below it).
    pub fn message(&self) -> String {
        match self {
            CliError::Failed {
                location: Some(loc),
                message,
                ..
            } => format!("{loc}: {message}"),
            CliError::Failed { message, .. } => message.clone(),
            CliError::BrokenPipe => String::new(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    /// An input file or table that is missing or unreadable (exit 3).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Code::Input, message)
    }

    /// A query or data error (exit 1).
    pub fn query(message: impl Into<String>) -> Self {
        Self::new(Code::Query, message)
    }

    /// Interrupted by Ctrl-C (exit 130).
    pub fn interrupted() -> Self {
        Self::new(Code::Interrupted, "interrupted")
    }

    /// Stopped by SIGTERM (exit 143).
    pub fn terminated() -> Self {
        Self::new(Code::Terminated, "terminated")
    }

    /// Writing `what` failed. A broken pipe on stdout becomes [`CliError::BrokenPipe`].
    pub fn write(what: &str, err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            Self::new(Code::Output, format!("cannot write {what}: {err}"))
        }
    }

    /// A DataFusion error, classified: missing or unreadable inputs exit 3,
    /// everything else is a query error (exit 1).
    pub fn datafusion(err: &DataFusionError) -> Self {
        let mut current: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = current {
            // Its own message says it all (no "External error: " prefix).
            if let Some(unreadable) = e.downcast_ref::<UnreadableTable>() {
                return Self::new(Code::Input, unreadable.to_string());
            }
            current = e.source();
        }
        // Object storage: one line with the location and the cause, never
        // the store's request details.
        if let Some(message) = crate::storage::describe_error(err) {
            return Self::new(Code::Input, message);
        }
        let text = err.strip_backtrace();
        if WRITE_FAILURES.iter().any(|t| text.contains(t)) {
            // DataFusion drops the cause when a file writer fails to finish
            // (a full disk, most often); saasql's outputs are staged, so
            // nothing partial is left where readers look.
            return Self::new(
                Code::Output,
                "cannot write: a file writer failed while finishing its file, and DataFusion \
                 does not say why (is the disk full?)",
            );
        }
        let code = classify(err);
        if code == Code::Output
            && let Some(io) = find_io(err).map(innermost_io)
        {
            // A full disk: the cause, not the object store's wrapping of it.
            return Self::new(code, format!("cannot write: {io}"));
        }
        Self::new(code, one_line(&err.strip_backtrace()))
    }

    /// Prefixes the message with `context: `.
    pub fn context(self, context: impl fmt::Display) -> Self {
        match self {
            CliError::Failed {
                code,
                location,
                message,
                statement,
            } => CliError::Failed {
                code,
                location,
                message: redact_secrets(&format!("{context}: {message}")),
                statement,
            },
            other => other,
        }
    }

    /// Attaches the `file:line` of the failing statement and its first line
    /// (with any secret there blanked out, see [`redact_secrets`]).
    pub fn at(self, location: String, statement: Option<String>) -> Self {
        let statement = statement.map(|s| redact_secrets(&s));
        match self {
            CliError::Failed {
                code,
                message,
                location: None,
                ..
            } => CliError::Failed {
                code,
                location: Some(location),
                message,
                statement,
            },
            other => other,
        }
    }

    /// Prints the error once on stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        match self {
            CliError::BrokenPipe => ExitCode::SUCCESS,
            CliError::Failed { code, .. } => {
                eprint!("{self}");
                ExitCode::from(*code as u8)
            }
        }
    }
}

/// Renders the error as printed on stderr (with a trailing newline).
impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::BrokenPipe => Ok(()),
            CliError::Failed {
                location,
                message,
                statement,
                ..
            } => {
                match location {
                    Some(loc) => writeln!(f, "{loc}: error: {message}")?,
                    None => writeln!(f, "saasql: error: {message}")?,
                }
                if let Some(stmt) = statement {
                    writeln!(f, "  | {stmt}")?;
                }
                Ok(())
            }
        }
    }
}

/// A `SET` of a secret-looking key (`SET s3.secret_access_key = '…'`, which
/// is refused) with its value hidden, so the error does not repeat it;
/// other text as it is.
fn hide_set_secret(statement: &str) -> String {
    const SECRET: [&str; 6] = [
        "secret",
        "password",
        "token",
        "access_key",
        "account_key",
        "sas_key",
    ];
    let lower = statement.to_ascii_lowercase();
    if lower.trim_start().starts_with("set ") && SECRET.iter().any(|w| lower.contains(w)) {
        let cut = lower.find('=').or_else(|| lower.find(" to "));
        if let Some(cut) = cut {
            return format!("{} = … (value hidden)", statement[..cut].trim_end());
        }
    }
    statement.to_string()
}

impl From<DataFusionError> for CliError {
    fn from(err: DataFusionError) -> Self {
        CliError::datafusion(&err)
    }
}

/// DataFusion's texts for a file writer that failed without its cause.
const WRITE_FAILURES: [&str; 2] = [
    "Error encountered while finalizing writes!",
    "Error encountered during writing to ObjectStore and failed to abort all writers",
];

/// How DataFusion's closing sentence of an internal error starts: it asks
/// the user to report a bug upstream, and ends with the tracker's address.
const BUG_REPORT: &str = ". This issue was likely caused by a bug in DataFusion's code.";

/// Where the bug-report sentence that starts at `start` in `text` ends
/// (after the tracker's address), if it is one.
fn bug_report_end(text: &str, start: usize) -> Option<usize> {
    const TRACKER: &str = "issue tracker: ";
    let tracker = start + text[start..].find(TRACKER)? + TRACKER.len();
    let url_end = text[tracker..]
        .find(char::is_whitespace)
        .map_or(text.len(), |i| tracker + i);
    Some(url_end)
}

/// `message` without DataFusion's "Internal error: … bug report" wording:
/// saasql passes on problems of the data or the query that DataFusion
/// labels internal (an Arrow file without a footer, `sum` over text), so
/// the user sees the problem itself. A call that matches no signature keeps
/// only DataFusion's summary (`No function matches … 'sum(Utf8)' …
/// Candidate functions: sum(Decimal) …`), not the error of every candidate.
pub fn without_bug_report(message: &str) -> String {
    let mut text = message.to_string();
    // "Internal error: Function 'sum' failed to match any signature, errors:
    // …<bug report>. No function matches …": keep the part after it.
    while let Some(start) = text.find("Internal error: Function '")
        && let Some(report) = text[start..].find(BUG_REPORT).map(|i| start + i)
        && text[start..report].contains(" failed to match any signature")
        && let Some(end) = bug_report_end(&text, report)
    {
        let rest = text[end..].trim_start_matches(['.', ' ']);
        text = format!("{}{rest}", &text[..start]);
    }
    while let Some(report) = text.find(BUG_REPORT)
        && let Some(end) = bug_report_end(&text, report)
    {
        text = format!("{}{}", &text[..report], &text[end..]);
    }
    text.replace(" Internal error: ", " ")
        .replace("Internal error: ", "")
}

/// Joins a multi-line message into one line.
pub fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// `text` with the secrets in it blanked out (`***`): the password of
/// every `scheme://user:password@host` URL, every `password=` value, and
/// the value of a `SET` of a secret-looking key ([`hide_set_secret`]).
/// Every message and statement of a [`CliError`] passes through it.
pub fn redact_secrets(text: &str) -> String {
    let text = hide_set_secret(text);
    let text = text.as_str();
    let stop = |c: char| c.is_whitespace() || c == '\'' || c == '"';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(stop).unwrap_or(tail.len());
        let url = &tail[..end];
        match (url.find(':'), url.rfind('@')) {
            (Some(colon), Some(at)) if colon < at => {
                out.push_str(&url[..colon]);
                out.push_str(":***");
                out.push_str(&url[at..]);
            }
            _ => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // `password=secret` in a query string or a connection string.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let (head, tail) = rest.split_at(i + "password=".len());
        result.push_str(head);
        let end = tail
            .find(|c: char| stop(c) || c == '&')
            .unwrap_or(tail.len());
        if end > 0 {
            result.push_str("***");
        }
        rest = &tail[end..];
    }
    result.push_str(rest);
    result
}

/// Exit code for a DataFusion error: 3 when an input is missing or unreadable.
fn classify(err: &DataFusionError) -> Code {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(df) = e.downcast_ref::<DataFusionError>() {
            match df {
                DataFusionError::Plan(msg) if is_missing_table(msg) => return Code::Input,
                DataFusionError::ParquetError(_) => return Code::Input,
                // Corrupt data found while decoding a Parquet file.
                // … or an Arrow IPC file (a damaged or truncated `.arrow`).
                DataFusionError::ArrowError(arrow, _) if arrow_code(arrow).is_some() => {
                    return arrow_code(arrow).unwrap_or(Code::Input);
                }
                DataFusionError::ObjectStore(os) => {
                    if matches!(
                        **os,
                        datafusion::object_store::Error::NotFound { .. }
                            | datafusion::object_store::Error::PermissionDenied { .. }
                    ) {
                        return Code::Input;
                    }
                }
                DataFusionError::IoError(io) => return io_code(io),
                _ => {}
            }
        } else if let Some(code) = e.downcast_ref::<ArrowError>().and_then(arrow_code) {
            return code;
        } else if e.downcast_ref::<ParquetError>().is_some()
            || e.downcast_ref::<UnreadableTable>().is_some()
        {
            return Code::Input;
        } else if let Some(io) = e.downcast_ref::<io::Error>() {
            return io_code(io);
        }
        current = e.source();
    }
    Code::Query
}

/// The io::Error somewhere in an error's source chain, if any.
pub fn find_io<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        if let Some(DataFusionError::IoError(io)) = e.downcast_ref::<DataFusionError>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

/// The exit code of an Arrow error found while reading or writing files:
/// corrupt Parquet or Arrow IPC data is an input error, a full disk an
/// output error; `None` for other Arrow errors (casts, arithmetic).
fn arrow_code(err: &ArrowError) -> Option<Code> {
    match err {
        ArrowError::ParquetError(_) | ArrowError::IpcError(_) => Some(Code::Input),
        ArrowError::IoError(_, io) => Some(match io_code(io) {
            Code::Output => Code::Output,
            _ => Code::Input,
        }),
        _ => None,
    }
}

/// The innermost io::Error that `err` wraps (object_store's local store
/// wraps the operating system's error in one of its own), else `err`.
fn innermost_io(err: &io::Error) -> &io::Error {
    let mut innermost = err;
    let mut current: Option<&(dyn StdError + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            innermost = io;
            current = io.get_ref().map(|e| e as _);
        } else {
            current = e.source();
        }
    }
    innermost
}

fn io_code(err: &io::Error) -> Code {
    match innermost_io(err).kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Code::Input,
        // Only writing fails these ways: a full disk during an output.
        io::ErrorKind::StorageFull
        | io::ErrorKind::QuotaExceeded
        | io::ErrorKind::FileTooLarge
        | io::ErrorKind::ReadOnlyFilesystem => Code::Output,
        _ => Code::Query,
    }
}

/// DataFusion's message for an unknown table: `table 'x' not found`, maybe
/// followed by a suggestion or the no-data-directory hint.
fn is_missing_table(msg: &str) -> bool {
    msg.starts_with("table '") && (msg.ends_with("' not found") || msg.contains("' not found. "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DataFusion's internal-error wording goes; what it says of the data
    /// or the query stays.
    #[test]
    fn bug_report_wording_is_removed() {
        let tracker = "https://tracker.example/issues";
        let report = format!(
            "{BUG_REPORT} Please help us to resolve this by filing a bug report in our issue \
             tracker: {tracker}"
        );
        assert_eq!(
            without_bug_report(&format!(
                "table 't' cannot be read: Internal error: Failed to parse Arrow file{report}"
            )),
            "table 't' cannot be read: Failed to parse Arrow file"
        );
        assert_eq!(
            without_bug_report(&format!(
                "Error during planning: Internal error: Function 'sum' failed to match any \
                 signature, errors: Error during planning: Function 'sum' requires Int64, but \
                 received String (DataType: Utf8).{report}. No function matches the given name \
                 and argument types 'sum(Utf8)'."
            )),
            "Error during planning: No function matches the given name and argument types \
             'sum(Utf8)'."
        );
        assert_eq!(
            without_bug_report("nps: score 11 is outside 0..10"),
            "nps: score 11 is outside 0..10"
        );
    }
}
