//! Buffered, path-aware writers for JSON-lines streams and small text files.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Error, Result};
use crate::layout::StreamId;

/// Writes one record per line to `<system>/<stream>.jsonl`, counting them.
pub(crate) struct JsonlWriter {
    path: PathBuf,
    out: BufWriter<fs_err::File>,
    count: u64,
}

impl JsonlWriter {
    /// Creates (truncates) the file of `stream` in fixture directory `dir`.
    pub(crate) fn create(dir: &Path, system: &'static str, stream: &'static str) -> Result<Self> {
        let path = StreamId { system, stream }.path_in(dir);
        Self::create_path(path)
    }

    /// Creates (truncates) `path`, making its parent directories.
    pub(crate) fn create_path(path: PathBuf) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(|source| io(parent, source))?;
        }
        let file = fs_err::File::create(&path).map_err(|source| io(&path, source))?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            count: 0,
        })
    }

    /// Opens the file of `stream` in fixture directory `dir` for appending (creating it if
    /// missing); the count is of the records appended.
    pub(crate) fn append(dir: &Path, system: &'static str, stream: &'static str) -> Result<Self> {
        let path = StreamId { system, stream }.path_in(dir);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(|source| io(parent, source))?;
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            count: 0,
        })
    }

    /// Appends one record.
    pub(crate) fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, record).map_err(|source| Error::Json {
            path: self.path.clone(),
            source,
        })?;
        self.out
            .write_all(b"\n")
            .map_err(|source| io(&self.path, source))?;
        self.count += 1;
        Ok(())
    }

    /// Flushes and returns the path and the number of records.
    pub(crate) fn finish(mut self) -> Result<(PathBuf, u64)> {
        self.out.flush().map_err(|source| io(&self.path, source))?;
        Ok((self.path, self.count))
    }
}

/// Writes a whole small file, making its parent directories.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|source| io(parent, source))?;
    }
    fs_err::write(path, bytes).map_err(|source| io(path, source))
}

/// An IO error naming its path.
pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
