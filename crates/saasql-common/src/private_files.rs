//! Files and folders that only their owner should read: secrets
//! (`--token-file`, `--password-file`) and an executor's work folder.
//!
//! Like ssh with its keys, saasql reads them anyway when other users can read
//! them, and warns once, naming the file and its mode (never its contents).

use std::fs::Metadata;
use std::io::{self, Read};
use std::path::Path;

/// Reads the secret in `path`, given as option `option`; warns when other
/// users can read the file. The mode is taken from the opened file, so it is
/// the file that was read.
pub fn read_secret_file(option: &str, path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    warn_if_readable_by_others(option, path, &file.metadata()?);
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// Warns (one log line) when users other than the owner can read `path`
/// (given as option `option`, with `metadata`): a file readable by its group
/// or others, a folder they can read or enter. Does nothing off Unix.
pub fn warn_if_readable_by_others(option: &str, path: &Path, metadata: &Metadata) {
    if let Some(mode) = readable_by_others(metadata) {
        let private = if metadata.is_dir() { "700" } else { "600" };
        tracing::warn!(
            "{option} {} is readable by others (mode {mode:04o}); chmod {private} it",
            path.display()
        );
    }
}

/// The permission bits of `metadata` if they let the group or others read it.
#[cfg(unix)]
fn readable_by_others(metadata: &Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    let others = if metadata.is_dir() { 0o055 } else { 0o044 };
    (mode & others != 0).then_some(mode)
}

#[cfg(not(unix))]
fn readable_by_others(_metadata: &Metadata) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn group_or_other_access_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret-s3cret-s3cret").unwrap();
        let mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            readable_by_others(&std::fs::metadata(path).unwrap())
        };
        assert_eq!(mode(&file, 0o600), None);
        assert_eq!(mode(&file, 0o400), None);
        assert_eq!(mode(&file, 0o620), None);
        assert_eq!(mode(&file, 0o640), Some(0o640));
        assert_eq!(mode(&file, 0o604), Some(0o604));
        assert_eq!(
            read_secret_file("--token-file", &file).unwrap(),
            "s3cret-s3cret-s3cret"
        );
        let folder = dir.path().join("work");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(mode(&folder, 0o700), None);
        assert_eq!(mode(&folder, 0o711), Some(0o711));
        assert_eq!(mode(&folder, 0o755), Some(0o755));
    }
}
