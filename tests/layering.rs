//! The layering of `src/`: which top-level module (a folder such as `trace/`, or a file such as
//! `clock.rs`) may import which, stated once in [`ALLOWED`], and checked against every
//! `crate::X` path in the sources read as text (comments and `#[cfg(test)]` modules left out:
//! tests may reach anywhere).
//!
//! The rule: data moves up from the recording modules through `buffer/` and `export/` to the
//! wire, and no module imports one above it; `trace/`, `logs/` and `metrics/` reach `export/`
//! only to hand it their items (its `RecordSource`/`RecordSink`, `MetricProducer` and the
//! `Pipeline` they attach to). No two modules import each other, directly or through others.
//! Cross-module imports are written `crate::X` (the house style); `super::` stays inside a folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` (`lib.rs` aside: the root declares them all) and the
/// modules it may import. Lower layers first.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves: no import from the crate.
    ("sync", &[]),
    ("hex", &[]),
    ("header_text", &[]),
    // Writing stderr (`diag`) and stdout (the console exporter) without waiting for room.
    ("write_now", &[]),
    ("diag", &["write_now"]),
    ("own_threads", &[]),
    ("percent", &[]),
    ("clock", &[]),
    // The thread's words a metric record reads: its stripe slot (`metrics/`) and whether its
    // current span is sampled (written by `trace/`).
    ("thread_words", &[]),
    ("proto", &["hex"]),
    ("config", &["diag"]),
    // Where nanotel's own threads run (`NANOTEL_THREAD_CPUS`): the exporter's, the endpoint's.
    ("thread_cpus", &["diag"]),
    ("attributes", &["proto"]),
    // What spans and logs share on their way to the exporter thread.
    ("buffer", &["attributes", "proto", "sync"]),
    ("resource", &["attributes", "config", "diag", "percent", "proto"]),
    // The pipeline: drains `buffer/`'s rings through `RecordSource`s the providers give it.
    // Its queues' count of places taken is loom-modelled (`sync`).
    (
        "export",
        &[
            "buffer",
            "clock",
            "config",
            "diag",
            "own_threads",
            "percent",
            "proto",
            "resource",
            "sync",
            "thread_cpus",
            "write_now",
        ],
    ),
    // The recording modules, each handing its items to `export/`.
    (
        "trace",
        &[
            "attributes",
            "buffer",
            "clock",
            "config",
            "diag",
            "export",
            "header_text",
            "hex",
            "proto",
            "sync",
            "thread_words",
        ],
    ),
    // A log record carries the span context it was emitted in; the `log` bridge leaves out
    // what nanotel's own threads log.
    ("logs", &["attributes", "buffer", "clock", "config", "diag", "export", "own_threads", "proto", "trace"]),
    // Exemplars carry the span context a measurement was taken in.
    ("metrics", &["attributes", "clock", "config", "diag", "export", "proto", "sync", "thread_words", "trace"]),
    ("propagation", &["config", "header_text", "percent", "trace"]),
    // The scrape endpoint: reads `metrics/`, configured by `export/`'s `PrometheusConfig`; its late
    // answers' atomics come from `sync` (loom's under the models); its request timeout is made
    // usable as every timeout is (`config::usable_timeout`).
    ("prometheus", &["config", "diag", "export", "metrics", "own_threads", "proto", "sync", "thread_cpus"]),
    ("global", &["logs", "metrics", "trace"]),
    // What `nanotel::init()` builds: everything wired together.
    (
        "telemetry",
        &[
            "config",
            "diag",
            "export",
            "global",
            "logs",
            "metrics",
            "prometheus",
            "propagation",
            "proto",
            "resource",
            "trace",
        ],
    ),
    ("tracing_layer", &["attributes", "diag", "logs", "own_threads", "sync", "telemetry", "trace"]),
];

/// Items `lib.rs` re-exports at the crate root, and the module each comes from: `crate::Signal`
/// is an import of `export`.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Signal", "export"),
    ("Telemetry", "telemetry"),
    ("TelemetryBuilder", "telemetry"),
    ("InitError", "telemetry"),
    ("init", "telemetry"),
    ("builder", "telemetry"),
];

