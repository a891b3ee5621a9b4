#!/usr/bin/env bash
# CI's image check: build the Dockerfile with a real Docker engine and drive a container of
# it in a real browser (tests/test_container.py).
#
#   bash docker/ci-build.sh        from the project root, after `make install`
#
# 1. An engine: the one that answers `docker info`, else (as root) Debian's docker.io,
#    installed if missing and started with its own state in a temporary folder, no bridge
#    and no firewall rules (every container here uses the host network).
# 2. A base image made from Debian's packages (debootstrap minbase bookworm: python3,
#    python3-venv, ca-certificates), with the machine's CA bundle for pip, as
#    BASE_IMAGE. No image registry is needed.
# 3. The image: `docker build --network host`, with a CPU build of torch from pip's local
#    wheels (find-links) when the machine has one, copied into docker/wheels/ for the build.
# 4. tests/test_container.py against it: health check, viewer mode, the λ slider, no
#    upload widget, the password gate; each container on 127.0.0.1 only.
# Containers, images, the wheel copy and an engine started here are removed on exit.
# Where no engine can be started (not root, no apt, dockerd fails) it says so and exits 0:
# `make test` still runs the Dockerfile's static checks and the docker/setup.sh steps
# (tests/test_docker_steps.py). Every step is bounded in time (the test, which builds the
# tiny bundle first, took 30 min on 2 cores shared with heavy jobs: its bound is 45 min).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
SUITE=bookworm # Python 3.11, the Python of the Dockerfile's default base
RUN_ID="taskfair-ci-$$"
BASE="$RUN_ID-base"
STAGE="$RUN_ID-build"
IMAGE="$RUN_ID-image"
WORK=$(mktemp -d)
WHEEL=""
DOCKERD_PID=""
T0=$SECONDS
export DOCKER_BUILDKIT=0 # the classic builder: Debian's engine has no buildx

say() { printf '[ci-build %4ds] %s\n' $((SECONDS - T0)) "$*"; }
no_engine() {
  say "no Docker engine: $*"
  say "skipping the image build and its browser test; make test still runs the Dockerfile's" \
    "static checks and the docker/setup.sh steps (tests/test_docker_steps.py)"
  exit 0
}

cleanup() {
  set +e
  if [ -n "$WHEEL" ]; then rm -f "docker/wheels/$WHEEL"; fi
  if timeout 20 docker info >/dev/null 2>&1; then
    for image in "$IMAGE" "$STAGE" "$BASE"; do
      ids=$(timeout 60 docker ps -aq --filter "ancestor=$image" 2>/dev/null)
      # shellcheck disable=SC2086 # one argument per container id
      if [ -n "$ids" ]; then timeout 120 docker rm -f $ids >/dev/null 2>&1; fi
      timeout 120 docker rmi -f "$image" >/dev/null 2>&1
    done
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  # What the engine left mounted in its folders (its network namespace), innermost first.
  awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt"; done
  rm -rf --one-file-system "$WORK" 2>/dev/null
  say "cleaned up (containers, images${DOCKERD_PID:+, the engine started here})"
}
trap cleanup EXIT
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

[ -x "$PY" ] || { echo "ci-build: $PY not found: run make install first" >&2; exit 1; }
[ -x /usr/bin/chromium ] || {
  echo "ci-build: the browser test needs /usr/bin/chromium: apt-get install -y chromium" >&2
  exit 1
}

# ----------------------------------------------------------------------------- 1. engine
apt_install() { # PACKAGE...: Debian packages, installed if missing
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { timeout 300 apt-get update -qq &&
    timeout 900 apt-get install -y -qq "${missing[@]}"; } \
    >"$WORK/apt.log" 2>&1; then
    tail -n 20 "$WORK/apt.log" >&2
    return 1
  fi
}

if timeout 20 docker info >/dev/null 2>&1; then
  say "using the running Docker engine"
