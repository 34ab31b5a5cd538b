#!/usr/bin/env bash
# Installs Autobahn|Testsuite's `wstest` (the reference WebSocket conformance suite) into a folder.
#
# Usage: scripts/install-autobahn.sh [DIR]     (default: .autobahn/ at the repository root)
#        -> DIR/wstest, used by scripts/autobahn.py
#
# Why this is not a plain `pip install`: autobahntestsuite is Python 2 code (0.8.2 is the last
# release that works; 25.10.1 on PyPI is the same code and dies at import on Python 3), and
# Debian 12 has no Python 2. So this script
#   1. downloads Debian 11's python2.7 packages (with libssl1.1 and libffi7) through apt, using
#      private apt lists inside DIR (the system's apt state is not touched), and unpacks them
#      into DIR/py27 (nothing is installed system-wide),
#   2. creates a Python 2.7 virtualenv in DIR/venv with virtualenv<20.22 (the last release that
#      can make 2.7 environments), run from a throwaway Python 3 venv,
#   3. pip-installs autobahntestsuite==0.8.2 and its dependencies, pinned below, with
#      pyOpenSSL and service_identity named explicitly: Twisted needs them for wss://
#      (scripts/autobahn.py --tls),
#   4. writes DIR/wstest, a wrapper that sets LD_LIBRARY_PATH to the unpacked libraries.
# It needs: Debian (apt-get, dpkg) on amd64 or arm64, python3 with the venv module, a C compiler
# (wsaccel, Twisted and zope.interface build C extensions), and access to a Debian mirror and PyPI.
# Missing python3-venv / gcc are apt-installed when run as root. Re-running is a fast no-op once
# DIR/wstest works; a half-finished install is cleaned up and redone. DIR cannot be moved
# afterwards (the virtualenv stores absolute paths): reinstall instead.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${1:-$ROOT/.autobahn}
STEP="start"
T0=$SECONDS

say() { printf 'install-autobahn: %s\n' "$*"; }
die() { printf 'install-autobahn: error: %s\n' "$*" >&2; exit 1; }
on_error() {
  local rc=$?
  printf 'install-autobahn: error: step "%s" failed (exit %s); see the output above.\n' "$STEP" "$rc" >&2
  case $STEP in
    "download python2.7")
      printf '  Check that the Debian mirror in /etc/apt/sources.list(.d) is reachable and still carries\n  bullseye (Debian 11). Once bullseye leaves the regular mirrors, point the script at the\n  archive: AUTOBAHN_DEBIAN_MIRROR=http://archive.debian.org/debian %s\n' "$0" >&2 ;;
    "bootstrap virtualenv" | "install autobahntestsuite")
      printf '  Check that PyPI is reachable with pip (pip config / PIP_INDEX_URL), then re-run.\n' >&2 ;;
  esac
  printf '  Re-run the same command to retry (a half-finished install is cleaned up automatically).\n' >&2
  exit "$rc"
}
trap on_error ERR

mkdir -p "$TARGET" || die "cannot create $TARGET"
DIR=$(cd "$TARGET" && pwd)

# --- 0. already installed? ------------------------------------------------------------------
# wss:// needs Twisted's TLS stack in the Python 2.7 venv: an install without it is redone.
tls_ok() {
  LD_LIBRARY_PATH="$(ls -d "$DIR"/py27/usr/lib/*-linux-gnu 2>/dev/null | head -n1)" \
    "$DIR/venv/bin/python" -W ignore -c 'import OpenSSL.SSL, service_identity, twisted.internet.ssl' \
    >/dev/null 2>&1
}
if [[ -x $DIR/wstest ]] && "$DIR/wstest" --autobahnversion >/dev/null 2>&1 && tls_ok; then
  say "wstest already installed in $DIR (nothing to do; delete that folder to reinstall)"
  exit 0
fi
if [[ -e $DIR/wstest || -e $DIR/wstest.tmp || -e $DIR/venv || -e $DIR/py27 || -e $DIR/bootstrap ]]; then
  say "found an incomplete or broken install in $DIR; removing it"
  rm -rf "$DIR/wstest" "$DIR/wstest.tmp" "$DIR/venv" "$DIR/py27" "$DIR/bootstrap"
fi
say "installing wstest (Autobahn|Testsuite 0.8.2) into $DIR"

# --- 1. prerequisites -----------------------------------------------------------------------
STEP="check prerequisites"
command -v apt-get >/dev/null && command -v dpkg >/dev/null \
  || die "this installer needs a Debian-based system (apt-get and dpkg); on others, install wstest by hand
  (Python 2.7 + 'pip install autobahntestsuite==0.8.2') and pass --wstest PATH to scripts/autobahn.py"
case $(dpkg --print-architecture) in
  amd64) MULTIARCH=x86_64-linux-gnu ;;
  arm64) MULTIARCH=aarch64-linux-gnu ;;
  *) die "unsupported architecture $(dpkg --print-architecture) (amd64 and arm64 are supported)" ;;
esac

need=()
if ! command -v python3 >/dev/null; then
  need+=(python3 python3-venv)
