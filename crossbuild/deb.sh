#!/bin/sh
# crossbuild/deb.sh: .deb packages for armhf, arm64 and amd64 with nfpm
# (`make deb`, after `make cross`).
#
#   dist/mqttgate_<version>_armhf.deb   the GOARM=6 binary: Raspberry Pi OS
#                                       armhf also runs on the armv6 Pi Zero/1
#   dist/mqttgate_<version>_arm64.deb
#   dist/mqttgate_<version>_amd64.deb
#
# Environment: DIST_DIR (default dist; must hold cross.sh's output),
# MQTTGATE_CONFIG (default configs/raspberrypi.yaml), DEB_ARCHS (default
# "armhf arm64 amd64"), DEB_MAINTAINER.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

dist=${DIST_DIR:-dist}
if [ ! -f "$dist/VERSION" ]; then
	echo "deb.sh: $dist/VERSION missing: run crossbuild/cross.sh (make cross) first" >&2
	exit 1
fi
VERSION=$(sed -n 's/^VERSION=//p' "$dist/VERSION")

# Debian versions must start with a digit and may not hold '-' without a
# revision: v1.2.3 -> 1.2.3, v1.2.3-4-gabcdef-dirty -> 1.2.3+4.gabcdef.dirty,
# an untagged abcdef[-dirty] -> 0.1.0~gitabcdef[.dirty], 0.1.0-dev -> 0.1.0~dev.
v=${VERSION#v}
case $v in
0.1.0-dev) DEB_VERSION=0.1.0~dev ;;
[0-9]*.*) DEB_VERSION=$(echo "$v" | sed 's/-/+/; s/-/./g') ;;
*) DEB_VERSION=0.1.0~git$(echo "$v" | sed 's/-/./g') ;;
esac
export DEB_VERSION

export MQTTGATE_CONFIG="${MQTTGATE_CONFIG:-configs/raspberrypi.yaml}"
if [ ! -f "$MQTTGATE_CONFIG" ]; then
	echo "deb.sh: $MQTTGATE_CONFIG missing (the config installed as /etc/mqttgate/config.yaml)" >&2
	exit 1
fi
export DEB_MAINTAINER="${DEB_MAINTAINER:-mqttgate developers <mqttgate@localhost>}"

for arch in ${DEB_ARCHS:-armhf arm64 amd64}; do
	case $arch in
	armhf) bin=mqttgate-linux-armv6 ;;
	arm64) bin=mqttgate-linux-arm64 ;;
	amd64) bin=mqttgate-linux-amd64 ;;
	*) echo "deb.sh: unknown arch $arch (want armhf arm64 amd64)" >&2; exit 2 ;;
	esac
	if [ ! -f "$dist/$bin" ]; then
		echo "deb.sh: $dist/$bin missing: run crossbuild/cross.sh (make cross) first" >&2
		exit 1
	fi
	out="$dist/mqttgate_${DEB_VERSION}_${arch}.deb"
	rm -f "$out"
	# nfpm runs on the build host: never let a cross GOARCH leak into it.
	env -u GOOS -u GOARCH -u GOARM DEB_ARCH="$arch" MQTTGATE_BIN="$dist/$bin" \
		go tool nfpm package --config crossbuild/nfpm.yaml --packager deb --target "$out"
	printf '%-40s %9d bytes\n' "$out" "$(wc -c <"$out")"
done
