#!/usr/bin/env bash
# Builds the Grafana release bundle of the plugin: a zip that `grafana cli --pluginUrl <zip>
# plugins install secretsbroker-secretsmanager` installs, and its SHA-256 file:
#
#   <out>/secretsbroker-secretsmanager-<version>.zip
#     secretsbroker-secretsmanager/            (top folder: the plugin id from plugin.json)
#       plugin.json  README.md  LICENSE  img/logo.svg
#       secrets_plugin_start_linux_amd64       (x86-64 Linux, mode 0755)
#       secrets_plugin_start_linux_arm64       (aarch64 Linux, mode 0755, cross-compiled)
#   <out>/secretsbroker-secretsmanager-<version>.zip.sha256   (`sha256sum -c` checks it)
#   <out>/secretsbroker-secretsmanager/        (the same tree unzipped, for a copy install)
#
# Grafana runs `secrets_plugin_start_<GOOS>_<GOARCH>` from the plugin folder for plugins of type
# secretsmanager; `grafana cli` replaces the zip's top folder name with the plugin id and makes
# files named *_linux_amd64 / *_linux_arm64 executable, and the zip carries mode 0755 as well.
#
# The arm64 executable is cross-compiled with Debian's aarch64 toolchain; it needs
#   rustup target add aarch64-unknown-linux-gnu     (the Rust standard library for aarch64)
#   apt-get install gcc-aarch64-linux-gnu           (linker and C compiler for ring and SQLite)
# The linker comes from CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER (default
# aarch64-linux-gnu-gcc), set for this build only.
#
# Usage: scripts/package-plugin.sh [options]
#   --profile NAME        cargo profile of the binaries it builds (default: release)
#   --amd64-binary PATH   use this already-built x86-64 Linux binary instead of building one
#   --arm64-binary PATH   use this already-built aarch64 Linux binary instead of building one
#   --skip-arm64          leave the arm64 executable out of the zip (prints a warning); without
#                         it a missing cross toolchain is an error naming what is missing
#   --out DIR             where the zip, its .sha256 and the plugin folder go (default: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

usage() { sed -n 's/^# \{0,1\}//; /^Usage:/,/^set -euo/p' "$0" | sed '$d'; }
die() { echo "package-plugin: error: $*" >&2; exit 2; }

profile=release
amd64_binary=""
arm64_binary=""
skip_arm64=0
out=dist
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a cargo profile name}"; shift 2 ;;
    --amd64-binary) amd64_binary="${2:?--amd64-binary needs a path}"; shift 2 ;;
    --arm64-binary) arm64_binary="${2:?--arm64-binary needs a path}"; shift 2 ;;
    --skip-arm64) skip_arm64=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
if [[ $skip_arm64 == 1 && -n "$arm64_binary" ]]; then
  die "--skip-arm64 and --arm64-binary contradict each other"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The plugin id and version come from plugin.json (one "id" and one "version" key in it).
json_string() { sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" plugin.json; }
plugin_id="$(json_string id)"
version="$(json_string version)"
[[ "$plugin_id" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "plugin.json: no usable \"id\" (found '$plugin_id')"
[[ -n "$version" && "$(wc -l <<<"$version")" == 1 ]] || die "plugin.json: expected one \"version\" (found '$version')"
grep -q '"type"[[:space:]]*:[[:space:]]*"secretsmanager"' plugin.json \
  || die "plugin.json: \"type\" is not \"secretsmanager\", Grafana would not run secrets_plugin_start_*"

# ELF machine of a file: x86_64 or aarch64 (bytes 18-19 of the header, little endian).
elf_machine() {
  local magic machine
  magic="$(od -An -tx1 -N4 "$1" | tr -d ' \n')"
  [[ "$magic" == 7f454c46 ]] || { echo "not-elf"; return; }
  machine="$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')"
  case "$machine" in
    3e00) echo x86_64 ;;
    b700) echo aarch64 ;;
    *) echo "machine-$machine" ;;
  esac
}

check_binary() { # path expected-machine option
  [[ -f "$1" ]] || die "$3 $1: no such file"
  local m
  m="$(elf_machine "$1")"
  [[ "$m" == "$2" ]] || die "$3 $1: is $m, expected an $2 Linux executable"
}

# Builds the binary for a target triple (empty: the host) and prints its path (cargo's own
# report of the executable, so the target dir and profile directory names are cargo's).
cargo_build() {
  local target_args=() exe
  [[ -n "$1" ]] && target_args=(--target "$1")
  exe="$(cargo build --locked --profile "$profile" --bin secrets-broker "${target_args[@]}" \
           --message-format=json-render-diagnostics \
         | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
  [[ -n "$exe" && -f "$exe" ]] || die "cargo build ${target_args[*]} reported no secrets-broker executable"
  echo "$exe"
}

