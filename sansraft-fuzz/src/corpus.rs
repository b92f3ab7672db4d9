//! The checked-in seed corpus: `fuzz/corpus/<target>/`, one input per file, replayed by the
//! tests on stable and used by cargo-fuzz as its starting corpus.

use std::path::{Path, PathBuf};

/// The corpus directory of `target`.
pub fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every input of `target`'s corpus, with its file name, in name order.
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("readable corpus directory").path();
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// One named input of `target`'s corpus (a regression input).
pub fn input(target: &str, name: &str) -> Vec<u8> {
    let path = dir(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()))
}
