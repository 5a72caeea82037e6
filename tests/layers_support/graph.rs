//! The module graph of a crate's sources, shared by the workspace's layering tests
//! (`tests/module_layers.rs`, `emulator/tests/module_layers.rs`): reads `src/**/*.rs`, collects
//! the module dependencies written as `crate::…`, `self::…` and `super::…` paths, and finds the
//! modules that import each other (directly or through a longer chain).
//!
//! An import from a module to its own ancestor or descendant is not a cycle here (a parent
//! declaring its children is how Rust modules are laid out); every other import is lifted to the
//! two siblings under the lowest common ancestor, and the sibling graph at every level must be
//! acyclic.

// each including test uses part of it
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module path below the crate root, e.g. `["backends", "legacy_sql", "db"]`.
pub type ModPath = Vec<String>;

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a source file defines (`src/lib.rs` and `src/main.rs` are the root).
pub fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Source text without comments and string literals, so that paths in docs or messages do not count.
pub fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < bytes.len() && !(bytes[i] == '*' && bytes[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char_before(&bytes, i)
        {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while bytes.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if bytes.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= bytes.len() {
                    break;
                }
                if bytes[j] == '"' && (0..hashes).all(|h| bytes.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next.is_some() && bytes.get(i + 2) == Some(&'\'') {
            // A char literal such as '{' (lifetimes have no closing quote).
            out.push_str("' '");
            i += 3;
        } else if c == '\'' && next == Some('\\') {
            let mut j = i + 2;
            while j < bytes.len() && bytes[j] != '\'' {
                j += 1;
            }
            out.push_str("' '");
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path written in `code` that starts with `crate`, `self` or `super`, resolved against the
/// module the path is written in (inline `mod name { … }` blocks included). Braced groups
/// (`use crate::a::{b, c::d}`) give one path per member.
pub fn paths_in(code: &str, file_module: &ModPath) -> Vec<ModPath> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    // Inline modules currently open: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = None;
        }
        if !is_ident(c) || ident_char_before(&chars, i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if word == "mod" {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let s = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            pending_mod = Some(chars[s..j].iter().collect());
            i = j;
            continue;
        }
        if !matches!(word.as_str(), "crate" | "self" | "super") || !starts_sep(&chars, i) {
            continue;
        }
        let mut current = file_module.clone();
        current.extend(inline.iter().map(|(n, _)| n.clone()));
        let (segments, end) = read_path(&chars, start);
        i = end;
        for path in expand(&segments) {
            if let Some(resolved) = resolve(&current, &path) {
                found.push(resolved);
            }
        }
    }
    found
}

fn starts_sep(chars: &[char], i: usize) -> bool {
    chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':')
}

/// A path segment or a braced group of paths.
#[derive(Debug, Clone)]
enum Segment {
    Name(String),
    Group(Vec<Vec<Segment>>),
}

/// Reads `a::b::{c, d::e}` starting at `start`; returns the segments and the index after them.
fn read_path(chars: &[char], start: usize) -> (Vec<Segment>, usize) {
    let mut segments = Vec::new();
    let mut i = start;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if chars.get(i) == Some(&'{') {
            let mut group = Vec::new();
            i += 1;
            loop {
                while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                    i += 1;
                }
                if i >= chars.len() || chars[i] == '}' {
                    i += 1;
                    break;
                }
                let (member, end) = read_path(chars, i);
                if end == i {
                    // Something that is not a path (e.g. `*`): skip a character.
                    i += 1;
                    continue;
                }
                group.push(member);
                i = end;
                // Skip `as alias`.
                while i < chars.len() && chars[i] != ',' && chars[i] != '}' && chars[i] != '{' {
                    i += 1;
                }
            }
            segments.push(Segment::Group(group));
            return (segments, i);
        }
        let s = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if s == i {
            return (segments, s);
        }
        segments.push(Segment::Name(chars[s..i].iter().collect()));
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if starts_sep(chars, j) {
            i = j + 2;
        } else {
            return (segments, i);
        }
    }
}

