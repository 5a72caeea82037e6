//! The emulator's module layering: no modules of `emulator/src` import each other, directly or
//! through a longer chain (the graph code is the root crate's, `tests/layers_support/graph.rs`).

#[path = "../../tests/layers_support/graph.rs"]
mod graph;

use std::path::Path;

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let report = graph::cycle_reports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        report.is_empty(),
        "import cycles in emulator/src/:\n{}",
        report.join("\n")
    );
}
