//! What an output path may replace, and how outputs are put in place.
//!
//! The rules (docs/command.md, "Outputs"):
//!
//! * a missing path or a regular file is written under a temporary name in
//!   the same folder and renamed over the destination, so readers see the
//!   old file or the new one, never a part;
//! * a symbolic link is followed (through chains of links) and its target is
//!   replaced the same way; the link stays;
//! * a character or block device or a FIFO is opened and written in place,
//!   streaming, as `psql -o` and DuckDB do; a Unix socket is connected to;
//! * nothing else is ever renamed over: a folder is replaced only by a batch
//!   folder output, and only when it holds nothing but files that look like
//!   that output's own (see [`check_replaceable_folder`]);
//! * no output may replace or write into what the command reads: a table's
//!   files or the SQL files being run ([`check_output`], for `run --output`,
//!   the shell's `\o`, `COPY … TO` and batch outputs alike).
//!
//! Temporaries are named `.NAME.saasql-PID-XXXXXX.tmp` in the destination's
//! folder (a batch journal's too, beside the job file); [`sweep`] removes
//! those whose process is gone, so a run killed by `kill -9` leaves nothing
//! behind after the next run into that folder (or of that job).
//!
//! A batch job commits all its outputs or none ([`Journal`]): each output is
//! staged in its own temporary folder; then a journal next to the job file
//! records the plan, and each staged output is swapped with its destination
//! by one atomic `renameat2(RENAME_EXCHANGE)` (Linux), so each destination is
//! at every moment entirely old or entirely new. The journal's state says
//! whether the commit finished; the next run of the job rolls an unfinished
//! one back (swapping again where the inode shows a swap happened).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::datasource::{ViewTable, source_as_provider};
use datafusion::logical_expr::LogicalPlan;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use tempfile::{NamedTempFile, TempDir};

use super::error::{CliError, CliResult, Code};

/// How many symbolic links are followed before giving up (as Linux does).
const MAX_LINKS: usize = 40;

/// Where an output path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Nothing there yet: create it (atomically).
    New(PathBuf),
    /// A regular file: replace it atomically.
    File(PathBuf),
    /// A folder (only batch folder outputs may replace one, after a check).
    Folder(PathBuf),
    /// A device or FIFO: write in place.
    Stream(PathBuf),
    /// A Unix socket: connect and write.
    Socket(PathBuf),
}

impl Destination {
    /// The real path (after following links).
    pub fn path(&self) -> &Path {
        match self {
            Destination::New(p)
            | Destination::File(p)
            | Destination::Folder(p)
            | Destination::Stream(p)
            | Destination::Socket(p) => p,
        }
    }
}

/// Follows `path` through symbolic links and says what is at the end.
pub fn resolve(path: &Path) -> io::Result<Destination> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(m) => m,
            // `/dev/stdout` into a pipe ends in `/proc/self/fd/1` → `pipe:[N]`,
            // a link the kernel follows to the pipe though its text names no
            // file: write into the pipe through the path given.
            Err(e) if e.kind() == io::ErrorKind::NotFound && current != path => {
                return Ok(match fs::metadata(path) {
                    Ok(m) if m.file_type().is_fifo() => Destination::Stream(path.to_path_buf()),
                    _ => Destination::New(current),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Destination::New(current)),
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&current)?;
            current = match current.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
            continue;
        }
        return Ok(if kind.is_file() {
            Destination::File(current)
        } else if kind.is_dir() {
            Destination::Folder(current)
        } else if kind.is_socket() {
            Destination::Socket(current)
        } else {
            // Character and block devices, FIFOs.
            Destination::Stream(current)
        });
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} levels of symbolic links"
    )))
}

/// The folder a path's temporaries go in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.saasql-PID-` — the start of a temporary's name for `path`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    format!(".{name}.saasql-{}-", std::process::id())
}

/// The process id in a temporary's name, if `name` is one of ours.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = rest.rsplit_once(".saasql-")?;
    let pid = tail.split_once('-').map_or(tail, |(pid, _)| pid);
    pid.parse().ok()
}

