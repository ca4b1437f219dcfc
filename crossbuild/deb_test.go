package crossbuild_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "dpkg-deb", "dpkg"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebContents checks `dpkg-deb -c` of every package: what is installed
// where, with which modes, and that each carries the right binary.
func TestDebContents(t *testing.T) {
	debs := packages(t)
	dir := dist(t)
	for arch, deb := range debs {
		t.Run(arch, func(t *testing.T) {
			listing := dpkgDeb(t, "-c", deb)
			t.Logf("%s (%d bytes):\n%s", filepath.Base(deb), fileSize(t, deb), listing)
			files := map[string]string{} // path -> mode and owner
			for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					t.Fatalf("unexpected dpkg-deb -c line %q", line)
				}
				files[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
			}
			want := map[string]string{
				"/usr/bin/mqttgate":                     "-rwxr-xr-x root/root",
				"/lib/systemd/system/mqttgate.service":  "-rw-r--r-- root/root",
				"/etc/mqttgate/config.yaml":             "-rw-r----- root/root",
				"/usr/share/doc/mqttgate/INSTALL-PI.md": "-rw-r--r-- root/root",
			}
			for p, mode := range want {
				if files[p] != mode {
					t.Errorf("%s: %q, want %q", p, files[p], mode)
				}
			}

			// The payload must be the cross.sh build for this architecture:
			// for armhf the GOARM=6 one, which runs on every Pi.
			x := t.TempDir()
			dpkgDeb(t, "-x", deb, x)
			bin := filepath.Join(dir, "mqttgate-linux-"+debArchs[arch])
			if sha256File(t, filepath.Join(x, "usr/bin/mqttgate")) != sha256File(t, bin) {
				t.Errorf("/usr/bin/mqttgate is not %s", filepath.Base(bin))
			}
			compareFiles(t, filepath.Join(x, "etc/mqttgate/config.yaml"), raspberryConfig(t))
			compareFiles(t, filepath.Join(x, "lib/systemd/system/mqttgate.service"), filepath.Join(repoRoot(t), "systemd", "mqttgate.service"))
		})
	}
}

