#!/bin/sh
# sccache.sh COMMAND...: runs COMMAND (cargo) under sccache when the image build has the
# `sccache` secret, else runs it as it is. The Dockerfile copies this file into its build stages and
# runs every step that compiles through it (the final image never holds it).
#
# The secret is a file of KEY=VALUE lines: the standard SCCACHE_* settings and the backend's
# credentials (`cargo xtask docker` writes it from the environment; by hand:
# `docker build --secret id=sccache,src=FILE`, see README.md). Lines are exported as they are,
# never evaluated, and never printed. sccache is the builder image's when it has one, else the
# release the Dockerfile pins (SCCACHE_VERSION), checked against its SHA-256 (SCCACHE_SHA256_*),
# kept in a temporary directory that is gone when the step ends.
set -eu
secret=/run/secrets/sccache
if [ ! -s "$secret" ]; then
  exec "$@"
fi
while IFS= read -r line || [ -n "$line" ]; do
  name=${line%%=*}
  case $line in
    '' | '#'*) continue ;;
    *=*) ;;
    *) echo "sccache.sh: ignored a line of the sccache secret without '='" >&2; continue ;;
  esac
  case $name in
    '' | [0-9]* | *[!A-Za-z0-9_]*) echo "sccache.sh: ignored a line of the sccache secret: not NAME=VALUE" >&2 ;;
    *) export "${line?}" ;;
  esac
done < "$secret"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sccache=$(command -v sccache || true)
if [ -z "$sccache" ]; then
  case $(uname -m) in
    x86_64) arch=x86_64 sum=${SCCACHE_SHA256_AMD64:-} ;;
    aarch64 | arm64) arch=aarch64 sum=${SCCACHE_SHA256_ARM64:-} ;;
    *) echo "sccache.sh: error: no sccache release for $(uname -m): use a builder image that has sccache" >&2; exit 1 ;;
  esac
  release="sccache-v${SCCACHE_VERSION:?}-$arch-unknown-linux-musl"
  url="https://github.com/mozilla/sccache/releases/download/v$SCCACHE_VERSION/$release.tar.gz"
  if command -v curl >/dev/null; then
    curl --fail --silent --show-error --location --retry 3 --output "$tmp/sccache.tar.gz" "$url"
  elif command -v wget >/dev/null; then
    wget --quiet --output-document "$tmp/sccache.tar.gz" "$url"
  else
    echo "sccache.sh: error: the builder image has neither sccache nor curl or wget to download it: use a builder image that has sccache" >&2
    exit 1
  fi
  echo "${sum:?no SHA-256 for this sccache release}  $tmp/sccache.tar.gz" | sha256sum --check --quiet
  tar --extract --gzip --file "$tmp/sccache.tar.gz" --directory "$tmp" "$release/sccache"
  sccache="$tmp/$release/sccache"
fi

# A server of its own for this step, on a socket: under `--network=host` a TCP port could be
# another build's (or the host's own sccache).
export SCCACHE_SERVER_UDS="$tmp/server.sock" RUSTC_WRAPPER="$sccache"
# jemalloc's Makefile runs the preprocessor once more per object (`$(CC) -MM`) for dependency
# files that a one-off build never reads, and sccache cannot cache those runs: with CC_MM unset
# they are skipped (about 200 of them, 3 s of a warm dependency build). Makefiles without the
# variable ignore it.
export MAKEFLAGS="${MAKEFLAGS:+$MAKEFLAGS }CC_MM="
"$sccache" --start-server >/dev/null
status=0
"$@" || status=$?
# One line that `cargo xtask docker` reads (src/sccache.rs). Only the backend's kind, never its
# location: an endpoint URL may hold a password.
"$sccache" --show-stats | awk '
  $1 == "Cache" && $2 == "hits" && $3 ~ /^[0-9]+$/ { hits = $3 }
  $1 == "Cache" && $2 == "misses" && $3 ~ /^[0-9]+$/ { misses = $3 }
  $1 == "Non-cacheable" && $2 == "calls" { other = $3 }
  $1 == "Cache" && $2 == "location" { backend = tolower($3); gsub(/[^a-z0-9]/, "", backend) }
  END { printf "sccache stats: hits=%d misses=%d not-cacheable=%d backend=%s\n", hits, misses, other, backend }'
"$sccache" --stop-server >/dev/null 2>&1 || true
exit "$status"