/// Whether process `pid` is running. Unknown (no `/proc`) counts as running,
/// so nothing is removed that might be in use.
pub fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Whether process `pid` is running and is a saasql (so a journal whose
/// process id was reused by another program is still recovered). Unknown
/// counts as yes.
fn alive_saasql(pid: u32) -> bool {
    match fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")) {
        Ok(cmdline) => cmdline.windows(6).any(|w| w == b"saasql"),
        Err(_) => alive(pid),
    }
}

/// Removes the temporaries in `dir` that processes no longer running left
/// behind (killed runs), except those a pending batch journal still needs.
/// Returns how many were removed. Errors are ignored: this is tidying.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        let path = entry.path();
        // A journal still needs the folder; a relative journal path (older
        // versions wrote them) cannot be checked from here, so it is kept.
        if let Ok(journal) = fs::read_to_string(path.join(PENDING_MARK))
            && (Path::new(journal.trim()).is_relative() || Path::new(journal.trim()).exists())
        {
            continue;
        }
        if remove_path(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes a file or folder tree; a missing path is fine.
pub fn remove_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Flushes a folder's entries (renames) to disk; best effort.
fn sync_folder(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

fn output_error(path: &Path, message: impl std::fmt::Display) -> CliError {
    CliError::new(
        Code::Output,
        format!("cannot write {}: {message}", path.display()),
    )
}

/// A single-file output (`saasql run --output`): a temporary file renamed
/// over a regular file, or a device, FIFO or socket written in place.
#[derive(Debug)]
pub struct OutputFile {
    /// The path the user gave, for messages.
    shown: PathBuf,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Replace {
        dest: PathBuf,
        tmp: BufWriter<NamedTempFile>,
    },
    Stream(BufWriter<File>),
    Socket(BufWriter<UnixStream>),
    /// An object-storage URL: written to a local temporary file, uploaded
    /// when committed. The upload is one (multipart) request that only
    /// creates the object when complete, so readers never see a part.
    Upload {
        store: Arc<dyn ObjectStore>,
        object: ObjectPath,
        tmp: BufWriter<NamedTempFile>,
    },
}

impl OutputFile {
    /// Opens `path` for writing by the rules of this module. Stale
    /// temporaries of killed runs in its folder are removed first. A FIFO
    /// without a reader blocks the thread until one comes: async code uses
    /// [`Self::open`].
    pub fn create(path: &Path) -> CliResult<Self> {
        let dest = resolve(path).map_err(|e| output_error(path, e))?;
        let sink = match dest {
            Destination::New(dest) | Destination::File(dest) => {
                let dir = folder_of(&dest);
                sweep(&dir);
                let mode = fs::metadata(&dest)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0o644);
                let tmp = tempfile::Builder::new()
                    .prefix(&temp_prefix(&dest))
                    .suffix(".tmp")
                    .permissions(Permissions::from_mode(mode & 0o7777))
                    .tempfile_in(&dir)
                    .map_err(|e| output_error(path, e))?;
                Sink::Replace {
                    dest,
                    tmp: BufWriter::new(tmp),
                }
            }
            Destination::Stream(dev) => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&dev)
                    .map_err(|e| output_error(path, e))?;
                Sink::Stream(BufWriter::new(file))
            }
            Destination::Socket(sock) => {
                let stream = UnixStream::connect(&sock).map_err(|e| output_error(path, e))?;
                Sink::Socket(BufWriter::new(stream))
            }
            Destination::Folder(_) => {
                return Err(output_error(path, "it is a directory"));
            }
        };
        Ok(OutputFile {
            shown: path.to_path_buf(),
            sink,
        })
    }

    /// [`Self::create`], but a FIFO is waited for without blocking: until a
    /// reader opens it, the task yields (so Ctrl-C and SIGTERM still stop
    /// the command, see [`open_stream`]).
    pub async fn open(path: &Path) -> CliResult<Self> {
        match resolve(path).map_err(|e| output_error(path, e))? {
            Destination::Stream(dev) => {
                let file = open_stream(&dev).await.map_err(|e| output_error(path, e))?;
                Ok(OutputFile {
                    shown: path.to_path_buf(),
                    sink: Sink::Stream(BufWriter::new(file)),
                })
            }
            _ => Self::create(path),
        }
    }

    /// Opens `path` for writing: an object-storage URL (see
    /// [`saasql_common::storage`]) through `ctx`'s stores, else as [`Self::open`].
    pub async fn create_in(ctx: &SessionContext, path: &Path) -> CliResult<Self> {
        let text = path.to_string_lossy();
        if !saasql_common::storage::is_url(&text) {
            return Self::open(path).await;
        }
        let fail = |e: datafusion::error::DataFusionError| {
            CliError::new(
                Code::Output,
                format!(
                    "cannot write {text}: {}",
                    saasql_common::storage::describe_error(&e)
                        .unwrap_or_else(|| super::error::one_line(&e.strip_backtrace()))
                ),
            )
        };
        if text.ends_with('/') {
            return Err(output_error(
                path,
                "it names a folder; name the object to write",
            ));
        }
        let url = ListingTableUrl::parse(&text).map_err(fail)?;
        let store = ctx
            .runtime_env()
            .object_store(url.object_store())
            .map_err(fail)?;
        let tmp = tempfile::Builder::new()
            .prefix(".saasql-upload-")
            .suffix(".tmp")
            .tempfile()
            .map_err(|e| output_error(path, e))?;
        Ok(OutputFile {
            shown: path.to_path_buf(),
            sink: Sink::Upload {
                store,
                object: url.prefix().clone(),
                tmp: BufWriter::new(tmp),
            },
        })
    }

    /// The path as given, for messages.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Flushes, and for a replaced file syncs it and renames it into place.
    /// Dropped without a commit, a temporary file is removed and the
    /// destination is untouched.
    pub fn commit(self) -> CliResult<()> {
        let what = self.shown.display().to_string();
        match self.sink {
            Sink::Replace { dest, tmp } => {
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| CliError::write(&what, e.error()))?;
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| CliError::write(&what, &e))?;
                tmp.persist(&dest)
                    .map_err(|e| CliError::write(&what, &e.error))?;
                sync_folder(&folder_of(&dest));
                Ok(())
            }
            Sink::Stream(mut w) => w.flush().map_err(|e| CliError::write(&what, &e)),
            Sink::Socket(mut w) => w.flush().map_err(|e| CliError::write(&what, &e)),
            Sink::Upload { store, object, tmp } => {
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| CliError::write(&what, e.error()))?;
                let upload = upload(store, object, tmp.path().to_path_buf());
                // Commits run inside the command's multi-threaded runtime.
                let result = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(upload)
                });
                result.map_err(|e| {
                    CliError::new(
                        Code::Output,
                        format!(
                            "cannot write {what}: {}",
                            saasql_common::storage::describe_store_error(&e)
                        ),
                    )
                })
            }
        }
    }
}

