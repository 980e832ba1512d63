//! Keys in a real OS keyring: a private Secret Service (gnome-keyring-daemon on its own D-Bus
//! session, started by this test) holds the key that Settings saved, and `rustbot ask` finds it
//! there with nothing in the environment or in `secrets.env`. Without a Secret Service the key
//! goes to `secrets.env`. Skips (with a note) when `dbus-run-session` or `gnome-keyring-daemon`
//! is missing; CI installs both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use rustbot::config::Secret;
use rustbot::config::os_keyring;
use rustbot::config::secrets::{KeyLocation, key_from_env, store_key};

const CHILD: &str = "RUSTBOT_KEYRING_CHILD";
const VAR: &str = "RUSTBOT_API_KEY";

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_key_saved_from_settings_goes_to_the_keyring_and_ask_finds_it_there() {
    if std::env::var_os(CHILD).is_some() {
        return in_keyring_session();
    }
    if !have("dbus-run-session") || !have("gnome-keyring-daemon") {
        common::peer_missing(
            "no dbus-run-session or gnome-keyring-daemon (apt: dbus gnome-keyring)",
        );
        return;
    }
    // This test binary again, inside a D-Bus session with an unlocked keyring of its own.
    let home = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mkdir -p \"$HOME/.local/share/keyrings\"; \
         echo -n test-password | gnome-keyring-daemon --unlock >/dev/null 2>&1; \
         exec \"{}\" --exact a_key_saved_from_settings_goes_to_the_keyring_and_ask_finds_it_there --nocapture",
        exe.display()
    );
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env(CHILD, "1")
        .env("HOME", home.path())
        .env_remove("RUSTBOT_NO_KEYRING")
        .env_remove(VAR)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the keyring run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs inside the private keyring session.
fn in_keyring_session() {
    let home = std::env::var("HOME").unwrap();
    let secrets = Path::new(&home).join("secrets.env");
    std::fs::write(&secrets, format!("{VAR}=stale-old-key\n")).unwrap();

    let location = store_key(&secrets, VAR, &Secret::new("sk-from-keyring")).unwrap();
    assert_eq!(location, KeyLocation::Keyring);
    assert!(
        !std::fs::read_to_string(&secrets).unwrap().contains(VAR),
        "a stale copy in secrets.env would win at the next start"
    );
    assert_eq!(
        os_keyring::read(VAR).map(|s| s.expose().to_string()),
        Some("sk-from-keyring".into())
    );
    assert_eq!(
        key_from_env(VAR).map(|s| s.expose().to_string()),
        Some("sk-from-keyring".into())
    );

    // A separate `rustbot ask` process: no key in its environment, so it asks the keyring.
    let server = ScriptedServer::start(vec![openai_answer(&["ok"], false)]);
    let dir = tempfile::tempdir().unwrap();
    let out = isolated_rustbot(dir.path())
        .env_remove("RUSTBOT_NO_KEYRING")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap(),
        )
        .args(["--provider", "custom", "--base-url", &server.base_url()])
        .args(["--model", "m", "ask", "hi"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer sk-from-keyring")
    );

    os_keyring::delete(VAR).unwrap();
    assert!(os_keyring::read(VAR).is_none());
}

#[test]
fn without_a_keyring_the_key_goes_to_secrets_env() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // A process without a D-Bus session cannot reach a Secret Service.
    let home = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "fallback_child",
            "--nocapture",
            "--include-ignored",
        ])
        .env_clear()
        .env("HOME", home.path())
        .env("FALLBACK_DIR", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}"
    );
}

/// Run by `without_a_keyring_the_key_goes_to_secrets_env` in a process with no D-Bus session.
#[test]
#[ignore = "run by without_a_keyring_the_key_goes_to_secrets_env"]
fn fallback_child() {
    let dir = std::path::PathBuf::from(std::env::var("FALLBACK_DIR").unwrap());
    let secrets = dir.join("secrets.env");
    let location = store_key(&secrets, VAR, &Secret::new("sk-in-file")).unwrap();
    assert_eq!(location, KeyLocation::SecretsFile);
    assert_eq!(
        std::fs::read_to_string(&secrets).unwrap(),
        format!("{VAR}=sk-in-file\n")
    );
}