# What the arm64 cross build needs; prints one line per missing piece.
arm64_missing() {
  local sysroot linker cc
  sysroot="$(rustc --print sysroot)"
  if [[ ! -d "$sysroot/lib/rustlib/aarch64-unknown-linux-gnu/lib" ]]; then
    echo "the Rust standard library for aarch64-unknown-linux-gnu (not in $sysroot/lib/rustlib;" \
         "install it with: rustup target add aarch64-unknown-linux-gnu)"
  fi
  linker="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"
  command -v "$linker" >/dev/null \
    || echo "the aarch64 linker '$linker' (install it with: apt-get install gcc-aarch64-linux-gnu)"
  cc="${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}"
  if [[ "$cc" != "$linker" ]] && ! command -v "$cc" >/dev/null; then
    echo "the aarch64 C compiler '$cc' for ring and SQLite (apt-get install gcc-aarch64-linux-gnu)"
  fi
}

host="$(rustc -vV | sed -n 's/^host: //p')"
[[ "$host" == x86_64-unknown-linux-gnu || -n "$amd64_binary" ]] \
  || die "the host is $host: build the amd64 executable elsewhere and pass it with --amd64-binary"

if [[ $skip_arm64 == 0 && -z "$arm64_binary" ]]; then
  missing="$(arm64_missing)"
  if [[ -n "$missing" ]]; then
    {
      echo "package-plugin: error: cannot cross-compile the arm64 executable; missing:"
      sed 's/^/  - /' <<<"$missing"
      echo "Install those, pass a built one with --arm64-binary, or pass --skip-arm64 to"
      echo "build a zip without arm64 (Grafana on ARM could then not run the plugin)."
    } >&2
    exit 2
  fi
fi

# amd64
if [[ -n "$amd64_binary" ]]; then
  check_binary "$amd64_binary" x86_64 --amd64-binary
else
  echo "building the amd64 executable (profile $profile)" >&2
  started=$SECONDS
  amd64_binary="$(cargo_build "")"
  check_binary "$amd64_binary" x86_64 "cargo built"
  echo "amd64 executable: $amd64_binary ($((SECONDS - started)) s)" >&2
fi

# arm64
if [[ $skip_arm64 == 1 ]]; then
  {
    echo "################################################################################"
    echo "WARNING: --skip-arm64: the zip has NO secrets_plugin_start_linux_arm64."
    echo "WARNING: Grafana on ARM (Graviton, Raspberry Pi) cannot run this bundle."
    echo "################################################################################"
  } >&2
elif [[ -n "$arm64_binary" ]]; then
  check_binary "$arm64_binary" aarch64 --arm64-binary
else
  echo "cross-compiling the arm64 executable (profile $profile)" >&2
  started=$SECONDS
  arm64_binary="$(
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"
    export CC_aarch64_unknown_linux_gnu="${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}"
    export AR_aarch64_unknown_linux_gnu="${AR_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-ar}"
    cargo_build aarch64-unknown-linux-gnu
  )"
  check_binary "$arm64_binary" aarch64 "cargo built"
  echo "arm64 executable: $arm64_binary ($((SECONDS - started)) s)" >&2
fi

# The plugin folder, with fixed modes whatever the umask.
stage="$out/$plugin_id"
rm -rf "$stage"
install -d -m 0755 "$stage" "$stage/img"
install -m 0644 plugin.json README.md LICENSE "$stage/"
install -m 0644 img/logo.svg "$stage/img/"
install -m 0755 "$amd64_binary" "$stage/secrets_plugin_start_linux_amd64"
if [[ -n "$arm64_binary" ]]; then
  install -m 0755 "$arm64_binary" "$stage/secrets_plugin_start_linux_arm64"
fi

# The zip: entries under the top folder, Unix modes kept, no extra uid/gid/time fields (-X).
zip_name="$plugin_id-$version.zip"
rm -f "$out/$zip_name" "$out/$zip_name.sha256" "$out/$zip_name.tmp"
files=(plugin.json README.md LICENSE img/logo.svg secrets_plugin_start_linux_amd64)
[[ -n "$arm64_binary" ]] && files+=(secrets_plugin_start_linux_arm64)
entries=("$plugin_id/" "$plugin_id/img/")
for f in "${files[@]}"; do entries+=("$plugin_id/$f"); done
started=$SECONDS
# Directory entries first (zip without -r adds a directory's own entry only), then the files.
(
  cd "$out"
  zip -q -X "$zip_name.tmp" "$plugin_id/" "$plugin_id/img/"
  zip -q -X "$zip_name.tmp" "${entries[@]:2}"
)
mv "$out/$zip_name.tmp" "$out/$zip_name"
(cd "$out" && sha256sum "$zip_name" >"$zip_name.sha256")
echo "zipped in $((SECONDS - started)) s" >&2

echo "plugin zip: $out/$zip_name"
echo "sha256:     $out/$zip_name.sha256 ($(cut -d' ' -f1 "$out/$zip_name.sha256"))"
echo "install:    grafana cli --pluginUrl $out/$zip_name plugins install $plugin_id"
unzip -Z -l "$out/$zip_name" | sed 's/^/  /'
[[ -n "$arm64_binary" ]] || echo "(no arm64 executable: --skip-arm64)"
