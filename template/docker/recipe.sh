#!/bin/sh
# The Dockerfile's dependency planner: writes into OUT what compiling the dependencies needs,
# and nothing that changes when only sources, versions or [*.metadata] tables change, so the
# dependency layer that is built from OUT stays cached for such changes.
#
#   recipe.sh SRC OUT      SRC: the build context (a Cargo workspace or package)
#
# OUT/skeleton/  every workspace member's Cargo.toml and the Cargo.lock, versions of the
#                workspace's own packages masked (0.0.0) and metadata tables removed; the
#                root .cargo/config(.toml); a placeholder source file for every target of every
#                member (lib, bins, examples, tests, benches, build scripts), so that cargo
#                compiles every dependency, build-dependencies included.
# OUT/bin        the binary the image ships: `bin` in [workspace.metadata.docker], else the
#                root package's name.
# OUT/members    the workspace's own packages, one per line: their placeholder artifacts are
#                deleted after the dependency build, so that cargo can never ship them.
#
# Targets come from `cargo metadata --no-deps` (format version 1), so every layout cargo accepts
# is covered: src/bin/*, [[bin]] with another name or path, benches with harness = false,
# members listed or globbed, path dependencies inside the workspace.
set -eu

src=$1
out=$2
skeleton="$out/skeleton"
cd "$src"
mkdir -p "$skeleton"

fail() {
  echo "recipe.sh: error: $*" >&2
  exit 1
}

[ -f Cargo.toml ] || fail "no Cargo.toml in the build context (build from the project's root)"
[ -f Cargo.lock ] || fail "no Cargo.lock in the build context: run \`cargo generate-lockfile\` and commit it"

metadata=$(cargo metadata --no-deps --format-version 1) \
  || fail "\`cargo metadata\` failed on the build context; run it on the host to see why"
root=$(printf '%s' "$metadata" | grep -o '"workspace_root":"[^"]*"' | cut -d'"' -f4)

# Every member's manifest, without the metadata tables and with the workspace's own versions
# masked: [package] version (also `version.workspace = true`), [workspace.package] version,
# and version requirements on path dependencies (they would no longer match 0.0.0).
mask_manifest() {
  awk '
    /^[ \t]*\[/ {
      section = $0
      gsub(/[ \t]/, "", section)
      skipping = (section ~ /^\[(workspace\.|package\.)?metadata([.\]])/)
    }
    skipping { next }
    (section == "[package]" || section == "[workspace.package]") && /^[ \t]*version[ \t]*[.=]/ {
      print "version = \"0.0.0\""
      next
    }
    /path[ \t]*=[ \t]*"/ && /version[ \t]*=[ \t]*"/ {
      sub(/version[ \t]*=[ \t]*"[^"]*"[ \t]*,[ \t]*/, "")
      sub(/,[ \t]*version[ \t]*=[ \t]*"[^"]*"/, "")
    }
    { print }
  ' "$1"
}

printf '%s' "$metadata" | grep -o '"manifest_path":"[^"]*"' | cut -d'"' -f4 | while read -r manifest; do
  relative=${manifest#"$root"/}
  mkdir -p "$skeleton/$(dirname "$relative")"
  mask_manifest "$manifest" > "$skeleton/$relative"
done
# The root manifest of a virtual workspace is not a package's: copy it too.
mask_manifest Cargo.toml > "$skeleton/Cargo.toml"

# The lock, with the version of every package that has no `source` (the workspace's own) masked.
awk -v members="$out/members" '
  function flush() {
    if (block != "" && !has_source && name != "") {
      sub(/\nversion = "[^"]*"/, "\nversion = \"0.0.0\"", block)
      print name > members
    }
    printf "%s", block
    block = ""; has_source = 0; name = ""
  }
  /^\[\[package\]\]/ { flush() }
  { block = block $0 "\n" }
  /^source = / { has_source = 1 }
  /^name = "/ && name == "" { name = $3; gsub(/"/, "", name) }
  END { flush() }
' Cargo.lock > "$skeleton/Cargo.lock"

# Build configuration that applies to the dependencies: rustflags, cfgs, [env], linkers.
for config in .cargo/config.toml .cargo/config; do
  if [ -f "$config" ]; then
    mkdir -p "$skeleton/.cargo"
    cp "$config" "$skeleton/$config"
  fi
done

# One placeholder per target root. `allow(warnings)` keeps it building under `-D warnings`
# rustflags; `fn main` serves binaries, build scripts and harness-less tests and benches alike.
printf '%s' "$metadata" | grep -o '"src_path":"[^"]*"' | cut -d'"' -f4 | while read -r path; do
  case $path in
    "$root"/*) ;;
    *) continue ;;
  esac
  relative=${path#"$root"/}
  mkdir -p "$skeleton/$(dirname "$relative")"
  printf '#![allow(warnings)]\nfn main() {}\n' > "$skeleton/$relative"
done

# The binary to ship.
bin=$(awk '
  /^[ \t]*\[/ { section = $0; gsub(/[ \t]/, "", section) }
  section == "[workspace.metadata.docker]" && /^[ \t]*bin[ \t]*=/ { split($0, q, "\""); print q[2]; exit }
' Cargo.toml)
if [ -z "$bin" ]; then
  bin=$(awk '
    /^[ \t]*\[/ { section = $0; gsub(/[ \t]/, "", section) }
    section == "[package]" && /^[ \t]*name[ \t]*=/ { split($0, q, "\""); print q[2]; exit }
  ' Cargo.toml)
fi
[ -n "$bin" ] || fail "which binary does the image ship? Set bin = \"NAME\" in [workspace.metadata.docker] of Cargo.toml"
printf '%s' "$metadata" | grep -q "\"kind\":\[\"bin\"\],\"crate_types\":\[\"bin\"\],\"name\":\"$bin\"" \
  || fail "no binary named \"$bin\" in the workspace: set bin = \"NAME\" in [workspace.metadata.docker] of Cargo.toml to one of its [[bin]] targets"
echo "$bin" > "$out/bin"
echo "recipe.sh: $(wc -l < "$out/members") workspace package(s), shipping binary \"$bin\""