fn expand(segments: &[Segment]) -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    for segment in segments {
        match segment {
            Segment::Name(name) => paths.iter_mut().for_each(|p| p.push(name.clone())),
            Segment::Group(members) => {
                let mut next = Vec::new();
                for prefix in &paths {
                    for member in members {
                        for tail in expand(member) {
                            let mut p = prefix.clone();
                            p.extend(tail);
                            next.push(p);
                        }
                    }
                }
                paths = next;
            }
        }
    }
    paths
}

fn resolve(current: &ModPath, path: &[String]) -> Option<ModPath> {
    let mut base: ModPath;
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &rest[1..];
        }
        Some("self") | Some("super") => {
            base = current.clone();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => {}
                    "super" => {
                        base.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().filter(|s| s.as_str() != "self").cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module with its own file.
fn known_prefix(modules: &BTreeSet<ModPath>, path: &ModPath) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

pub struct Graph {
    /// Module → modules it imports.
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

pub fn load(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for file in &files {
        let from = module_of(src, file);
        let text = fs::read_to_string(file).expect("source file");
        for path in paths_in(&code_only(&text), &from) {
            let to = known_prefix(&modules, &path);
            let related = to.starts_with(&from) || from.starts_with(&to);
            if !related {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    Graph { edges }
}

pub fn name(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        path.join("::")
    }
}

/// The sibling graph: each import lifted to the children of the lowest common ancestor.
pub fn sibling_edges(graph: &Graph) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut lifted: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (from, targets) in &graph.edges {
        for to in targets {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            let a = from[..=common].to_vec();
            let b = to[..=common].to_vec();
            lifted.entry(a).or_default().insert(b);
        }
    }
    lifted
}

/// Every cycle in `edges`, each as its members in order, as one strongly connected component.
pub fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    let nodes: BTreeSet<&ModPath> = edges
        .iter()
        .flat_map(|(a, bs)| std::iter::once(a).chain(bs))
        .collect();
    let reach = |from: &ModPath| -> BTreeSet<ModPath> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&ModPath, BTreeSet<ModPath>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reachable[n].contains(*n) {
            continue;
        }
        let component: Vec<ModPath> = nodes
            .iter()
            .filter(|m| reachable[n].contains(**m) && reachable[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(component.iter().cloned());
        found.push(component);
    }
    found
}

pub fn describe(graph: &Graph, component: &[ModPath]) -> String {
    let lifted = sibling_edges(graph);
    let mut lines = vec![format!(
        "cycle between {}:",
        component.iter().map(name).collect::<Vec<_>>().join(", ")
    )];
    for (from, targets) in &graph.edges {
        for to in targets {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            let (a, b) = (from[..=common].to_vec(), to[..=common].to_vec());
            if component.contains(&a) && component.contains(&b) && lifted[&a].contains(&b) {
                lines.push(format!("  {} imports {}", name(from), name(to)));
            }
        }
    }
    lines.join("\n")
}

/// A description of every import cycle among the modules under `src`, one entry per cycle.
pub fn cycle_reports(src: &Path) -> Vec<String> {
    let graph = load(src);
    cycles(&sibling_edges(&graph))
        .iter()
        .map(|c| describe(&graph, c))
        .collect()
}

/// Imports from a top-level module into one of the modules `above` lists for it (`(module,
/// modules it must not import)`), as "a imports b" lines.
pub fn imports_above(graph: &Graph, above: &[(&str, &[&str])]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        for to in targets {
            let (Some(a), Some(b)) = (from.first(), to.first()) else {
                continue;
            };
            let forbidden = above
                .iter()
                .find(|(layer, _)| layer == a)
                .is_some_and(|(_, above)| above.contains(&b.as_str()));
            if forbidden {
                wrong.push(format!("{} imports {}", name(from), name(to)));
            }
        }
    }
    wrong
}
