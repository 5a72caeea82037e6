#!/usr/bin/env bash
# Installs the cross-client test clients into a cache directory (created when missing, reused afterwards):
#   <cache>/venv          python venv with boto3 and awscli (v1) from PyPI
#   <cache>/node          node project with @aws-sdk/client-secrets-manager from npm
# Usage: setup.sh <cache-dir> python|node
# Prints nothing on success apart from install logs; exits non-zero when an install fails.
set -euo pipefail
cache="$1"
what="$2"
mkdir -p "$cache"
case "$what" in
  python)
    if [ ! -f "$cache/venv/.installed" ]; then
      rm -rf "$cache/venv"
      python3 -m venv "$cache/venv"
      "$cache/venv/bin/pip" install --quiet --disable-pip-version-check 'boto3>=1.34' 'awscli>=1.32'
      touch "$cache/venv/.installed"
    fi
    ;;
  node)
    if [ ! -f "$cache/node/.installed" ]; then
      rm -rf "$cache/node"
      mkdir -p "$cache/node"
      (cd "$cache/node" && printf '{"name":"sm-emulator-cross-client","private":true,"type":"module"}\n' > package.json \
        && npm install --silent --no-audit --no-fund '@aws-sdk/client-secrets-manager@^3' >/dev/null)
      touch "$cache/node/.installed"
    fi
    ;;
  *)
    echo "usage: setup.sh <cache-dir> python|node" >&2
    exit 2
    ;;
esac
