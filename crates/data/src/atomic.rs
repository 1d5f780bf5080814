//! The one crash-safe file writer: checkpoints, exports, synthetic suites on disk, the tagger
//! model, plots and logs all go through [`write_atomic`], so a run killed at any moment leaves
//! either the old file or the new one, never half of one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace `path` with `bytes` atomically: a temporary sibling (named after the file and this
/// process, so two writers never share one), fsync, rename over `path`, fsync the folder.
/// Missing parent folders are created first, as users expect of an output path. The
/// temporary file is removed when any step fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&dir)?;
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Make renames inside `dir` durable. Not every platform can open a folder; where it cannot,
/// the rename is as durable as the platform makes it.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir) {
        Ok(handle) => handle.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("negclip-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json"]);
        let nested = dir.join("new").join("folders").join("b.json");
        write_atomic(&nested, b"x").unwrap();
        assert_eq!(std::fs::read(&nested).unwrap(), b"x");
        let blocked = dir.join("a.json").join("c.json");
        assert!(
            write_atomic(&blocked, b"x").is_err(),
            "a file where a folder should be"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
