#!/bin/sh
# crossbuild/cross.sh: static mqttgate binaries for the Raspberry Pi family
# and amd64 (`make cross`).
#
#   dist/mqttgate-linux-armv6   linux/arm GOARM=6  Pi Zero/Zero W/1 (and the armhf .deb)
#   dist/mqttgate-linux-armv7   linux/arm GOARM=7  Pi 2/3 on a 32-bit OS
#   dist/mqttgate-linux-arm64   linux/arm64        Pi 3/4/5 on a 64-bit OS
#   dist/mqttgate-linux-amd64   linux/amd64
#   dist/SHA256SUMS             sha256sum -c compatible
#   dist/VERSION                VERSION= and COMMIT= stamped into the binaries
#
# Environment: DIST_DIR (default dist), VERSION, COMMIT (default from git),
# TARGETS (default "armv6 armv7 arm64 amd64").
# The web bundle is embedded: web/dist must be built (make build); if it is
# not, this script runs `make build` first.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

dist=${DIST_DIR:-dist}
targets=${TARGETS:-armv6 armv7 arm64 amd64}

if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || true)
	[ -n "$VERSION" ] || VERSION=0.1.0-dev
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git rev-parse --short HEAD 2>/dev/null || true)
	[ -n "$COMMIT" ] || COMMIT=unknown
fi

if [ ! -d cmd/mqttgate ]; then
	echo "cross.sh: cmd/mqttgate does not exist yet; nothing to build" >&2
	exit 1
fi
if [ ! -e web/dist/index.html ]; then
	echo "cross.sh: web/dist is not built; running make build" >&2
	make build
fi

mkdir -p "$dist"
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"

for t in $targets; do
	case $t in
	armv6) goarch=arm goarm=6 ;;
	armv7) goarch=arm goarm=7 ;;
	arm64) goarch=arm64 goarm= ;;
	amd64) goarch=amd64 goarm= ;;
	*) echo "cross.sh: unknown target $t (want armv6 armv7 arm64 amd64)" >&2; exit 2 ;;
	esac
	out="$dist/mqttgate-linux-$t"
	env CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		go build -trimpath -ldflags "$ldflags" -o "$out.tmp" ./cmd/mqttgate
	mv "$out.tmp" "$out"
	printf '%-28s %9d bytes (%s MiB)\n' "$out" "$(wc -c <"$out")" \
		"$(awk "BEGIN{printf \"%.1f\", $(wc -c <"$out")/1048576}")"
done

(
	cd "$dist"
	# shellcheck disable=SC2046
	sha256sum $(for t in $targets; do echo "mqttgate-linux-$t"; done) >SHA256SUMS
)
printf 'VERSION=%s\nCOMMIT=%s\n' "$VERSION" "$COMMIT" >"$dist/VERSION"
echo "cross.sh: mqttgate $VERSION ($COMMIT) in $dist/, sums in $dist/SHA256SUMS"
