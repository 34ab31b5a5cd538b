#!/usr/bin/env bash
# make tornado-matrix: the hand-over tests against every Tornado minor release
# perfectws/_takeover.py names in TESTED_TORNADO. Each gets a throwaway venv in
# $TMPDIR; the tests run against this checkout. A release that moved one of
# IOStream's private fields fails tests/test_takeover.py, naming the field.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for version in 6.3.3 6.4.2 6.5.2 6.6.1; do
  env_dir="${TMPDIR:-/tmp}/perfectws-tornado-$version"
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  "$env_dir/bin/pip" install -q --disable-pip-version-check "tornado==$version" \
    pytest pytest-asyncio pytest-timeout websockets hypothesis trustme
  echo "== tornado $version"
  PYTHONPATH="$PWD" "$env_dir/bin/python" -m pytest -q -p no:cacheprovider \
    -o addopts="" tests/test_takeover.py || status=1
done
exit $status
