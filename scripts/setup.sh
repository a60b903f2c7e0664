#!/usr/bin/env bash
# Installs everything gantry and its tests need on a Debian machine, idempotently:
# Debian packages (containerd, runc, CNI plugins, registry, etcd, busybox for the air-gap image,
# openssl for the ingress TLS tests, chromium for the web dashboard's browser tests; age, gnupg
# and openssh-client for the encrypted-Secret and signed-commit tests, which check gantry against
# the real tools),
# npm packages, the TypeScript build, and the air-gap image built from busybox-static.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

packages=(git containerd runc containernetworking-plugins docker-registry busybox-static
          iptables iproute2 etcd-server apache2-utils openssl chromium age gnupg openssh-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # Debian's packages try to start their services; we run our own private instances instead.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install (node_modules keeps a copy).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "building (gantry, and the web dashboard into dist/dashboard)"
npm run --silent build

# The sample app's image, built offline from busybox-static into the air-gap images folder that
# `gantry up` imports at start. Rebuilt when busybox changes (the layout records its digest).
images_dir="${GANTRY_IMAGES_DIR:-images}"
if [ ! -f "$images_dir/busybox/index.json" ] || [ /bin/busybox -nt "$images_dir/busybox/index.json" ]; then
  say "building the air-gap image gantry.local/busybox:1.35 into $images_dir/busybox"
  mkdir -p "$images_dir"
  node --import tsx scripts/build-test-image.ts "$images_dir/busybox" gantry.local/busybox:1.35 >/dev/null
fi
