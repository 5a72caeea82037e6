//! The emulator's module layering: no modules of `emulator/src` import each other, directly or
//! through a longer chain, and each layer of a request's path imports only the layers below it
//! (HTTP → SigV4 and faults → protocol → operations → context → state → model → store). The
//! graph code is the root crate's, `tests/layers_support/graph.rs`.

#[path = "../../tests/layers_support/graph.rs"]
mod graph;

use std::path::{Path, PathBuf};

/// The modules above each layer, which that layer must not import.
const ABOVE: &[(&str, &[&str])] = &[
    (
        "store",
        &[
            "state", "ctx", "ops", "protocol", "server", "admin", "console", "http", "sigv4",
            "faults",
        ],
    ),
    (
        "model",
        &[
            "store", "state", "ctx", "ops", "protocol", "server", "admin", "console", "http",
            "sigv4", "faults",
        ],
    ),
    (
        "state",
        &[
            "ctx", "ops", "protocol", "server", "admin", "console", "http", "sigv4", "faults",
        ],
    ),
    (
        "ctx",
        &[
            "ops", "protocol", "server", "admin", "console", "http", "sigv4",
        ],
    ),
    (
        "ops",
        &["server", "admin", "console", "http", "sigv4", "faults"],
    ),
    (
        "protocol",
        &["ops", "ctx", "state", "store", "server", "admin", "console"],
    ),
    (
        "sigv4",
        &[
            "protocol", "ops", "ctx", "state", "store", "server", "admin", "console",
        ],
    ),
    (
        "faults",
        &[
            "protocol", "ops", "ctx", "state", "store", "server", "admin", "console",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let report = graph::cycle_reports(&src());
    assert!(
        report.is_empty(),
        "import cycles in emulator/src/:\n{}",
        report.join("\n")
    );
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let wrong = graph::imports_above(&graph::load(&src()), ABOVE);
    assert!(
        wrong.is_empty(),
        "imports against the request path's layer order:\n{}",
        wrong.join("\n")
    );
}