/// Opens a device or FIFO for writing without blocking the thread: the
/// open is non-blocking (a FIFO without a reader fails with ENXIO, and is
/// tried again every 50 ms, yielding in between), then the file is made
/// blocking again for the writes.
async fn open_stream(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags, fcntl_getfl, fcntl_setfl};
    use rustix::io::Errno;
    loop {
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => {
                let flags = fcntl_getfl(&fd)?;
                fcntl_setfl(&fd, flags.difference(OFlags::NONBLOCK))?;
                return Ok(File::from(fd));
            }
            // ENXIO: a FIFO without a reader (wait for one); for a device
            // (`/dev/tty` without a terminal) it is the answer.
            Err(Errno::NXIO) if is_fifo(path) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `path` is a named pipe (FIFO).
fn is_fifo(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Uploads the file at `local` as `object`, in parts; the object appears
/// only when every part is in.
pub async fn upload(
    store: Arc<dyn ObjectStore>,
    object: ObjectPath,
    local: PathBuf,
) -> Result<(), datafusion::object_store::Error> {
    use std::io::Read;
    let io_err = |e: io::Error| datafusion::object_store::Error::Generic {
        store: "upload",
        source: Box::new(e),
    };
    let mut file = File::open(&local).map_err(io_err)?;
    let mut writer =
        datafusion::object_store::WriteMultipart::new(store.put_multipart(&object).await?);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(io_err(e));
            }
        };
        // At most a few parts in flight.
        writer.wait_for_capacity(4).await?;
        writer.write(&buffer[..n]);
    }
    writer.finish().await?;
    Ok(())
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Replace { tmp, .. } => tmp.write(buf),
            Sink::Stream(w) => w.write(buf),
            Sink::Socket(w) => w.write(buf),
            Sink::Upload { tmp, .. } => tmp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Replace { tmp, .. } => tmp.flush(),
            Sink::Stream(w) => w.flush(),
            Sink::Socket(w) => w.flush(),
            Sink::Upload { tmp, .. } => tmp.flush(),
        }
    }
}