func compareFiles(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// TestDebControl checks `dpkg-deb -I`: fields, conffiles, maintainer scripts.
func TestDebControl(t *testing.T) {
	debs := packages(t)
	for arch, deb := range debs {
		t.Run(arch, func(t *testing.T) {
			info := dpkgDeb(t, "-I", deb)
			for _, re := range []string{
				`(?m)^ Package: mqttgate$`,
				`(?m)^ Architecture: ` + arch + `$`,
				`(?m)^ Version: [0-9][A-Za-z0-9.+~]*$`,
				`(?m)^ Depends: passwd$`,
				`(?m)^ Maintainer: .+ <.+>$`,
				`(?m)^ Section: net$`,
				`(?m)^ Description: .+`,
				`(?m)^ +\d+ bytes, +\d+ lines +conffiles`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +postinst +#!/bin/sh$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +prerm +#!/bin/sh$`,
				`(?m)^ +\d+ bytes, +\d+ lines +\* +postrm +#!/bin/sh$`,
			} {
				if !regexp.MustCompile(re).MatchString(info) {
					t.Errorf("dpkg-deb -I: no match for %s in:\n%s", re, info)
				}
			}
			if conf := dpkgDeb(t, "-I", deb, "conffiles"); strings.TrimSpace(conf) != "/etc/mqttgate/config.yaml" {
				t.Errorf("conffiles = %q, want /etc/mqttgate/config.yaml", conf)
			}
			version := strings.TrimSpace(dpkgDeb(t, "-f", deb, "Version"))
			if name, want := filepath.Base(deb), "mqttgate_"+version+"_"+arch+".deb"; name != want {
				t.Errorf("file name %s, want %s", name, want)
			}
		})
	}
}

// scratchRoot makes a directory dpkg --root can install into: an empty
// package database and account files holding only root.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc", "var/log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":              "root:x:0:\n",
		"etc/shadow":             "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dpkgRoot runs dpkg on the scratch root. The maintainer scripts run on the
// host without chroot but with DPKG_ROOT set, which they honour (useradd
// --prefix, systemctl --root, paths under the root, no live systemctl).
// passwd (useradd) is the one dependency and is not in the scratch root.
func dpkgRoot(t *testing.T, root string, args ...string) string {
	t.Helper()
	argv := append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)
	out, err := exec.Command(tool(t, "dpkg", "dpkg"), argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func lineWith(t *testing.T, path, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestDebInstallScratchRoot installs the amd64 package into a scratch root
// with the maintainer scripts, then upgrades, removes and purges it.
func TestDebInstallScratchRoot(t *testing.T) {
	deb := packages(t)["amd64"]
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Fatal("useradd not found: install it with `apt-get install -y passwd`")
	}
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	hostGroup, _ := os.ReadFile("/etc/group")
	root := scratchRoot(t)
	p := func(s string) string { return filepath.Join(root, s) }

	dpkgRoot(t, root, "-i", deb)

	if st := lineWith(t, p("var/lib/dpkg/status"), "Status:"); st != "Status: install ok installed" {
		t.Fatalf("after install %q, want installed", st)
	}
	for _, f := range []string{"usr/bin/mqttgate", "lib/systemd/system/mqttgate.service", "etc/mqttgate/config.yaml"} {
		if !exists(p(f)) {
			t.Errorf("/%s not installed", f)
		}
	}
	out, err := exec.Command(p("usr/bin/mqttgate"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "mqttgate "+shared.version+" ") {
		t.Errorf("installed mqttgate version: %v %q", err, out)
	}

	user := lineWith(t, p("etc/passwd"), "mqttgate:")
	f := strings.Split(user, ":")
	if len(f) != 7 || f[5] != "/var/lib/mqttgate" || f[6] != "/usr/sbin/nologin" {
		t.Fatalf("system user: %q, want mqttgate with home /var/lib/mqttgate and no login shell", user)
	}
	gid := strings.Split(lineWith(t, p("etc/group"), "mqttgate:"), ":")[2]
	if f[3] != gid {
		t.Errorf("user mqttgate has gid %s, want the mqttgate group's %s", f[3], gid)
	}
	for _, g := range []string{"i2c", "gpio"} {
		l := lineWith(t, p("etc/group"), g+":")
		if !strings.HasSuffix(l, ":mqttgate") {
			t.Errorf("group %s: %q, want it created with member mqttgate", g, l)
		}
	}

	st, err := os.Stat(p("var/lib/mqttgate"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o750 || ownerOf(st) != f[2]+":"+gid {
		t.Errorf("/var/lib/mqttgate: %v %s, want 0750 mqttgate:mqttgate (%s:%s)", st.Mode().Perm(), ownerOf(st), f[2], gid)
	}
	st, err = os.Stat(p("etc/mqttgate/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 || ownerOf(st) != "0:"+gid {
		t.Errorf("/etc/mqttgate/config.yaml: %v %s, want 0640 root:mqttgate", st.Mode().Perm(), ownerOf(st))
	}

	wants := p("etc/systemd/system/multi-user.target.wants/mqttgate.service")
	if link, err := os.Readlink(wants); err != nil || link != "/lib/systemd/system/mqttgate.service" {
		t.Errorf("service not enabled on install: %v %q", err, link)
	}

	// The admin disables the service; an upgrade (here: the same version
	// again) must respect that and keep the data.
	if err := os.Remove(wants); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("var/lib/mqttgate/users.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	dpkgRoot(t, root, "-i", deb)
	if exists(wants) {
		t.Error("reinstall re-enabled a service the admin had disabled")
	}

	// Remove keeps config and data; purge drops the config, keeps the data.
	dpkgRoot(t, root, "--remove", "mqttgate")
	if exists(p("usr/bin/mqttgate")) || exists(p("lib/systemd/system/mqttgate.service")) {
		t.Error("remove left the binary or the unit")
	}
	if !exists(p("etc/mqttgate/config.yaml")) || !exists(p("var/lib/mqttgate/users.json")) {
		t.Error("remove deleted the config or the data")
	}
	out2 := dpkgRoot(t, root, "--purge", "mqttgate")
	if exists(p("etc/mqttgate/config.yaml")) {
		t.Error("purge left /etc/mqttgate/config.yaml")
	}
	if !exists(p("var/lib/mqttgate/users.json")) {
		t.Error("purge deleted /var/lib/mqttgate")
	}
	if !strings.Contains(out2, "kept /var/lib/mqttgate") {
		t.Errorf("purge did not say the data was kept:\n%s", out2)
	}

	// Nothing of this reached the real system.
	if b, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(b, hostPasswd) {
		t.Error("/etc/passwd of the host changed")
	}
	if b, _ := os.ReadFile("/etc/group"); !bytes.Equal(b, hostGroup) {
		t.Error("/etc/group of the host changed")
	}
}
