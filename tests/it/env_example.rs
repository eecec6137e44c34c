//! `.env.example` against the README's "Configuration" section and the code: every
//! variable the code reads is in the example, every variable of the example is in the
//! README (and the other way round), and a default the example gives is the one the
//! README's line for that variable states. An operator copying the example gets every
//! setting there is, with the documented defaults.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Read by libraries or by the tests, not by the parts' code.
const NOT_IN_CODE: &[&str] = &["RUST_LOG", "AWS_ENDPOINT_URL", "PLATEFULL_TEST_MOTO_URL"];

/// The prefixes of the variables our code reads.
const PREFIXES: &[&str] = &[
    "PLATEFULL_",
    "OPENROUTER_",
    "RESEND_",
    "TRANSCRIBE_",
    "META_",
    "STACK_",
    "SAIPOS_",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn is_name(s: &str) -> bool {
    s.len() > 3
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `(name, value)` of each `NAME=value` or `#NAME=value` line.
fn example() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join(".env.example")).expect(".env.example");
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.trim_start_matches('#').split_once('=')?;
            is_name(name).then(|| (name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The README's "Configuration" section.
fn readme_configuration() -> String {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = text
        .find("\n## Configuration")
        .expect("a Configuration section");
    let end = text[start + 1..]
        .find("\n## ")
        .map_or(text.len(), |e| start + 1 + e);
    text[start..end].to_owned()
}

/// Every `NAME` in backticks in `text`.
fn backticked_names(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| is_name(s))
        .map(str::to_owned)
        .collect()
}

/// Every string literal `"PREFIX…"` in the Rust files under `dir`.
fn names_in_code(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") {
                names_in_code(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                if is_name(literal)
                    && PREFIXES.iter().any(|p| literal.starts_with(p))
                    // The environment helpers' own unit tests.
                    && !literal.starts_with("PLATEFULL_TEST_ENV_")
                {
                    found.insert(literal.to_owned());
                }
            }
        }
    }
}

#[test]
fn the_env_example_lists_every_setting_with_the_readme_defaults() {
    let example = example();
    let names: BTreeSet<String> = example.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names.len(), example.len(), "a variable listed twice");

    let section = readme_configuration();
    let documented = backticked_names(&section);
    assert_eq!(
        names.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in .env.example but not in the README's Configuration section"
    );
    assert_eq!(
        documented.difference(&names).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the README's Configuration section but not in .env.example"
    );

    let mut read = BTreeSet::new();
    for dir in ["shared/src", "cli/src", "functions", "gateway/src"] {
        names_in_code(&root().join(dir), &mut read);
    }
    assert!(read.contains("PLATEFULL_TABLE"), "the scan found nothing");
    assert_eq!(
        read.difference(&names).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "read by the code but not in .env.example"
    );
    let extra: Vec<&String> = names
        .difference(&read)
        .filter(|n| !NOT_IN_CODE.contains(&n.as_str()))
        .collect();
    assert_eq!(
        extra,
        Vec::<&String>::new(),
        "in .env.example, read by nothing"
    );

    // A default the example gives is on the README's line for that variable.
    for (name, value) in example.iter().filter(|(_, v)| !v.is_empty()) {
        let quoted = format!("`{name}`");
        let agrees = section
            .lines()
            .filter(|l| l.contains(&quoted))
            .any(|l| l.contains(value.as_str()));
        assert!(
            agrees,
            "{name}={value}: the README's line for {name} doesn't say {value:?}"
        );
    }
}