#[test]
fn every_import_between_top_level_modules_is_allowed() {
    let allowed = allowed();
    let mut wrong = Vec::new();
    for (module, imports) in imports_in(&src()) {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!("{module}: not in the table ALLOWED; add its row"));
            continue;
        };
        for (import, at) in imports {
            if !may.contains(import.as_str()) {
                wrong.push(format!("{at}: {module} imports crate::{import}, which its row does not allow"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        imports_in(&src()).into_iter().map(|(module, imports)| (module, imports.into_keys().collect())).collect();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle between top-level modules: {}", cycle.join(" -> "));
    }
    let table: BTreeMap<String, BTreeSet<String>> = ALLOWED
        .iter()
        .map(|(module, may)| (module.to_string(), may.iter().map(ToString::to_string).collect()))
        .collect();
    if let Some(cycle) = find_cycle(&table) {
        panic!("the table ALLOWED has a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_reader_finds_imports_and_leaves_out_comments_and_tests() {
    let text = "use crate::export::Pipeline;\n// crate::trace in a comment\nfn f() { crate::diag::warning!(\"x\"); }\n\
                $crate::sync::x\n#[cfg(feature = \"testing\")]\nuse crate::proto;\n#[cfg(all(test, loom))]\nmod tests {\n    use crate::testing::TestCollector;\n}\n\
                use crate::Signal;\n";
    let found: Vec<String> = paths_in(text).into_iter().map(|(name, _)| name).collect();
    assert_eq!(found, ["export", "diag", "proto", "Signal"]);
}

fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    ALLOWED.iter().map(|(module, may)| (*module, may.iter().copied().collect())).collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// For each top-level module, the other top-level modules it imports, each with the first
/// place (`file:line`) it does.
fn imports_in(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut modules: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("under src/");
        let mut parts = relative.components();
        let first = parts.next().expect("a path").as_os_str().to_string_lossy().into_owned();
        let module = if parts.next().is_some() { first } else { first.trim_end_matches(".rs").to_string() };
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let imports = modules.entry(module.clone()).or_default();
        for (name, line) in paths_in(&text) {
            let target = ROOT_ITEMS.iter().find(|(item, _)| *item == name).map_or(name.as_str(), |(_, m)| m);
            assert!(
                !target.starts_with(char::is_uppercase),
                "{}:{line}: crate::{name} is not a module; add it to ROOT_ITEMS",
                relative.display()
            );
            if target != module {
                imports.entry(target.to_string()).or_insert_with(|| format!("src/{}:{line}", relative.display()));
            }
        }
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The first name after each `crate::` in `text` (not `$crate::`, a macro's), with its line
/// number, outside comment lines and `#[cfg(test)]`-style modules.
fn paths_in(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if is_test_cfg(trimmed) {
            if let Some((_, next)) = lines.peek() {
                let next = next.trim_start().trim_start_matches("pub(crate) ").trim_start_matches("pub ");
                if next.starts_with("mod ") && next.trim_end().ends_with('{') {
                    skip_block(&mut lines);
                    continue;
                }
            }
        }
        let code = trimmed.split(" //").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            if code[..at].ends_with('$') || code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[at + "crate::".len()..];
            assert!(!rest.starts_with('{'), "line {}: write `crate::module::...` once per module", index + 1);
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.push((name, index + 1));
        }
    }
    found
}

/// Whether `line` is a `#[cfg(...)]` that holds `test` (not merely a feature named so).
fn is_test_cfg(line: &str) -> bool {
    line.starts_with("#[cfg(") && ["(test)", "(test,", " test)", " test,"].iter().any(|form| line.contains(form))
}

/// Skips the module that the next line opens, up to its closing brace (counting braces).
fn skip_block<'a>(lines: &mut impl Iterator<Item = (usize, &'a str)>) {
    let mut depth = 0i64;
    for (_, line) in lines {
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if depth <= 0 {
            return;
        }
    }
}

/// A cycle in `graph`, as the modules along it (the first repeated at the end), if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|on_path| on_path == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn a_cycle_is_found_and_a_layered_graph_has_none() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph.entry(from.to_string()).or_default().insert(to.to_string());
        }
        graph
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
