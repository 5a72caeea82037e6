//! The broker's module layering: no modules import each other (directly or through a longer
//! chain; the graph code is shared with the emulator's test in `layers_support/graph.rs`), and the
//! top-level areas only import the areas below them.

#[path = "layers_support/graph.rs"]
mod graph;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use graph::{code_only, cycles, load, paths_in, rust_files, sibling_edges, Graph, ModPath};

/// Areas each top-level area must not import (the layer order
/// binaries → cli → server / migrate → backends → domain).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "domain",
        &["backends", "config", "migrate", "server", "cli"],
    ),
    ("backends", &["cli", "server", "migrate", "config"]),
    ("server", &["cli"]),
    ("migrate", &["cli"]),
];

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let report = graph::cycle_reports(&src());
    assert!(
        report.is_empty(),
        "import cycles in src/:\n{}",
        report.join("\n")
    );
}

#[test]
fn areas_import_only_the_areas_below_them() {
    let wrong = graph::imports_above(&load(&src()), FORBIDDEN);
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_finds_paths_and_cycles() {
    // The checker itself, on a made-up pair of sibling modules that import each other.
    let a = code_only(
        "use super::b::Thing; // crate::c::X in a comment\nfn f() { let _ = \"crate::d::Y\"; }",
    );
    let paths = paths_in(&a, &vec!["area".into(), "a".into()]);
    assert_eq!(
        paths,
        vec![vec!["area".to_string(), "b".into(), "Thing".into()]]
    );
    let grouped = paths_in(
        "use crate::x::{self, y::{Z, w}}; mod tests { use super::*; }",
        &vec!["m".into()],
    );
    assert!(grouped.contains(&vec!["x".to_string()]));
    assert!(grouped.contains(&vec!["x".to_string(), "y".into(), "w".into()]));
    assert!(grouped.contains(&vec!["m".to_string()]), "{grouped:?}");

    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    let m = |s: &str| s.split("::").map(String::from).collect::<ModPath>();
    edges.entry(m("area::a")).or_default().insert(m("area::b"));
    edges.entry(m("area::b")).or_default().insert(m("area::c"));
    assert!(cycles(&sibling_edges(&Graph {
        edges: edges.clone()
    }))
    .is_empty());
    edges.entry(m("area::c")).or_default().insert(m("area::a"));
    let found = cycles(&sibling_edges(&Graph { edges }));
    assert_eq!(found, vec![vec![m("area::a"), m("area::b"), m("area::c")]]);
}

/// The environment is read once, at the edge (`main.rs`, `cli`), into settings; below it code
/// gets what it needs passed in.
#[test]
fn only_the_edge_reads_the_environment() {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut readers = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("below src");
        if rel == Path::new("main.rs") || rel.starts_with("cli") {
            continue;
        }
        let code = code_only(&fs::read_to_string(file).expect("readable source"));
        for call in ["env::var(", "env::var_os(", "env::vars(", "env::vars_os("] {
            if code.contains(call) {
                readers.push(format!("{} calls {call}..)", rel.display()));
            }
        }
    }
    assert!(
        readers.is_empty(),
        "the environment is read below the edge: {readers:?}"
    );
}
