//! The service shape, checked over the source tree (docs/architecture.md §2): one skeleton in
//! every service, routes that never import routes, no import circles between files, thin mains,
//! no error-code string comparisons, and layout sections (README, docs/architecture.md) that name
//! exactly what is in the tree. Pure file reading: no servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod settings_contract;

/// The skeleton's modules, in the order every `lib.rs` lists them.
const SKELETON: &[&str] = &[
    "config", "state", "routes", "core", "domain", "store", "clients", "events", "workers",
];
/// What every service has, whatever its size.
const REQUIRED: &[&str] = &["config", "state", "routes", "store"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn services() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("services"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    v.sort();
    assert_eq!(v.len(), 5, "five services: {v:?}");
    v
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Source without comments (line comments and doc comments), so prose does not count as code.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `src/core/tools/book.rs` → `["core", "tools", "book"]`; `mod.rs` is its directory.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

fn top_level_mods(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

#[test]
fn every_service_has_the_one_skeleton_in_the_one_order() {
    for svc in services() {
        let src = svc.join("src");
        let name = svc.file_name().unwrap().to_string_lossy().to_string();
        let mods = top_level_mods(&code(&src.join("lib.rs")));
        for m in &mods {
            assert!(
                SKELETON.contains(&m.as_str()),
                "{name}: lib.rs declares `{m}`, which is not a skeleton module {SKELETON:?}"
            );
        }
        let order: Vec<usize> = mods
            .iter()
            .map(|m| SKELETON.iter().position(|s| s == m).unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{name}: lib.rs lists {mods:?}, not in the skeleton order {SKELETON:?}"
        );
        for r in REQUIRED {
            assert!(mods.iter().any(|m| m == r), "{name}: no `{r}` module");
        }
        assert!(src.join("config.rs").is_file(), "{name}: src/config.rs");
        assert!(src.join("state.rs").is_file(), "{name}: src/state.rs");
        assert!(
            src.join("routes/mod.rs").is_file(),
            "{name}: src/routes/mod.rs"
        );
        assert!(
            !src.join("app.rs").exists(),
            "{name}: app.rs is gone (state.rs)"
        );
        assert!(svc.join("diesel.toml").is_file(), "{name}: diesel.toml");
        let main = code(&src.join("main.rs"));
        assert!(
            main.contains("runtime::main::<")
                && main.lines().filter(|l| !l.trim().is_empty()).count() <= 4,
            "{name}: main.rs is thin (runtime::main::<Service>())"
        );
    }
}

#[test]
fn core_and_domain_know_nothing_of_http() {
    for svc in services() {
        for layer in ["core", "domain"] {
            for f in rust_files(&svc.join("src").join(layer)) {
                let c = code(&f);
                for banned in ["actix_web", "HttpResponse", "ApiError", "crate::routes"] {
                    assert!(!c.contains(banned), "{} uses {banned}", f.display());
                }
            }
        }
    }
}

#[test]
fn route_modules_never_import_each_other() {
    for svc in services() {
        let routes = svc.join("src/routes");
        for f in rust_files(&routes) {
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            if stem == "mod" || stem == "problem" {
                continue; // mod.rs registers them; problem.rs is the one shared module
            }
            let c = code(&f);
            for (i, line) in c.lines().enumerate() {
                let refs = line
                    .match_indices("crate::routes::")
                    .map(|(i, _)| &line[i + 15..]);
                let supers = line.match_indices("super::").map(|(i, _)| &line[i + 7..]);
                for target in refs.chain(supers) {
                    let first: String = target
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        first.is_empty() || first == "problem" || first == "super",
                        "{}:{}: a route module imports route module `{first}`",
                        f.display(),
                        i + 1
                    );
                }
            }
        }
    }
}

/// Edges between files by `crate::…` and `super::…` paths, and from a `mod.rs` to the children
/// it names; a strongly connected component of more than one file is an import circle.
#[test]
fn no_import_circles_between_files() {
    for svc in services() {
        let src = svc.join("src");
        let files = rust_files(&src);
        let modules: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .map(|f| (module_of(&src, f), f.clone()))
            .collect();
        let resolve = |path: Vec<String>| -> Option<Vec<String>> {
            (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p))
        };
        let ident = |s: &str| -> Vec<String> {
            s.split("::")
                .map(|p| {
                    p.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|p| !p.is_empty())
                .collect()
        };
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for f in &files {
            let me = module_of(&src, f);
            let is_dir_mod = f
                .file_name()
                .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
            // An inline `#[cfg(test)] mod tests { use super::*; }` names its own file, not the
            // parent: the unit tests at the end of a file are not part of the import graph.
            let full = code(f);
            let c = full
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            let mut add = |target: Option<Vec<String>>| {
                if let Some(t) = target
                    && t != me
                    && !t.is_empty()
                {
                    edges.entry(me.clone()).or_default().insert(t);
                }
            };
            for (i, _) in c.match_indices("crate::") {
                add(resolve(ident(&c[i + 7..])));
            }
            for (i, _) in c.match_indices("super::") {
                // `a/b.rs` is `a::b` and `a/mod.rs` is `a`: either way `super` drops the last.
                let mut base: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
                let mut rest = &c[i + 7..];
                while let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                }
                let mut p = base;
                p.extend(ident(rest));
                add(resolve(p));
            }
            if is_dir_mod {
                // A parent naming a child's items (`child::item`) depends on the child.
                for child in top_level_mods(&c) {
                    let mut child_path = me.clone();
                    child_path.push(child.clone());
                    if c.contains(&format!("{child}::")) {
                        add(resolve(child_path));
                    }
                }
            }
        }
        // Tarjan's SCC.
        let nodes: Vec<Vec<String>> = modules.keys().cloned().collect();
        let index_of: BTreeMap<&Vec<String>, usize> =
            nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
        let adj: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                edges
                    .get(n)
                    .map(|ts| ts.iter().filter_map(|t| index_of.get(t).copied()).collect())
                    .unwrap_or_default()
            })
            .collect();
        let cycles = tarjan(&adj);
        let named: Vec<Vec<String>> = cycles
            .into_iter()
            .map(|c| c.into_iter().map(|i| nodes[i].join("::")).collect())
            .collect();
        assert!(
            named.is_empty(),
            "{}: import circles between files: {named:?}",
            svc.display()
        );
    }
}

fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct S<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut S<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for &w in &s.adj[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let n = adj.len();
    let mut s = S {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_circle_finder_finds_circles() {
    assert_eq!(tarjan(&[vec![1], vec![2], vec![0]]).len(), 1);
    assert!(tarjan(&[vec![1], vec![2], vec![]]).is_empty());
}

#[test]
fn nothing_compares_error_code_strings() {
    for svc in services() {
        for f in rust_files(&svc.join("src")) {
            let c = code(&f);
            assert!(
                !c.contains(".code() ==") && !c.contains(".code() !="),
                "{} compares an error code string: use the typed error",
                f.display()
            );
        }
    }
}

/// The directories a layout section must name: every crate and every service.
fn tree_dirs() -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for top in ["crates", "services"] {
        for e in std::fs::read_dir(root().join(top)).unwrap() {
            let p = e.unwrap().path();
            if p.join("Cargo.toml").is_file() {
                dirs.insert(format!(
                    "{top}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    dirs
}

/// The first fenced block after `heading` in a Markdown file.
fn block_after(doc: &str, heading: &str) -> String {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let rest = &doc[start..];
    let open = rest.find("```").unwrap() + 3;
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn layout_sections_name_what_is_in_the_tree() {
    for (file, heading) in [
        ("README.md", "## Layout"),
        ("docs/architecture.md", "## 1. The workspace"),
    ] {
        let doc = std::fs::read_to_string(root().join(file)).unwrap();
        let block = block_after(&doc, heading);
        let named: BTreeSet<String> = block
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|w| w.trim_end_matches('/').to_string())
            .filter(|w| w.starts_with("crates/") || w.starts_with("services/"))
            .collect();
        for dir in tree_dirs() {
            assert!(
                named.contains(&dir),
                "{file} {heading}: {dir} is not described"
            );
        }
        for w in &named {
            if !w.contains('*') && !w.contains('<') {
                assert!(
                    root().join(w).exists(),
                    "{file} {heading}: {w} does not exist"
                );
            }
        }
    }
}
