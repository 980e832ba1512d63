#!/usr/bin/env bash
# Installs the system packages Rustbot needs to build, run and test on Debian/Ubuntu.
# Idempotent: only what is missing is installed.
set -euo pipefail

need_apt=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# dbus + gnome-keyring: a real Secret Service for tests/os_keyring.rs (a private session per test).
# chromium: the browser tests/native_host_chromium.rs drives headless (an extension talking to
# the native host).
APT_PACKAGES=(pkg-config ca-certificates dbus gnome-keyring chromium)
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# The reference MCP server the tool tests run against (npm registry; Node.js is on the machine).
if command -v npm >/dev/null && ! command -v mcp-server-everything >/dev/null; then
  npm install -g --silent @modelcontextprotocol/server-everything >/dev/null 2>&1 \
    || echo "warning: could not install @modelcontextprotocol/server-everything; MCP tests will be skipped" >&2
fi

# The official OpenAI Python client, which the serve tests drive unmodified (PyPI).
if command -v python3 >/dev/null && ! python3 -c "import openai" 2>/dev/null; then
  python3 -m pip install --quiet openai >/dev/null 2>&1 \
    || echo "warning: could not install the openai Python package; its serve test will be skipped" >&2
fi

command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy
