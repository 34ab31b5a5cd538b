#!/bin/sh
# Print the path of a redis-server for the fan-out tests (tests/redis_process.py
# starts its own on a free port), installing Debian's package when none is
# found and we are root.
set -eu

find_redis() {
    if [ -x /usr/bin/redis-server ]; then
        echo /usr/bin/redis-server
    else
        command -v redis-server || return 1
    fi
}

if find_redis; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "no redis-server found: run as root to install it (apt-get install -y redis-server);" \
         "tests/test_fanout.py and tests/test_chat.py skip without it" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no redis-server found and no apt-get: install Redis so that redis-server is on PATH" >&2
    exit 1
fi

echo "installing Debian's redis-server package..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends redis-server >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends redis-server >&2; }
# The package may start a system-wide service; the tests do not use it.
find_redis
