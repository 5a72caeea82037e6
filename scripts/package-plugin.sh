#!/usr/bin/env bash
# Builds the release binary and assembles the ready-to-copy Grafana plugin directory:
#   dist/secretsbroker-secretsmanager/{plugin.json, README.md, img/, secrets_plugin_start_<os>_<arch>}
# Grafana runs exactly that executable name for secretsmanager plugins (Go's os/arch names).
# Usage: scripts/package-plugin.sh [--target <rust-target-triple>]
set -euo pipefail
cd "$(dirname "$0")/.."

PLUGIN_ID=secretsbroker-secretsmanager
target=""
if [[ "${1:-}" == "--target" ]]; then
  target="${2:?--target needs a triple}"
fi

if [[ -n "$target" ]]; then
  cargo build --release --bin secrets-broker --target "$target"
  triple="$target"
else
  cargo build --release --bin secrets-broker
  triple="$(rustc -vV | sed -n 's/^host: //p')"
fi

case "$triple" in
  x86_64-*) arch=amd64 ;;
  aarch64-*) arch=arm64 ;;
  *) echo "unsupported architecture in $triple" >&2; exit 1 ;;
esac
case "$triple" in
  *-linux-*) os=linux; ext="" ;;
  *-apple-darwin) os=darwin; ext="" ;;
  *-windows-*) os=windows; ext=".exe" ;;
  *) echo "unsupported OS in $triple" >&2; exit 1 ;;
esac

target_dir="${CARGO_TARGET_DIR:-target}"
if [[ -n "$target" ]]; then
  bin="$target_dir/$target/release/secrets-broker$ext"
else
  bin="$target_dir/release/secrets-broker$ext"
fi

out="dist/$PLUGIN_ID"
rm -rf "$out"
mkdir -p "$out/img"
cp plugin.json README.md "$out/"
cp img/logo.svg "$out/img/"
install -m 0755 "$bin" "$out/secrets_plugin_start_${os}_${arch}${ext}"
echo "plugin directory ready: $out"
ls -l "$out"