/// The name of the marker a staged folder gets while a journal needs it:
/// its content is the journal's path, and [`sweep`] leaves the folder alone
/// while that journal exists.
const PENDING_MARK: &str = ".saasql-pending";

/// A staged batch output: a temporary folder next to the destination, in
/// which the output is written as `TMP/NAME` (a file or a folder).
#[derive(Debug)]
pub struct Staged {
    dir: TempDir,
    dest: PathBuf,
}

impl Staged {
    /// Stages an output for `dest` (a resolved destination path; its parent
    /// folders are created).
    pub fn new(dest: &Path) -> CliResult<Self> {
        // Absolute: the journal is read by later runs from any folder, and on
        // a cluster the executors write the output from their own.
        let dest = &std::path::absolute(dest).map_err(|e| output_error(dest, e))?;
        let dir = folder_of(dest);
        fs::create_dir_all(&dir).map_err(|e| output_error(dest, e))?;
        sweep(&dir);
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(dest))
            .suffix(".tmp")
            .tempdir_in(&dir)
            .map_err(|e| output_error(dest, e))?;
        Ok(Staged {
            dir: tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Where the output is to be written.
    pub fn path(&self) -> PathBuf {
        let name = self.dest.file_name().unwrap_or_else(|| "output".as_ref());
        self.dir.path().join(name)
    }
}

/// One output of a batch commit, as the journal records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The destination.
    dest: PathBuf,
    /// The staged output (`TMP/NAME`).
    staged: PathBuf,
    /// The staging folder (`TMP`), removed at the end.
    folder: PathBuf,
    /// Whether the destination existed (and so is swapped, not created).
    existed: bool,
    /// The staged output's device and inode: after the swap the destination
    /// has them, which is how a recovery tells a swapped entry.
    dev: u64,
    ino: u64,
}

/// A batch commit's journal, written next to the job file as
/// `.JOB.saasql-journal`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    /// The committing process.
    pid: u32,
    /// `commit` while outputs are being swapped in, `done` after.
    state: String,
    /// The outputs, in commit order.
    entries: Vec<Entry>,
}

/// The journal file of the job at `job`.
pub fn journal_path(job: &Path) -> PathBuf {
    let name = job
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job".into());
    folder_of(job).join(format!(".{name}.saasql-journal"))
}

/// Writes `journal` to `path` atomically and durably.
fn write_journal(path: &Path, journal: &Journal) -> io::Result<()> {
    let text = toml::to_string(journal).map_err(io::Error::other)?;
    let dir = folder_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_folder(&dir);
    Ok(())
}

/// Swaps two paths atomically (both must exist).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// Swaps two paths through a third name (not atomic: off Linux there is a
/// moment in which `b` is missing).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let mut aside = b.as_os_str().to_owned();
    aside.push(".saasql-swap");
    let aside = PathBuf::from(aside);
    fs::rename(b, &aside)?;
    fs::rename(a, b)?;
    fs::rename(&aside, a)
}

/// A pause before each swap, for the crash tests only
/// (`SAASQL_TEST_COMMIT_PAUSE_MS`): it widens the window in which a killed
/// commit must still leave every output old or new.
fn test_pause() {
    if let Some(ms) = std::env::var("SAASQL_TEST_COMMIT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Puts every staged output in place, all or nothing, journaled at
/// `journal_file`. On an error midway, the outputs already swapped are
/// swapped back before the error is returned.
pub fn commit_all(journal_file: &Path, staged: Vec<Staged>) -> CliResult<()> {
    let mut entries = vec![];
    let mut folders = vec![];
    for s in staged {
        let path = s.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| output_error(&s.dest, e))?;
        let existed = fs::symlink_metadata(&s.dest).is_ok();
        // Absolute paths: the next run, which may recover this commit, may
        // start in another folder.
        let absolute = |p: &Path| std::path::absolute(p).map_err(|e| output_error(&s.dest, e));
        entries.push(Entry {
            dest: absolute(&s.dest)?,
            staged: absolute(&path)?,
            folder: absolute(s.dir.path())?,
            existed,
            dev: meta.dev(),
            ino: meta.ino(),
        });
        // From here the journal owns the folder: it must survive this process.
        fs::write(
            s.dir.path().join(PENDING_MARK),
            absolute(journal_file)?.display().to_string(),
        )
        .map_err(|e| output_error(&s.dest, e))?;
        folders.push(s.dir.keep());
    }
    let mut journal = Journal {
        pid: std::process::id(),
        state: "commit".into(),
        entries,
    };
    let journal_error = |e: io::Error| output_error(journal_file, e);
    if let Err(e) = write_journal(journal_file, &journal) {
        // Nothing was swapped: the staged outputs go, the old ones stay.
        for entry in &journal.entries {
            let _ = remove_path(&entry.folder);
        }
        return Err(journal_error(e));
    }
    for (i, e) in journal.entries.iter().enumerate() {
        test_pause();
        let result = if e.existed {
            exchange(&e.staged, &e.dest)
        } else {
            fs::rename(&e.staged, &e.dest)
        };
        if let Err(err) = result {
            let undo = rollback(&journal.entries[..i]);
            let _ = fs::remove_file(journal_file);
            let mut msg = err.to_string();
            if let Err(u) = undo {
                msg.push_str(&format!(
                    "; rolling back the outputs already in place also failed: {u}"
                ));
            }
            return Err(output_error(&e.dest, msg));
        }
        sync_folder(&folder_of(&e.dest));
    }
    journal.state = "done".into();
    write_journal(journal_file, &journal).map_err(journal_error)?;
    finish(journal_file, &journal.entries).map_err(journal_error)
}

/// After a finished commit: removes the staging folders (now holding the
/// old outputs) and the journal.
fn finish(journal_file: &Path, entries: &[Entry]) -> io::Result<()> {
    for e in entries {
        remove_path(&e.folder)?;
    }
    fs::remove_file(journal_file)
}

/// Undoes the swaps of `entries` (in reverse order); idempotent, so a crash
/// during a rollback is rolled back again by the next run.
fn rollback(entries: &[Entry]) -> io::Result<()> {
    for e in entries.iter().rev() {
        let swapped =
            fs::symlink_metadata(&e.dest).is_ok_and(|m| m.dev() == e.dev && m.ino() == e.ino);
        if swapped {
            if e.existed {
                // The old output sits at `staged`: swap it back.
                exchange(&e.staged, &e.dest)?;
            } else {
                remove_path(&e.dest)?;
            }
        }
        remove_path(&e.folder)?;
    }
    Ok(())
}

/// Finishes or rolls back the commit a killed run of the job left in
/// `journal_file`. Returns a note for stderr when there was one.
/// Then temporaries of killed runs beside the job file (the journal's own,
/// left by a `kill -9` while it was written) are removed.
pub fn recover(journal_file: &Path) -> CliResult<Option<String>> {
    let recovered = recover_journal(journal_file)?;
    // Only now: until the journal is handled its staged folders are needed.
    sweep(&folder_of(journal_file));
    Ok(recovered)
}

/// Finishes or rolls back the commit that `journal_file` records, if any.
fn recover_journal(journal_file: &Path) -> CliResult<Option<String>> {
    let text = match fs::read_to_string(journal_file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(output_error(journal_file, e)),
    };
    let journal: Journal = toml::from_str(&text).map_err(|e| {
        output_error(
            journal_file,
            format!(
                "unreadable journal of an interrupted run ({}); check the outputs, then delete it",
                e.message().trim()
            ),
        )
    })?;
    if journal.pid != std::process::id() && alive_saasql(journal.pid) {
        return Err(CliError::new(
            Code::Output,
            format!(
                "another saasql (process {}) is committing this job's outputs ({})",
                journal.pid,
                journal_file.display()
            ),
        ));
    }
    let fail =
        |e: io::Error| output_error(journal_file, format!("recovering an interrupted run: {e}"));
    if journal.state == "done" {
        finish(journal_file, &journal.entries).map_err(fail)?;
        return Ok(Some(format!(
            "finished the commit of an interrupted run (process {}): its outputs are in place",
            journal.pid
        )));
    }
    rollback(&journal.entries).map_err(fail)?;
    fs::remove_file(journal_file).map_err(fail)?;
    Ok(Some(format!(
        "rolled back the commit of an interrupted run (process {}): its outputs are as they were before it",
        journal.pid
    )))
}

/// Checks that a batch folder output may replace the folder `dir`: every
/// file in it (at any depth) has one of `extensions` (or is a temporary of
/// a killed saasql, see [`sweep`]), and every sub-folder is a `key=value`
/// partition. Anything else, hidden files included (`.env`), means the
/// folder is not an earlier output of this kind, and is refused.
pub fn check_replaceable_folder(dir: &Path, extensions: &[&str]) -> Result<(), String> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", d.display()))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if kind.is_dir() && name.contains('=') {
                stack.push(path);
            } else if kind.is_file()
                && (temp_owner(&name).is_some()
                    || extensions
                        .iter()
                        .any(|ext| name.to_ascii_lowercase().ends_with(&format!(".{ext}"))))
            {
            } else {
                return Err(format!(
                    "it holds {}, which is not an output file of this format",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

/// `path` made absolute, with symbolic links resolved as far as the path
/// exists and `.`/`..` removed from the rest: two paths that name the same
/// place give the same result.
pub fn real_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = vec![];
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            let mut out = real;
            for c in missing.iter().rev() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other.as_os_str()),
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                missing.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Whether `a` is `b` or a folder that contains it.
pub fn contains(a: &Path, b: &Path) -> bool {
    b.starts_with(a)
}

/// Where a location is, as a path [`contains`] can compare: a local path
/// made real with [`real_path`], or an object-storage URL as the
/// pseudo-path `/<scheme>:/<bucket>/<key>`, so that one containment test
/// covers both kinds.
pub fn place(location: &Path) -> PathBuf {
    let text = location.to_string_lossy();
    match text.split_once("://") {
        Some((scheme, rest)) if saasql_common::storage::is_url(&text) => {
            PathBuf::from(format!("/{scheme}:/{}", rest.trim_end_matches('/')))
        }
        Some(("file", rest)) => real_path(Path::new(rest)),
        _ => real_path(location),
    }
}

/// Every place the session's tables read (local folders, files, the fixed
/// part of a glob, and bucket prefixes): its [`place`] and how to show it.
pub async fn input_paths(ctx: &SessionContext) -> Vec<(PathBuf, String)> {
    let mut paths = vec![];
    for schema in super::tables::schemas(ctx) {
        for name in schema.table_names() {
            let Ok(Some(table)) = schema.table(&name).await else {
                continue;
            };
            if let Some(listing) = table.downcast_ref::<ListingTable>() {
                listing_places(listing, &mut paths);
            } else if let Some(view) = table.downcast_ref::<ViewTable>() {
                paths.extend(plan_inputs(view.logical_plan()));
            }
        }
    }
    // Tables that cannot be read are inputs too (their files are someone's).
    for location in super::tables::unreadable_locations(ctx) {
        if !saasql_common::storage::is_url(&location) {
            let real = real_path(Path::new(location.trim_end_matches('/')));
            let shown = real.display().to_string();
            paths.push((real, shown));
        }
    }
    paths
}

/// The places the tables `plan` scans read, as [`input_paths`] gives them:
/// with the tables a query names by their location (`FROM 'x.csv'`), which
/// are not registered.
pub fn plan_inputs(plan: &LogicalPlan) -> Vec<(PathBuf, String)> {
    let mut paths = vec![];
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
        {
            if let Some(listing) = provider.downcast_ref::<ListingTable>() {
                listing_places(listing, &mut paths);
            } else if let Some(view) = provider.downcast_ref::<ViewTable>() {
                // Views are planned as scans of themselves, not inlined.
                paths.extend(plan_inputs(view.logical_plan()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    paths
}

/// Adds the places `listing` reads to `paths`.
fn listing_places(listing: &ListingTable, paths: &mut Vec<(PathBuf, String)>) {
    for url in listing.table_paths() {
        if url.scheme() == "file" {
            let path = PathBuf::from(format!("/{}", url.prefix()));
            let real = real_path(&path);
            let shown = real.display().to_string();
            paths.push((real, shown));
        } else {
            let store = url.object_store();
            let location = format!("{}{}", store.as_str(), url.prefix());
            paths.push((place(Path::new(&location)), location));
        }
    }
}

/// Why an output at `path` would replace or write into a table `plan`
/// scans ([`plan_inputs`], [`overlap`]).
pub fn plan_overlap(path: &Path, plan: &LogicalPlan) -> Option<String> {
    overlap(&place(path), &plan_inputs(plan), &[])
}

/// Why an output at `real` (its [`place`]) would destroy what the command
/// reads: it is or contains one of the SQL files `sources`, or it is,
/// contains or lies inside one of the `inputs` ([`input_paths`]).
pub fn overlap(real: &Path, inputs: &[(PathBuf, String)], sources: &[PathBuf]) -> Option<String> {
    for sql in sources {
        if contains(real, &real_path(sql)) {
            return Some(format!("would replace its SQL file {}", sql.display()));
        }
    }
    for (input, shown) in inputs {
        if contains(real, input) || contains(input, real) {
            return Some(format!("overlaps the input {shown}"));
        }
    }
    None
}

/// The refusal of an output (`what`: `output 'daily'`, `--output`, `\o`,
/// `COPY`) at `path`, for the reason `why` (a usage error, exit 2).
pub fn refuse(what: &str, path: &Path, why: &str) -> CliError {
    CliError::usage(format!(
        "{what}: path {} {why}; nothing was written",
        path.display()
    ))
}

/// Refuses an output at `path` that would replace or write into a table of
/// the session or one of the SQL files `sources` being run ([`overlap`]).
pub async fn check_output(
    ctx: &SessionContext,
    what: &str,
    path: &Path,
    sources: &[PathBuf],
) -> CliResult<()> {
    let inputs = input_paths(ctx).await;
    match overlap(&place(path), &inputs, sources) {
        Some(why) => Err(refuse(what, path, &why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_process() {
        let prefix = temp_prefix(Path::new("out/report.csv"));
        assert_eq!(
            temp_owner(&format!("{prefix}Ab12Cd.tmp")),
            Some(std::process::id())
        );
        assert_eq!(temp_owner(".a.b.saasql-12-x.tmp"), Some(12));
        assert_eq!(temp_owner("report.csv"), None);
        assert_eq!(temp_owner(".report.csv.saasql-x-1.tmp"), None);
    }

    #[test]
    fn resolve_follows_links_and_names_kinds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f.csv");
        fs::write(&file, "x").expect("write");
        let link = dir.path().join("l.csv");
        std::os::unix::fs::symlink("f.csv", &link).expect("symlink");
        let chain = dir.path().join("c.csv");
        std::os::unix::fs::symlink(&link, &chain).expect("symlink");
        assert_eq!(resolve(&chain).expect("resolve"), Destination::File(file));
        let dangling = dir.path().join("d.csv");
        std::os::unix::fs::symlink("nowhere/x.csv", &dangling).expect("symlink");
        assert_eq!(
            resolve(&dangling).expect("resolve"),
            Destination::New(dir.path().join("nowhere/x.csv"))
        );
        assert!(matches!(
            resolve(Path::new("/dev/null")).expect("resolve"),
            Destination::Stream(_)
        ));
        assert!(matches!(
            resolve(dir.path()).expect("resolve"),
            Destination::Folder(_)
        ));
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink("loop", &looped).expect("symlink");
        assert!(resolve(&looped).is_err());
    }

    #[test]
    fn real_path_normalises_missing_parts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(real_path(&dir.path().join("a/../b/./c")), real.join("b/c"));
        assert!(contains(&real, &real_path(&dir.path().join("x/y"))));
        assert!(!contains(&real.join("x"), &real));
    }

    #[test]
    fn overlap_names_sql_files_and_inputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = fs::canonicalize(dir.path()).expect("canonical");
        let sql = dir.path().join("q.sql");
        fs::write(&sql, "SELECT 1;").expect("write");
        let inputs = vec![
            (real.join("dd/t.parquet"), "dd/t.parquet".to_string()),
            (place(Path::new("s3://b/k/")), "s3://b/k/".to_string()),
        ];
        let why = |p: &Path| overlap(&place(p), &inputs, std::slice::from_ref(&sql));
        assert!(
            why(&sql)
                .expect("refused")
                .starts_with("would replace its SQL file")
        );
        for inside in [
            dir.path().join("dd"),
            dir.path().join("dd/t.parquet"),
            dir.path().join("x/../dd/t.parquet"),
            PathBuf::from(format!("file://{}/dd/t.parquet", real.display())),
            PathBuf::from("s3://b/k/x.csv"),
        ] {
            assert_eq!(
                why(&inside).as_deref(),
                Some(if inside.starts_with("s3:") {
                    "overlaps the input s3://b/k/"
                } else {
                    "overlaps the input dd/t.parquet"
                }),
                "{}",
                inside.display()
            );
        }
        assert_eq!(why(&dir.path().join("dd2/t.parquet")), None);
        assert_eq!(why(Path::new("s3://b/k2")), None);
    }

    #[test]
    fn folder_check_accepts_only_output_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("month=3")).expect("mkdir");
        fs::write(dir.path().join("month=3/a.parquet"), "").expect("write");
        fs::write(dir.path().join(".a.parquet.saasql-999999999-x1.tmp"), "").expect("write");
        assert_eq!(check_replaceable_folder(dir.path(), &["parquet"]), Ok(()));
        fs::write(dir.path().join(".env"), "").expect("write");
        assert!(
            check_replaceable_folder(dir.path(), &["parquet"])
                .expect_err("refused")
                .contains(".env")
        );
        fs::remove_file(dir.path().join(".env")).expect("remove");
        fs::write(dir.path().join("notes.txt"), "").expect("write");
        assert!(
            check_replaceable_folder(dir.path(), &["parquet"])
                .expect_err("refused")
                .contains("notes.txt")
        );
    }

    /// Swaps two staged outputs in, then rolls back: both destinations are
    /// as before, and the staging folders are gone.
    #[test]
    fn rollback_restores_swapped_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b");
        fs::write(&a, "old a").expect("write");
        let sa = Staged::new(&a).expect("stage");
        let sb = Staged::new(&b).expect("stage");
        fs::write(sa.path(), "new a").expect("write");
        fs::create_dir(sb.path()).expect("mkdir");
        fs::write(sb.path().join("x.csv"), "new b").expect("write");
        let journal = dir.path().join(".job.saasql-journal");
        commit_all(&journal, vec![sa, sb]).expect("commit");
        assert_eq!(fs::read_to_string(&a).expect("read"), "new a");
        assert_eq!(fs::read_to_string(b.join("x.csv")).expect("read"), "new b");
        assert!(!journal.exists());
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");

        // A journal in state `commit` after the first swap: recovery undoes it.
        let sa = Staged::new(&a).expect("stage");
        fs::write(sa.path(), "newer a").expect("write");
        let meta = fs::metadata(sa.path()).expect("meta");
        let entry = Entry {
            dest: a.clone(),
            staged: sa.path(),
            folder: sa.dir.path().to_path_buf(),
            existed: true,
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let folder = sa.dir.keep();
        exchange(&entry.staged, &entry.dest).expect("swap");
        let j = Journal {
            pid: 999_999_999,
            state: "commit".into(),
            entries: vec![entry],
        };
        write_journal(&journal, &j).expect("journal");
        assert!(recover(&journal).expect("recover").is_some());
        assert_eq!(fs::read_to_string(&a).expect("read"), "new a");
        assert!(!folder.exists());
        assert!(!journal.exists());
        assert_eq!(recover(&journal).expect("recover"), None);
    }
}
