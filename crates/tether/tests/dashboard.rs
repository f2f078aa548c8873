//! The dashboard in a real browser: pytest and Playwright (installed in `.tools/python` by
//! `scripts/install-tools.sh`) drive Debian's headless Chromium against the real `tether up`
//! (this build's binary: sandbox, agent, demo Git repository, API). The whole suite,
//! `crates/tether/tests/browser/`, runs in one pytest process, so `tether up` starts once;
//! its fixtures are in `conftest.py` there. Screenshots and axe-core reports go to
//! `target/browser-artifacts/`.
//!
//! A missing browser or driver fails the test (it never skips): `make tools` installs them.

use std::path::Path;
use std::process::Command;

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("the repository root");
    let tools = root.join(".tools");
    let python = tools.join("python/bin/python");
    let chromium =
        std::env::var("TETHER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let mut missing = Vec::new();
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium ({chromium})"));
    }
    let have_modules = python.exists()
        && Command::new(&python)
            .args(["-c", "import playwright.sync_api, pytest"])
            .status()
            .is_ok_and(|s| s.success());
    if !have_modules {
        missing.push(format!("playwright and pytest in {}", python.display()));
    }
    let axe = tools.join("node/node_modules/axe-core/axe.min.js");
    if !axe.exists() {
        missing.push(format!("axe-core ({})", axe.display()));
    }
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run `make tools`",
        missing.join(", ")
    );

    let path = format!(
        "{}:{}",
        tools.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&python)
        .current_dir(&root)
        .args(["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"])
        .arg("crates/tether/tests/browser")
        .env("TETHER_BIN", env!("CARGO_BIN_EXE_tether"))
        .env("TETHER_CHROMIUM", &chromium)
        .env("PATH", path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("pytest runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the browser tests failed (exit {:?}); screenshots in target/browser-artifacts/:\n{report}",
        out.status.code()
    );
    // Said on success too, so the run's log shows how many browser tests ran.
    println!("{report}");
}
