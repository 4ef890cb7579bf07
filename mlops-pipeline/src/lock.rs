//! One run at a time per pipeline: an exclusive `flock` on `<cache>/locks/<name>.lock`.
//!
//! The lock belongs to the open file, so a process killed with `kill -9` releases it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock, waiting at most half a second.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process (or another handle in this one) holds it;
    /// [`Error::Io`] when the lock file cannot be opened.
    pub fn try_acquire(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // A process forked by another thread of this program shares the lock's open file
        // description until it execs (milliseconds on a loaded machine), so a lock released a
        // moment ago can still look held: retry for a short while before reporting it held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        loop {
            match flock_exclusive_nonblocking(&file) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        return Err(Error::Locked {
                            path: path.to_path_buf(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        // The holder's pid, for a person looking at a stuck lock (advisory only).
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn flock_exclusive_nonblocking(file: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a valid, open descriptor owned by `file`; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, e))
        } else {
            Err(e)
        }
    }
}

#[cfg(not(unix))]
fn flock_exclusive_nonblocking(_file: &File) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pipeline locks need flock (Unix)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks/p.lock");
        let a = RunLock::try_acquire(&p).unwrap();
        assert!(matches!(
            RunLock::try_acquire(&p),
            Err(Error::Locked { .. })
        ));
        drop(a);
        RunLock::try_acquire(&p).unwrap();
    }
}
