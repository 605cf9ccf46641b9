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
  nginx-light      # reference static-file server in bench/http
  dict-gcide       # S1: the GNU Collaborative International Dictionary of English
  wordnet-base     # S1: WordNet, a second real word list with definitions
  fonts-dejavu-core  # the OG cards' typeface (servers/cdn, N9)
  chromium         # headless browser for the web/ page tests (Playwright drives it; never downloaded)
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