else
  [ "$(id -u)" = 0 ] || no_engine "none runs, and starting one needs root"
  command -v apt-get >/dev/null || no_engine "none runs, and there is no apt-get to install one"
  apt_install docker.io debootstrap || no_engine "docker.io did not install"
  export DOCKER_HOST="unix://$WORK/docker.sock"
  say "starting dockerd (state in a temporary folder, host networking only)"
  dockerd --host "$DOCKER_HOST" --data-root "$WORK/docker" --exec-root "$WORK/exec" \
    --pidfile "$WORK/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
    >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do
    timeout 10 docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  if ! timeout 10 docker info >/dev/null 2>&1; then
    tail -n 20 "$WORK/dockerd.log" >&2 || true
    no_engine "dockerd did not start within 60 s (its log is above)"
  fi
fi
say "engine: $(docker info --format '{{.ServerVersion}}, storage {{.Driver}}')"
apt_install debootstrap || { echo "ci-build: debootstrap is needed (apt-get install debootstrap, as root)" >&2; exit 1; }

# ----------------------------------------------------------------------------- 2. base image
pip_setting() { # NAME: the first value of pip's setting NAME (global, env or site)
  { "$PY" -m pip config list 2>/dev/null || true; } |
    sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | head -n 1 || true # none: empty
}
debian_mirror() { # the first Debian mirror in the machine's apt sources (not security)
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p'
  } | awk '!/security/ {print; exit}' || true # none: empty
}
MIRROR=$(debian_mirror)
[ -n "$MIRROR" ] || { echo "ci-build: no Debian mirror in the apt sources" >&2; exit 1; }
CA=$(pip_setting cert)
CA=${CA:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
[ -f "$CA" ] || { echo "ci-build: pip's CA bundle $CA does not exist" >&2; exit 1; }

say "debootstrap $SUITE (minbase, python3) from the machine's Debian mirror"
ROOTFS="$WORK/rootfs"
timeout 900 debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
# What an image never needs: package lists and caches, manuals, translations (licences stay).
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/man/* \
  "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
find "$ROOTFS/usr/share/doc" -type f ! -name copyright -delete
# pip inside the build trusts what the machine's pip trusts.
cp "$CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
tar -C "$ROOTFS" -c . | timeout 300 docker import - "$BASE" >/dev/null
rm -rf --one-file-system "$ROOTFS"
say "base image $BASE: $(docker image inspect --format '{{.Size}}' "$BASE") bytes"

# ----------------------------------------------------------------------------- 3. the image
TORCH=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements.txt)
if [ -n "$TORCH" ] && timeout 300 "$PY" -m pip download -q --no-index --no-deps \
  --only-binary=:all: --python-version 3.11 -d "$WORK/wheels" "torch==$TORCH" 2>/dev/null; then
  WHEEL=$(basename "$(ls "$WORK"/wheels/torch-*.whl)")
  cp "$WORK/wheels/$WHEEL" docker/wheels/
  say "torch from the machine's local wheel $WHEEL"
else
  say "no local wheel of torch==$TORCH in pip's find-links: the build takes the index's build"
fi

say "docker build (base $BASE)"
BUILD_START=$SECONDS
build() { timeout 1800 docker build --network host --build-arg "BASE_IMAGE=$BASE" "$@" .; }
build --target build -t "$STAGE" # tagged, so that cleanup removes the build stage too
build -t "$IMAGE"
BUILD_TIME=$((SECONDS - BUILD_START))
SIZE=$(docker image inspect --format '{{.Size}}' "$IMAGE")
say "image $IMAGE built in ${BUILD_TIME} s: $SIZE bytes ($((SIZE / 1000000)) MB)" \
  "(docker image inspect --format '{{.Size}}')"

# ----------------------------------------------------------------------------- 4. the test
say "tests/test_container.py against $IMAGE"
TASKFAIR_IMAGE="$IMAGE" timeout 2700 "$PY" -m pytest -q -p no:cacheprovider tests/test_container.py
say "done in $((SECONDS - T0)) s (image build ${BUILD_TIME} s, image $((SIZE / 1000000)) MB)"
