#!/bin/sh
# Print the path of a Chromium for tests/test_browser.py, installing Debian's
# package when none is found and we are root. Never uses `playwright install`.
#
#   PERFECTWS_CHROMIUM="$(scripts/chromium.sh)" pytest -m browser
set -eu

find_chromium() {
    if [ -n "${PERFECTWS_CHROMIUM:-}" ] && [ -x "$PERFECTWS_CHROMIUM" ]; then
        echo "$PERFECTWS_CHROMIUM"
    elif [ -x /usr/bin/chromium ]; then
        echo /usr/bin/chromium
    else
        command -v chromium || return 1
    fi
}

if find_chromium; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "no Chromium found: run as root to install it (apt-get install -y chromium)," \
         "or set PERFECTWS_CHROMIUM" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium found and no apt-get: install Chromium, then set PERFECTWS_CHROMIUM" >&2
    exit 1
fi

echo "installing Debian's chromium package (about 20 s)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
find_chromium
