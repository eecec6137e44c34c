//! Running one test alone in a child process of the test binary. Every suite is a module
//! of one binary whose tests run on parallel threads; a test that must change process-wide
//! state (the Lambda mains read their settings from the environment, and setting variables
//! while other threads read them is a data race) runs alone in a child instead, where it is
//! the only test, as it was when each suite was a binary of its own. A crash test runs its
//! first half in a child that is then killed with SIGKILL ([`killed_in_a_process`]), and
//! its second half in the test itself, over what the dead child left on disk.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in the child: the name of the one test it runs.
const ALONE: &str = "PLATEFULL_TEST_ALONE";
/// Set in a child that will be killed: the directory it leaves its files in.
const KILL_DIR: &str = "PLATEFULL_TEST_KILL_DIR";
/// What a child prints when it is ready to be killed.
const KILL_ME: &str = "PLATEFULL-TEST-KILL-ME";

/// libtest names tests by their path below the crate: `lambda_events::functions_…`.
fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}

/// Runs `body` over `dir` in a child process of this binary (the test `test` of `module`,
/// alone), then kills the child with SIGKILL as soon as `body` has returned: no destructor,
/// no shutdown path, no flush runs after it, as when the stack is `kill -9`ed. In the child
/// this never returns; in the test it returns once the child is dead, and the test goes on
/// to look at what the child left in `dir`.
pub fn killed_in_a_process(module: &str, test: &str, dir: &Path, body: impl FnOnce(&Path)) {
    let name = test_name(module, test);
    if std::env::var(ALONE).as_deref() == Ok(name.as_str()) {
        let dir = PathBuf::from(std::env::var(KILL_DIR).expect("the kill dir"));
        body(&dir);
        println!("{KILL_ME}");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, &name)
        .env(KILL_DIR, dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the child's output");
        println!("child: {line}");
        if line.contains(KILL_ME) {
            ready = true;
            break;
        }
    }
    // std's kill is SIGKILL on Unix.
    child.kill().expect("kill the child");
    let status = child.wait().expect("reap the child");
    assert!(
        ready,
        "{name}: the child ended before it was ready ({status})"
    );
}

/// Runs the test `test` of `module` (its `module_path!()`) in a child process of this
/// binary where it is the only test; in that child, runs `body`. Fails when the child fails
/// or ran no test.
pub fn alone_in_a_process(module: &str, test: &str, body: impl FnOnce()) {
    let name = test_name(module, test);
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
