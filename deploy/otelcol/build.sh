#!/usr/bin/env bash
# Build the Phoenix OpenTelemetry Collector (otelcol-phoenix) from builder-config.yaml with the
# OpenTelemetry Collector Builder (ocb). See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/otelcol/build.sh [--cold] [--force] [--help]

Builds otelcol-phoenix from deploy/otelcol/builder-config.yaml with the OpenTelemetry Collector
Builder (go.opentelemetry.io/collector/cmd/builder at the manifest's dist.version) and prints the
binary's path as the last line on stdout. Everything else goes to stderr.

The binary lives outside the repository, keyed by the manifest's content:
  ${PHOENIX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/phoenix}/otelcol/<sha256[:16]>/otelcol-phoenix
and is reused when present. The builder is installed once into
  <that cache>/otelcol/builder-v<version>/builder
The build happens in a temporary folder beside the result and the binary is moved into place
only once it built and ran, so an interrupted build never leaves a binary that looks done.
Builds with CGO_ENABLED=0, -trimpath and -ldflags '-s -w'.

Options:
  --cold    rebuild with a fresh, temporary GOMODCACHE and GOCACHE (measures a cold build:
            every module is downloaded and compiled); both are deleted afterwards, and the
            module download size is logged first
  --force   rebuild even when the binary is present (normal module and build caches)
  -h, --help  this text

Environment: PHOENIX_CACHE_DIR, XDG_CACHE_HOME (where to cache), GO (the go command; default
the one on PATH, else /usr/local/go/bin/go), GOPROXY/GOFLAGS etc. as usual for go.
EOF
}

log() { printf 'build.sh: %s\n' "$*" >&2; }

cold=0
force=0
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --cold) cold=1 ;;
        --force) force=1 ;;
        *) log "unknown argument: $1 (see --help)"; exit 2 ;;
    esac
    shift
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=$here/builder-config.yaml
[[ -f $manifest ]] || { log "no manifest at $manifest"; exit 1; }

go_cmd=${GO:-$(command -v go || true)}
if [[ -z $go_cmd && -x /usr/local/go/bin/go ]]; then go_cmd=/usr/local/go/bin/go; fi
[[ -n $go_cmd ]] || { log "no go command: put go on PATH or set GO"; exit 1; }
# ocb runs `go` itself: make sure it finds the same one.
PATH="$(dirname "$go_cmd"):$PATH"
export PATH CGO_ENABLED=0

# dist.name and dist.version from the manifest (two-space indented keys under `dist:`).
dist_field() { sed -n "/^dist:/,/^[^ #]/s/^  $1: *\\([^ #]*\\).*/\\1/p" "$manifest" | head -n1; }
name=$(dist_field name)
version=$(dist_field version)
[[ -n $name && -n $version ]] || { log "dist.name or dist.version missing in $manifest"; exit 1; }

cache=${PHOENIX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/phoenix}/otelcol
key=$(sha256sum "$manifest" | cut -c1-16)
out_dir=$cache/$key
binary=$out_dir/$name
builder_dir=$cache/builder-v$version
builder=$builder_dir/builder
mkdir -p "$out_dir"

# One build per manifest at a time; a second caller waits, then reuses the result.
exec 9>"$out_dir/.lock"
flock 9

if [[ -x $binary && $cold -eq 0 && $force -eq 0 ]]; then
    log "reusing $binary"
    echo "$binary"
    exit 0
fi

work=$(mktemp -d "$out_dir/.build.XXXXXX")
cold_dir=
cleanup() {
    rm -rf "$work"
    if [[ -n $cold_dir ]]; then
        if [[ -d $cold_dir/mod ]]; then
            log "cold module cache: $(du -sh "$cold_dir/mod" | cut -f1) ($cold_dir/mod); deleting"
            # Module files are read-only: go clean -modcache is the way to delete them.
            GOMODCACHE=$cold_dir/mod "$go_cmd" clean -modcache || true
        fi
        rm -rf "$cold_dir"
    fi
}
trap cleanup EXIT
if ((cold)); then
    cold_dir=$(mktemp -d "${TMPDIR:-/tmp}/phoenix-otelcol-cold.XXXXXX")
    export GOMODCACHE=$cold_dir/mod GOCACHE=$cold_dir/build
    log "cold build: GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"
fi

if [[ ! -x $builder ]]; then
    log "installing go.opentelemetry.io/collector/cmd/builder@v$version into $builder_dir"
    mkdir -p "$work/bin"
    GOBIN=$work/bin "$go_cmd" install "go.opentelemetry.io/collector/cmd/builder@v$version"
    mkdir -p "$builder_dir"
    mv -f "$work/bin/builder" "$builder"
fi

# The manifest as committed, but building into the temporary folder.
sed "/^dist:/,/^[^ #]/s|^  output_path:.*|  output_path: $work/dist|" "$manifest" >"$work/manifest.yaml"
log "building $name $version from $manifest into $work/dist"
# Strict versioning: fail if resolving dependencies moved any listed module off its pinned
# version (ocb already builds with -trimpath, CGO_ENABLED=0 unless dist.cgo_enabled, -s -w).
"$builder" --config="$work/manifest.yaml" --skip-strict-versioning=false --ldflags="-s -w" >&2

built=$work/dist/$name
[[ -x $built ]] || { log "the builder finished but $built is missing"; exit 1; }
"$built" --version >&2
cp "$manifest" "$out_dir/builder-config.yaml"
mv -f "$built" "$binary"
log "built $binary ($(du -h "$binary" | cut -f1))"
echo "$binary"
