//! The import rules of the architecture, checked on the source: no import cycles between the
//! files of one module, and one direction between the front ends, the adapter and the core
//! (`layer` and `ffi` → `vulkan` → core; the two front ends never import each other; the core
//! imports none of them). A test module at the crate root: it reads every file under `src/`.
//!
//! Paths are found by a small scanner, not a Rust parser (the crate has none among its
//! dependencies): every `crate::`, `super::` and `self::` path with its `use` groups, resolved
//! to the file of the longest module prefix. A module file naming its own submodules is their
//! facade (declarations, re-exports), not an import, and so are bare paths (which can only name
//! submodules or other crates). Comments, string literals and test-only code (the files declared
//! under `#[cfg(test)]`, and each file's trailing `#[cfg(test)] mod tests`) are left out: tests
//! may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// A module path from the crate root: `["layer", "intercept", "device"]`.
type ModulePath = Vec<String>;

/// Modules whose files still import each other in a cycle: not checked for cycles until the
/// restructuring that removes it lands (the direction rules still apply to them).
const CYCLES_PENDING: &[&str] = &[];

/// The top-level modules a module may not import, by layer.
fn forbidden_imports(top: &str) -> &'static [&'static str] {
    match top {
        "layer" => &["ffi"],
        "ffi" => &["layer"],
        "vulkan" | "recipe" => &["ffi", "layer"],
        // The core: everything else.
        _ => &["ffi", "layer", "vulkan", "recipe"],
    }
}

#[test]
fn files_of_one_module_import_one_way_and_layers_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let violations = violations(&src);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Every broken rule in the crate rooted at `src`, one line each.
fn violations(src: &Path) -> Vec<String> {
    let files = module_files(src);
    let edges: BTreeMap<&ModulePath, BTreeSet<&ModulePath>> = files
        .iter()
        .filter(|(module, _)| !is_test_only(&files, module))
        .map(|(module, path)| (module, imports(&files, module, path)))
        .collect();
    let mut found = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            let (Some(from_top), Some(to_top)) = (from.first(), to.first()) else {
                continue;
            };
            if forbidden_imports(from_top).contains(&to_top.as_str()) {
                found.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    let tops: BTreeSet<&String> = edges.keys().filter_map(|module| module.first()).collect();
    for top in tops {
        if CYCLES_PENDING.contains(&top.as_str()) {
            continue;
        }
        let within = |module: &ModulePath| module.first() == Some(top);
        if let Some(cycle) = find_cycle(&edges, within) {
            found.push(format!("import cycle in {top}: {}", cycle.join(" -> ")));
        }
    }
    found
}

/// Every `.rs` file under `src` by the module it holds (`src/lib.rs` is the root, `[]`).
fn module_files(src: &Path) -> BTreeMap<ModulePath, PathBuf> {
    let mut files = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("read src/").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension() != Some(OsStr::new("rs")) {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src/")
                .with_extension("");
            let mut module: ModulePath = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            files.insert(module, path);
        }
    }
    files
}

/// Whether `module` is declared under a `#[cfg(...test...)]` attribute in its parent.
fn is_test_only(files: &BTreeMap<ModulePath, PathBuf>, module: &ModulePath) -> bool {
    let Some((name, parent)) = module.split_last() else {
        return false;
    };
    let parent_text = std::fs::read_to_string(&files[parent]).expect("read parent module");
    let lines: Vec<&str> = parent_text.lines().map(str::trim).collect();
    lines.windows(2).any(|pair| {
        pair[0].starts_with("#[cfg(")
            && pair[0].contains("test")
            && pair[1].ends_with(&format!("mod {name};"))
    })
}

