//! Integration tests of the workflow definition layer: the example definitions, a table of
//! broken definitions with the exact pointers reported, and the published schema.
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly")]

mod integration {
    pub mod broken;
    pub mod examples;
    pub mod schema;
}

use std::path::PathBuf;

use serde_json::Value;

/// Every `examples/*.json`, with its file name, in name order.
pub fn example_definitions() -> Vec<(String, Value)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("examples directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, value)
        })
        .collect()
}
