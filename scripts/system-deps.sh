#!/usr/bin/env bash
# Debian/Ubuntu system libraries Stemma needs: libchromaprint (fingerprints), ffmpeg (decoding anything
# soundfile cannot), libsndfile (soundfile). Installs them with apt-get when run as root, else says what to install.
# With STEMMA_CONTRACT_TOOLS=1 (.ci/run) also what checks the API contract: Node and npm (Spectral,
# openapi-typescript, tsc in tools/node) and promtool (Debian's prometheus package ships it).
set -euo pipefail

missing=()
ldconfig -p 2>/dev/null | grep -q 'libchromaprint\.so' || missing+=(libchromaprint1)
command -v fpcalc >/dev/null 2>&1 || missing+=(libchromaprint-tools)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
ldconfig -p 2>/dev/null | grep -q 'libsndfile\.so' || missing+=(libsndfile1)
if [ "${STEMMA_BROWSER_TESTS:-0}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ "${STEMMA_CONTRACT_TOOLS:-0}" = "1" ]; then
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # promtool comes in the prometheus server's package, whose daemon is not wanted here: a policy-rc.d
  # that refuses every start keeps the package from starting it (only if the machine has none).
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Stemma needs these system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
