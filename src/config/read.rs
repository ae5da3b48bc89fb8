//! Reading the fleet file: only a regular file, only up to a size no fleet needs, and never
//! blocked by what sits at the path (issue 17: a FIFO hung `watch` and `check`, `/dev/zero`
//! grew the process to 6 GB).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Far above a 100,000-instance fleet file (about 6 MB with labels and policies).
pub const FLEET_FILE_CAP: u64 = 64 << 20;

/// The fleet file's text. A symlink is followed (a file kept in a dotfiles repo is normal), but
/// what it ends at must be a regular file: a FIFO, a device or a folder is an error at once
/// (opened non-blocking, so a FIFO without a writer cannot hold the open either).
pub fn read_fleet_text(path: &Path) -> io::Result<String> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(FLEET_FILE_CAP + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > FLEET_FILE_CAP {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB, far more than any fleet needs",
                FLEET_FILE_CAP >> 20
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}, not a regular file", describe_kind(&kind)),
    ))
}

fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, "[[instance]]\nid = 1\n").unwrap();
        assert_eq!(read_fleet_text(&path).unwrap(), "[[instance]]\nid = 1\n");
    }

    #[cfg(unix)]
    #[test]
    fn devices_folders_and_fifos_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let cases = [
            (fifo.as_path(), "a FIFO (named pipe), not a regular file"),
            (Path::new("/dev/zero"), "a device, not a regular file"),
            (dir.path(), "a folder, not a regular file"),
        ];
        for (path, want) in cases {
            let err = read_fleet_text(path).unwrap_err();
            assert_eq!(err.to_string(), want, "{}", path.display());
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
