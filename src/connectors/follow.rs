//! Following a growing file (`--input PATH --follow`), as the Kinesis Agent tails a log: the file
//! is read to its end, then polled for more. It survives the file being rotated (renamed away and
//! a new file created under the name: the old one is read to its end first, then the new one
//! from its start) and truncated (read again from the start). It never ends by itself; the run
//! stops on Ctrl-C or SIGTERM.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a file at its end is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// A reader over a file that keeps growing.
pub struct FollowReader {
    path: PathBuf,
    file: File,
    /// Bytes read from `file` so far.
    position: u64,
    /// The identity of `file` (device and inode), to notice a rotation.
    identity: Option<(u64, u64)>,
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl FollowReader {
    pub fn open(path: &Path) -> std::io::Result<FollowReader> {
        FollowReader::open_at(path, 0)
    }

    /// Follows `path` from byte `offset` on (resuming from a checkpoint). A file now shorter
    /// than `offset` was truncated or rotated since: it is read from its start.
    pub fn open_at(path: &Path, offset: u64) -> std::io::Result<FollowReader> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let position = if meta.len() >= offset { offset } else { 0 };
        file.seek(SeekFrom::Start(position))?;
        Ok(FollowReader {
            path: path.to_path_buf(),
            file,
            position,
            identity: identity(&meta),
        })
    }

    /// At the end of the open file: a new file under the path (rotation), a shorter file
    /// (truncation), or nothing new yet. Returns true when there is something to read.
    fn check(&mut self) -> std::io::Result<bool> {
        let current = self.file.metadata()?;
        if current.len() < self.position {
            // Truncated in place: start again.
            self.file.seek(SeekFrom::Start(0))?;
            self.position = 0;
            return Ok(true);
        }
        if current.len() > self.position {
            return Ok(true);
        }
        match std::fs::metadata(&self.path) {
            Ok(named) if identity(&named) != self.identity => {
                // Rotated: the open file is read to its end; go on with the new one.
                let file = File::open(&self.path)?;
                self.identity = identity(&file.metadata()?);
                self.file = file;
                self.position = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.position += n as u64;
                return Ok(n);
            }
            if !self.check()? {
                std::thread::sleep(POLL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;

    use super::*;

    /// Reads lines from a follower on a thread of the test, so the test can write meanwhile.
    fn follow(path: &Path) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        let mut reader = std::io::BufReader::new(FollowReader::open(path).unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn next(rx: &mpsc::Receiver<String>) -> String {
        rx.recv_timeout(Duration::from_secs(5))
            .expect("a line within 5 s")
    }

    #[test]
    fn follows_growth_rotation_and_truncation() {
        let dir = std::env::temp_dir().join(format!("rowtime-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("live.jsonl");
        std::fs::write(&path, "one\n").unwrap();
        let rx = follow(&path);
        assert_eq!(next(&rx), "one\n");
        // Growth.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(next(&rx), "two\n");
        // Rotation: the rest of the old file first, then the new file from its start.
        f.write_all(b"three\n").unwrap();
        std::fs::rename(&path, dir.join("live.jsonl.1")).unwrap();
        std::fs::write(&path, "four\n").unwrap();
        assert_eq!(next(&rx), "three\n");
        assert_eq!(next(&rx), "four\n");
        // Truncation in place: read again from the start.
        let mut g = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        g.set_len(0).unwrap();
        g.write_all(b"5\n").unwrap();
        assert_eq!(next(&rx), "5\n");
        assert!(
            rx.recv_timeout(Duration::from_millis(600)).is_err(),
            "nothing more"
        );
    }
}
