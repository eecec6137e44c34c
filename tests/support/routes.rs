//! The routes of the code, read from the routers' source: what `tests/it/template_drift.rs`
//! checks against the SAM template and `tests/it/openapi.rs` against the API description.
//! One scanner, so both compare the same set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The files of `shared/src/http/` whose routes only the local stack serves.
const LOCAL_STACK_ONLY: &[&str] = &["simulator.rs", "dev_sign_in.rs", "openapi.rs"];

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `{storeId}`, `{store_id}` and axum's older `:store_id` alike: a route as
/// `"METHOD /path/{}"`, compared by shape.
pub fn route_shape(method: &str, path: &str) -> String {
    let mut shape = String::new();
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            shape.push('/');
        }
        if segment.starts_with(':') {
            shape.push_str("{}");
            continue;
        }
        let mut in_param = false;
        for c in segment.chars() {
            match c {
                '{' => {
                    in_param = true;
                    shape.push_str("{}");
                }
                '}' => in_param = false,
                c if !in_param => shape.push(c),
                _ => {}
            }
        }
    }
    format!("{} {shape}", method.to_uppercase())
}

/// The public routes: what the routers in `shared/src/http/` declare (`.route("/path",
/// get(..).post(..))`), as [`route_shape`]s, except the local stack's own (the simulator,
/// dev sign-in and the API description it serves), which are never deployed.
pub fn code_routes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let dir = root().join("shared/src/http");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs")
            || path
                .file_name()
                .is_some_and(|n| LOCAL_STACK_ONLY.iter().any(|only| n == *only))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let after = &rest[open + 1..];
            let close = after.find('"').unwrap();
            let route_path = &after[..close];
            // The method router: up to the `)` that closes `.route(`.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in after[close + 1..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = close + 1 + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let methods = &after[close + 1..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                let found = methods.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !methods[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if found {
                    out.insert(route_shape(method, route_path));
                }
            }
            rest = &after[end..];
        }
    }
    assert!(!out.is_empty(), "no routes found in {dir:?}");
    out
}
