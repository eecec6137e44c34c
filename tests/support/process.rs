//! Running one test alone in a child process of the test binary. Every suite is a module
//! of one binary whose tests run on parallel threads; a test that must change process-wide
//! state (the Lambda mains read their settings from the environment, and setting variables
//! while other threads read them is a data race) runs alone in a child instead, where it is
//! the only test, as it was when each suite was a binary of its own.

use std::process::Command;

/// Set in the child: the name of the one test it runs.
const ALONE: &str = "PLATEFULL_TEST_ALONE";

/// Runs the test `test` of `module` (its `module_path!()`) in a child process of this
/// binary where it is the only test; in that child, runs `body`. Fails when the child fails
/// or ran no test.
pub fn alone_in_a_process(module: &str, test: &str, body: impl FnOnce()) {
    // libtest names tests by their path below the crate: `lambda_events::functions_…`.
    let name = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    };
    if std::env::var(ALONE).as_deref() == Ok(name.as_str()) {
        return body();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, &name)
        .output()
        .expect("run the test binary again");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run in its own process"
    );
}
