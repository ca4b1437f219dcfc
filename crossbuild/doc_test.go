// Package crossbuild_test checks what `make cross` and `make deb` ship:
// crossbuild/cross.sh's static binaries (ELF machine, no interpreter, build
// settings, SHA256SUMS), each ARM binary under qemu-user-static (binfmt is
// not needed: qemu-arm-static / qemu-aarch64-static are called explicitly,
// the armv6 build with -cpu arm1176 so that an armv7 instruction traps),
// an MQTT round trip through the armv6 broker, and crossbuild/deb.sh's
// packages (dpkg-deb -c / -I, and an install into a scratch root with
// dpkg --root, which never touches the real system).
//
// The binaries and packages are built once per test run, into a temporary
// DIST_DIR, and shared by all tests. The whole run takes a few minutes on
// two cores, most of it compiling four architectures.
package crossbuild_test
