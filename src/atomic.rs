//! Atomic file replacement: a reader (a running `watch`, an editor) sees the old contents or
//! the new ones, never half a file, and a crash leaves one of the two on disk.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many symlinks deep we follow before calling it a loop (the Linux limit).
const MAX_SYMLINKS: usize = 40;

/// Replaces the file at `path` with `contents`.
///
/// A symlink is followed so the link stays and its target changes. The new contents go to a
/// temporary file in the target's own folder (a rename only is atomic within one file
/// system), reach the disk (`sync_all`; `tempfile`'s persist does not), take the old file's
/// permissions, and are renamed over the old file; then the folder is synced so the rename
/// itself survives a crash. A new file gets the usual permissions (0666 minus the umask).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace_file(&resolve_symlinks(path)?, contents)
}

/// Replaces the file at `target` itself, as [`write_atomic`] does, but never through a
/// symlink: a link at `target` is replaced by the new file (a rename does not follow its
/// destination), so a link planted there cannot redirect the write. For files only vastfleet
/// writes (the state file).
pub fn replace_file(target: &Path, contents: &[u8]) -> io::Result<()> {
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let existing = match fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_file() => Some(metadata.permissions()),
        Ok(_) => None,
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        // Given to open(2), so the umask applies as for any new file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(&folder)?;
    temp.write_all(contents)?;
    if let Some(permissions) = existing {
        fs::set_permissions(temp.path(), permissions)?;
    }
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|err| err.error)?;
    sync_folder(&folder)
}

/// Follows `path` through symlinks (relative ones are relative to the link's folder) to the
/// file that really holds the contents, which may not exist yet.
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("too many levels of symbolic links: {}", path.display()),
    ))
}

#[cfg(unix)]
fn sync_folder(folder: &Path) -> io::Result<()> {
    fs::File::open(folder)?.sync_all()
}

/// Windows cannot open a folder as a file; its rename is durable enough without it.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creates_then_replaces_without_leaving_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(entries(dir.path()), ["fleet.toml"]);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions_of_the_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_symlinks_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/fleet.toml");
        fs::write(&target, "old").unwrap();
        let link = dir.path().join("fleet.toml");
        std::os::unix::fs::symlink("real/fleet.toml", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(entries(&dir.path().join("real")), ["fleet.toml"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(write_atomic(&a, b"x").is_err());
    }
}