/// The modules with files that `module` (in `path`) names.
fn imports<'a>(
    files: &'a BTreeMap<ModulePath, PathBuf>,
    module: &ModulePath,
    path: &Path,
) -> BTreeSet<&'a ModulePath> {
    let text = std::fs::read_to_string(path).expect("read source file");
    let tokens = tokens(&code_outside_tests(&text));
    let mut named = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let after_path = at > 0 && tokens[at - 1] == "::";
        if after_path || tokens.get(at + 1).map(String::as_str) != Some("::") {
            continue;
        }
        let base = match token.as_str() {
            "crate" => Vec::new(),
            "self" => module.clone(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            _ => continue,
        };
        expand_use_tree(&tokens, at + 2, base, &mut named);
    }
    named
        .into_iter()
        .filter_map(|named| {
            // The longest prefix that is a file: `super::device::DEVICES` names device.rs.
            (0..=named.len())
                .rev()
                .map(|length| &named[..length])
                .find_map(|prefix| files.get_key_value(prefix).map(|(key, _)| key))
        })
        // A module naming itself or its own submodules declares and re-exports (a module file
        // is its children's facade); the crate root only re-exports.
        .filter(|target| !target.is_empty() && !target.starts_with(module))
        .collect()
}

/// Collects into `out` every path the tokens from `at` on continue `prefix` with: one path, or
/// one per member of a `{...}` group (nested groups included).
fn expand_use_tree(
    tokens: &[String],
    mut at: usize,
    mut prefix: ModulePath,
    out: &mut Vec<ModulePath>,
) {
    loop {
        match tokens.get(at).map(String::as_str) {
            Some("super") => {
                prefix.pop();
            }
            Some("{") => {
                let mut depth = 0;
                let mut member_start = at + 1;
                for (offset, token) in tokens[at..].iter().enumerate() {
                    match token.as_str() {
                        "{" => depth += 1,
                        "}" | "," if depth == 1 => {
                            expand_use_tree(tokens, member_start, prefix.clone(), out);
                            member_start = at + offset + 1;
                            if token == "}" {
                                return;
                            }
                        }
                        "}" => depth -= 1,
                        _ => {}
                    }
                }
                return;
            }
            Some(name) if is_identifier(name) && name != "self" => prefix.push(name.to_owned()),
            _ => break,
        }
        if tokens.get(at + 1).map(String::as_str) != Some("::") {
            break;
        }
        at += 2;
    }
    out.push(prefix);
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
}

/// `text` without comments, string literals and its trailing `#[cfg(test)] mod tests`.
fn code_outside_tests(text: &str) -> String {
    let mut code = String::new();
    let mut in_string = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if !in_string
            && trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim().starts_with("mod tests"))
        {
            break;
        }
        // Drops string literals (their text is never a path) and comments.
        let mut characters = line.char_indices();
        while let Some((index, character)) = characters.next() {
            match character {
                '\\' if in_string => {
                    characters.next();
                }
                '"' => in_string = !in_string,
                '/' if !in_string && line[index..].starts_with("//") => break,
                _ if !in_string => code.push(character),
                _ => {}
            }
        }
        code.push('\n');
    }
    code
}

/// Identifiers, `::` and single punctuation characters, in order.
fn tokens(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut characters = code.chars().peekable();
    while let Some(character) = characters.next() {
        if character.is_alphanumeric() || character == '_' {
            let mut identifier = character.to_string();
            while let Some(&next) = characters.peek() {
                if !(next.is_alphanumeric() || next == '_') {
                    break;
                }
                identifier.push(next);
                characters.next();
            }
            tokens.push(identifier);
        } else if character == ':' && characters.peek() == Some(&':') {
            characters.next();
            tokens.push("::".to_owned());
        } else if !character.is_whitespace() {
            tokens.push(character.to_string());
        }
    }
    tokens
}

/// A cycle among the modules `within` selects, as module names from first to first again.
fn find_cycle(
    edges: &BTreeMap<&ModulePath, BTreeSet<&ModulePath>>,
    within: impl Fn(&ModulePath) -> bool,
) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a ModulePath,
        edges: &BTreeMap<&ModulePath, BTreeSet<&'a ModulePath>>,
        within: &dyn Fn(&ModulePath) -> bool,
        done: &mut BTreeSet<&'a ModulePath>,
        stack: &mut Vec<&'a ModulePath>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|on_stack| *on_stack == node) {
            let mut cycle: Vec<String> = stack[start..].iter().map(|m| m.join("::")).collect();
            cycle.push(node.join("::"));
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if within(next) {
                if let Some(cycle) = visit(next, edges, within, done, stack) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .filter(|module| within(module))
        .find_map(|module| visit(module, edges, &within, &mut done, &mut Vec::new()))
}
