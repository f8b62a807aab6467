# shellcheck shell=bash
# Sourced by ./demo and ./test (not run on its own): make what they need on first use, skip it when it is there.
# Each step says what it did in one line on stderr. Portable bash (3.2 on macOS too): no associative arrays.

DEV_PYTHON_VERSION=3.13  # the version infra/ deploys (Flex Consumption; azure-functions-runtime in requirements.txt)

dev_say() { printf '%s\n' "$*" >&2; }

# sha256 of the given files together (GNU coreutils or the shasum that macOS ships).
dev_hash() {
  if command -v sha256sum >/dev/null 2>&1; then cat "$@" | sha256sum | cut -d ' ' -f 1
  else cat "$@" | shasum -a 256 | cut -d ' ' -f 1; fi
}

# A Python $DEV_PYTHON_VERSION interpreter: $PYTHON if set, python3.13 on PATH, or pyenv's.
dev_find_python() {
  local candidate
  set -- "${PYTHON:-}" "$(command -v "python$DEV_PYTHON_VERSION" 2>/dev/null || true)"
  for candidate in "$HOME"/.pyenv/versions/"$DEV_PYTHON_VERSION".*/bin/python; do set -- "$@" "$candidate"; done
  for candidate in "$@"; do
    # A pyenv shim exists even when that version is not installed: ask the interpreter itself.
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
       [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$DEV_PYTHON_VERSION" ]
    then printf '%s\n' "$candidate"; return 0; fi
  done
  return 1
}

# .venv on Python 3.13, with requirements-dev.txt (which includes requirements.txt) installed. Re-installs only when
# a requirements file changed: their hash is kept in .venv/.requirements.sha256.
dev_python_env() {
  local python stamp want have
  if [ -x .venv/bin/python ] &&
     [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$DEV_PYTHON_VERSION" ]
  then
    dev_say "· .venv: Python $DEV_PYTHON_VERSION already there"
  else
    python=$(dev_find_python) || {
      dev_say "Python $DEV_PYTHON_VERSION is needed (the version infra/ deploys): install it (python.org, pyenv," \
              "your package manager) or set PYTHON=/path/to/python$DEV_PYTHON_VERSION"
      return 1
    }
    dev_say "· .venv: creating it with $python"
    rm -rf .venv
    "$python" -m venv .venv || return 1
  fi
  stamp=.venv/.requirements.sha256
  want=$(dev_hash requirements.txt requirements-dev.txt)
  have=$(cat "$stamp" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then
    dev_say "· Python packages: requirements unchanged, nothing to install"
  else
    dev_say "· Python packages: installing requirements-dev.txt (requirements changed or first run)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt || return 1
    printf '%s\n' "$want" >"$stamp"
  fi
}

# node_modules from package-lock.json (Azurite, the storage emulator the tests use). npm ci again only when the lock
# changed: its hash is kept in node_modules/.package-lock.sha256.
dev_node_env() {
  local stamp=node_modules/.package-lock.sha256 want have
  want=$(dev_hash package-lock.json)
  have=$(cat "$stamp" 2>/dev/null || true)
  if [ -x node_modules/.bin/azurite ] && [ "$want" = "$have" ]; then
    dev_say "· node_modules: package-lock.json unchanged, nothing to install"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { dev_say "Node.js with npm is needed for Azurite (https://nodejs.org)"; return 1; }
  dev_say "· node_modules: npm ci (Azurite; package-lock.json changed or first run)"
  npm ci --silent --no-audit --no-fund || return 1
  printf '%s\n' "$want" >"$stamp"
}

# The shellcheck program lints scripts/grant-graph-permissions.sh and these scripts (tests/deploy); without it that test skips.
dev_shellcheck() {
  if command -v shellcheck >/dev/null 2>&1; then
    dev_say "· shellcheck: already installed"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    dev_say "· shellcheck: installing it with apt-get"
    { apt-get update -qq && apt-get install -y -qq shellcheck; } >/dev/null 2>&1 \
      || dev_say "  could not install shellcheck: its test will be skipped"
  else
    dev_say "· shellcheck: not installed, its test will be skipped (apt-get install shellcheck / brew install shellcheck)"
  fi
}

dev_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Azurite on AZURITE_PORT_BASE (default 10000) and the next two ports: the one already listening, or one started
# here in memory, stopped when the calling script exits.
dev_azurite() {
  local base=${AZURITE_PORT_BASE:-10000}
  if dev_port_open "$base" && dev_port_open $((base + 1)) && dev_port_open $((base + 2)); then
    dev_say "· Azurite: already listening on $base-$((base + 2)), using it"
    return 0
  fi
  dev_azurite_dir=$(mktemp -d)
  dev_say "· Azurite: starting it in memory on ports $base-$((base + 2))"
  # Azurite 3.35 refuses --location with --inMemoryPersistence (so it runs in its temp dir), needs
  # --skipApiVersionCheck for the newer Python storage SDK, and sends telemetry unless told not to.
  (cd "$dev_azurite_dir" && exec "$OLDPWD/node_modules/.bin/azurite" --silent --skipApiVersionCheck \
     --inMemoryPersistence --disableTelemetry \
     --blobPort "$base" --queuePort $((base + 1)) --tablePort $((base + 2)) >azurite.log 2>&1) &
  dev_azurite_pid=$!
  trap 'kill "$dev_azurite_pid" 2>/dev/null; rm -rf "$dev_azurite_dir"' EXIT
  for _ in $(seq 1 150); do
    if dev_port_open "$base" && dev_port_open $((base + 1)) && dev_port_open $((base + 2)); then return 0; fi
    kill -0 "$dev_azurite_pid" 2>/dev/null || break
    sleep 0.2
  done
  dev_say "Azurite did not start on ports $base-$((base + 2)) (is another program using them? set AZURITE_PORT_BASE):"
  cat "$dev_azurite_dir/azurite.log" >&2 2>/dev/null || true
  return 1
}
