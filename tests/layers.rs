//! The layering rules ARCHITECTURE.md states, checked by reading the `crate::` paths of
//! every file under `src/`:
//! * only the edges (`src/grpc/`, `src/http/`) and `src/server/` use `crate::grpc`;
//! * `src/domain/` uses nothing outside itself;
//! * no cycle runs between top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The top-level module a file belongs to (`src/actors/shard.rs` → `actors`), or None
/// for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The top-level modules a file's code names through `crate::`, comments left out:
/// `crate::store::Store`, and each item of `use crate::{grpc::x, store}`.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_item_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        at_item_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 && at_item_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                        at_item_start = false;
                    }
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
        rest = after;
    }
    found.remove("self");
    found
}

/// Top-level module → the other top-level modules it uses, with a file that does.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in sources(&src) {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("readable source");
        let edges = graph.entry(module.clone()).or_default();
        for used in uses(&text) {
            if used != module {
                edges.entry(used).or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

#[test]
fn only_the_edges_and_the_server_use_the_grpc_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let edge = relative.starts_with("grpc")
            || relative.starts_with("http")
            || relative.starts_with("server")
            || relative == Path::new("lib.rs");
        let text = std::fs::read_to_string(&file).expect("readable source");
        if !edge && uses(&text).contains("grpc") {
            offenders.push(relative.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "these use crate::grpc, which only the edges may: {offenders:?}"
    );
}

#[test]
fn the_domain_uses_nothing_outside_itself() {
    let graph = graph();
    let outside: Vec<_> = graph
        .get("domain")
        .map(|edges| edges.iter().collect())
        .unwrap_or_default();
    assert!(outside.is_empty(), "domain uses {outside:?}");
}

#[test]
fn no_cycle_runs_between_top_level_modules() {
    let graph = graph();
    // Depth-first search; a back edge closes a cycle, reported as its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            let hops: Vec<String> = cycle
                .windows(2)
                .map(|pair| {
                    let file = &graph[&pair[0]][&pair[1]];
                    format!("{} → {} ({})", pair[0], pair[1], file.display())
                })
                .collect();
            cycles.push(hops.join(", "));
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        if let Some(edges) = graph.get(node) {
            for next in edges.keys() {
                visit(next, graph, path, done, cycles);
            }
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(
        cycles.is_empty(),
        "cycles between modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reader_finds_grouped_and_inline_paths() {
    let found = uses(
        "use crate::{grpc::pb, store::{Kind, Store}};\n\
         // crate::comment is not code\n\
         fn f() { crate::telemetry::x(); }",
    );
    let expected: BTreeSet<String> = ["grpc", "store", "telemetry"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}
