//! Writing the run's files: [`write_file`], the crash-safe writer with the file named in its
//! error, for the run folder, checkpoints, the log and plots alike.

use std::path::Path;

use negclip_data::atomic::write_atomic;

use crate::error::TrainError;

/// [`write_atomic`], its error naming `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    write_atomic(path, bytes).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}
