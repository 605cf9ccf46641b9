#!/usr/bin/env bash
# Idempotent setup: the OS packages the tests and the demo need (installed with apt-get
# when we are root), then .venv with syslab installed editable with its dev extras.
# A second run with everything present does no network I/O and takes well under 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."

# One package per line, with what it is for.
OS_PACKAGES=(
  mariadb-server   # private MariaDB instances for D*, tests and the demo
  mariadb-client   # mariadb-admin ping, the mariadb CLI
  redis-server     # private redis-server instances, O4 cluster, reference in bench/cache
  redis-tools      # redis-cli and redis-benchmark (interoperability and bench/cache)
  rabbitmq-server  # private RabbitMQ nodes (harness.services.RabbitMQ)
  kcat             # M1: a Kafka client nobody here wrote, producing to and consuming from servers/kafka
  netcat-openbsd   # nc: inline RESP and raw TCP tests
  curl             # HTTP interoperability tests
  wrk              # bench/http load generator
  nginx-light      # reference static-file server in bench/http, the backends of bench/lb
  haproxy          # N6: the reference load balancer in bench/lb
  ffmpeg           # N13: the test video, the HLS ladder and the live encoder; ffprobe in tests
  dict-gcide       # S1: the GNU Collaborative International Dictionary of English
  wordnet-base     # S1: WordNet, a second real word list with definitions
  fonts-dejavu-core  # the OG cards' typeface (servers/cdn, N9)
  chromium         # headless browser for the web/ page tests (Playwright drives it; never downloaded)
  nodejs           # node and npm: build the React page of N4 (web/sse) with Vite
  tcl              # tclsh: Redis's own test suite (make redis-tests) runs on it
)

missing=()
for line in "${OS_PACKAGES[@]}"; do
  pkg=${line%% *}
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing OS packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts the packaged daemons on install; syslab starts its own private ones.
  else
    echo "setup: missing OS packages (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
else
  echo "setup: OS packages present"
fi

STAMP=.venv/.syslab-installed
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setup: installing syslab (editable) with dev extras into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$STAMP"
else
  echo "setup: .venv up to date"
fi

# The React page of N4 (web/sse): npm packages pinned by package-lock.json, built by Vite
# into web/sse/dist (served by servers/sse at /). Rebuilt only when a source is newer.
WEB=web/sse
if [ ! -f "$WEB/dist/index.html" ] || [ -n "$(find "$WEB/src" "$WEB/index.html" "$WEB/package.json" \
     "$WEB/package-lock.json" "$WEB/vite.config.js" -newer "$WEB/dist/index.html" 2>/dev/null | head -1)" ]; then
  if ! command -v npm >/dev/null; then
    echo "setup: npm is missing (it comes with nodejs from NodeSource, or apt-get install npm)" >&2
    exit 1
  fi
  echo "setup: building the React page in $WEB (npm ci, vite build)"
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent) >/dev/null
else
  echo "setup: web/sse page up to date"
fi

# The HLS player page of N13 (web/hls): hls.js from npm, pinned by package-lock.json and
# served from node_modules by servers/hls. Installed only when missing or the lock changed.
HLS=web/hls
if [ ! -f "$HLS/node_modules/hls.js/dist/hls.min.js" ] || [ "$HLS/package-lock.json" -nt "$HLS/node_modules/.package-lock.json" ]; then
  echo "setup: installing hls.js in $HLS (npm ci)"
  (cd "$HLS" && npm ci --no-audit --no-fund --loglevel=error) >/dev/null
else
  echo "setup: web/hls page up to date"
fi

# The chat page of N15 (web/chat): the official socket.io-client from npm, pinned by
# package-lock.json, served from node_modules by servers/chat and used by the Node interop test.
CHAT=web/chat
if [ ! -f "$CHAT/node_modules/socket.io-client/dist/socket.io.min.js" ] || [ "$CHAT/package-lock.json" -nt "$CHAT/node_modules/.package-lock.json" ]; then
  echo "setup: installing socket.io-client in $CHAT (npm ci)"
  (cd "$CHAT" && npm ci --no-audit --no-fund --loglevel=error) >/dev/null
else
  echo "setup: web/chat page up to date"
fi

# Redis's own TCL test suite (make redis-tests, tests/test_redis_suite.py): the tests/ of
# Debian's redis source package, fetched once into ~/.cache/syslab/redis-src (where
# bench/redis_suite.py looks), enabling Debian's deb-src lines if they are off.
REDIS_SRC_CACHE="$HOME/.cache/syslab/redis-src"
if [ -z "${REDIS_SRC:-}" ] && ! ls "$REDIS_SRC_CACHE"/redis-*/tests/test_helper.tcl >/dev/null 2>&1 \
   && [ ! -f /work/redis-src/redis-7.0.15/tests/test_helper.tcl ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: fetching Redis's source for its test suite (apt-get source redis)"
    SOURCES=/etc/apt/sources.list.d/debian.sources
    if [ -f "$SOURCES" ] && ! grep -q "deb-src" "$SOURCES"; then
      sed -i 's/^Types: deb$/Types: deb deb-src/' "$SOURCES"
    fi
    apt-get update -q >/dev/null
    mkdir -p "$REDIS_SRC_CACHE"
    (cd "$REDIS_SRC_CACHE" && apt-get source -q redis >/dev/null 2>&1) \
      || echo "setup: apt-get source redis failed; make redis-tests will say so" >&2
  else
    echo "setup: Redis's source is missing (make redis-tests needs it: apt-get source redis)" >&2
  fi
fi