else
  probe=$(mktemp -d)
  python3 -m venv "$probe/v" >/dev/null 2>&1 || need+=(python3-venv)
  rm -rf "$probe"
fi
cc_ok() { printf '#include <stdio.h>\nint main(void){return 0;}\n' | "${CC:-cc}" -x c -o /dev/null - >/dev/null 2>&1; }
cc_ok || need+=(gcc libc6-dev)
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || die "missing: ${need[*]}. Install them first: sudo apt-get update && sudo apt-get install -y ${need[*]}"
  say "[1/5] installing missing system packages: ${need[*]}"
  STEP="apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  cc_ok || die "a C compiler is still not usable after installing gcc; set CC=<compiler> and re-run"
else
  say "[1/5] prerequisites present (python3 + venv, C compiler)"
fi

# --- 2. Python 2.7 from Debian 11, unpacked into DIR/py27 ----------------------------------
STEP="download python2.7"
WORK=$DIR/bootstrap PY27=$DIR/py27
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$PY27"
mirror=${AUTOBAHN_DEBIAN_MIRROR:-}
[[ -n $mirror ]] || mirror=$(sed -n 's#^URIs: *\([^ ]*/debian\)/\{0,1\} *$#\1#p' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
[[ -n $mirror ]] || mirror=$(sed -n 's#^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*/debian\)/\{0,1\} .*#\2#p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 || true)
[[ -n $mirror ]] || mirror=http://deb.debian.org/debian
say "[2/5] downloading Debian 11 python2.7 packages from $mirror (private apt lists in $WORK)"
echo "deb $mirror bullseye main" >"$WORK/sources.list"
APT=(-o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$WORK/lists" -o Dir::Cache="$WORK/cache" -o APT::Sandbox::User=root)
apt-get "${APT[@]}" update -qq --error-on=any
(cd "$WORK/debs" && apt-get "${APT[@]}" download -qq python2.7 python2.7-minimal \
  libpython2.7-minimal libpython2.7-stdlib libpython2.7 libpython2.7-dev python2.7-dev \
  libssl1.1 libffi7)
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$PY27"; done
LIBS=$PY27/usr/lib/$MULTIARCH
export LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$PY27/usr/bin/python2.7" -c 'import ssl, ctypes' \
  || die "the unpacked python2.7 does not start (see above); delete $DIR and re-run"

# --- 3. Python 2.7 virtualenv ---------------------------------------------------------------
STEP="bootstrap virtualenv"
say "[3/5] creating a Python 2.7 virtualenv in $DIR/venv (virtualenv<20.22)"
python3 -m venv "$WORK/ve"
"$WORK/ve/bin/pip" install -q --disable-pip-version-check 'virtualenv<20.22'
"$WORK/ve/bin/virtualenv" -q -p "$PY27/usr/bin/python2.7" "$DIR/venv"

# --- 4. autobahntestsuite and its dependencies ------------------------------------------------
STEP="install autobahntestsuite"
say "[4/5] pip-installing autobahntestsuite==0.8.2 (builds wsaccel, Twisted)"
# Pinned to the versions pip resolved for 0.8.2 on Python 2.7 (each the last release that
# supports 2.7), so that every machine runs the same suite.
cat >"$WORK/constraints.txt" <<'PINS'
attrs==21.4.0
autobahn==0.10.9
autobahntestsuite==0.8.2
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==22.10.0
ipaddress==1.0.23
Jinja2==2.11.3
klein==20.6.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==21.0.0
service-identity==21.1.0
six==1.17.0
traceback2==1.4.0
Tubes==0.2.1
Twisted==20.3.0
txaio==2.1.0
typing==3.10.0.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==5.5.2
PINS
CFLAGS="-I$PY27/usr/include -I$PY27/usr/include/python2.7" PIP_NO_PYTHON_VERSION_WARNING=1 \
  "$DIR/venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check \
  -c "$WORK/constraints.txt" autobahntestsuite==0.8.2 pyOpenSSL service-identity

# --- 5. wrapper -----------------------------------------------------------------------------
STEP="write wrapper"
say "[5/5] writing $DIR/wstest"
cat >"$DIR/wstest.tmp" <<EOF
#!/bin/sh
# Generated by scripts/install-autobahn.sh: runs Autobahn|Testsuite 0.8.2 on the Python 2.7
# unpacked in $PY27.
LD_LIBRARY_PATH="$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DIR/venv/bin/wstest" "\$@"
EOF
chmod +x "$DIR/wstest.tmp"
rm -rf "$WORK"
"$DIR/wstest.tmp" --autobahnversion >/dev/null 2>&1 \
  || { "$DIR/wstest.tmp" --autobahnversion || true; die "the installed wstest does not start (see above)"; }
tls_ok || die "Twisted's TLS support (pyOpenSSL, service_identity) does not import in $DIR/venv"
mv "$DIR/wstest.tmp" "$DIR/wstest"
say "done in $((SECONDS - T0)) s: $DIR/wstest ($("$DIR/wstest" --autobahnversion 2>/dev/null | tr -s '\n' ' ' | sed 's/ *$//'))"
