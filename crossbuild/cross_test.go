package crossbuild_test

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func (tg target) path(dir string) string { return filepath.Join(dir, "mqttgate-linux-"+tg.name) }

// command runs the target binary, under qemu for the ARM builds.
func (tg target) command(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	if tg.qemu == nil {
		return exec.Command(tg.path(dir), args...)
	}
	qemu := tool(t, tg.qemu[0], "qemu-user-static")
	argv := append(append(append([]string{}, tg.qemu[1:]...), tg.path(dir)), args...)
	return exec.Command(qemu, argv...)
}

func TestStaticELF(t *testing.T) {
	dir := dist(t)
	want := map[string]struct {
		machine elf.Machine
		class   elf.Class
	}{
		"arm":   {elf.EM_ARM, elf.ELFCLASS32},
		"arm64": {elf.EM_AARCH64, elf.ELFCLASS64},
		"amd64": {elf.EM_X86_64, elf.ELFCLASS64},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			f, err := elf.Open(tg.path(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := want[tg.goarch]
			if f.Machine != w.machine || f.Class != w.class {
				t.Errorf("ELF %v %v, want %v %v", f.Class, f.Machine, w.class, w.machine)
			}
			if f.Type != elf.ET_EXEC {
				t.Errorf("ELF type %v, want ET_EXEC (static)", f.Type)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("has a %v program header: not a static binary", p.Type)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("needs shared libraries %q", libs)
			}
			if f.Section(".symtab") != nil {
				t.Error("has a symbol table: not built with -ldflags -s")
			}

			bi, err := buildinfo.ReadFile(tg.path(dir))
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			checks := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": tg.goarch}
			if tg.goarm != "" {
				checks["GOARM"] = tg.goarm
			}
			for k, v := range checks {
				if settings[k] != v {
					t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
				}
			}
			if bi.Path != "mqttgate/cmd/mqttgate" {
				t.Errorf("main package %q, want mqttgate/cmd/mqttgate", bi.Path)
			}
			t.Logf("%s: %d bytes", filepath.Base(tg.path(dir)), fileSize(t, tg.path(dir)))
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSHA256SUMS(t *testing.T) {
	dir := dist(t)
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS: malformed line %q (want `sha256sum` format)", sc.Text())
		}
		got[name] = sum
	}
	if len(got) != len(targets) {
		t.Errorf("SHA256SUMS has %d entries, want %d", len(got), len(targets))
	}
	for _, tg := range targets {
		name := filepath.Base(tg.path(dir))
		if want := sha256File(t, tg.path(dir)); got[name] != want {
			t.Errorf("SHA256SUMS: %s = %q, want %q", name, got[name], want)
		}
	}
	// The file must also satisfy the tool users will run on it.
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

// TestVersionUnderQemu runs every binary's `version` on its own CPU: the
// ARM builds under qemu-user-static, the armv6 one as an ARM1176 (Pi
// Zero/1), which has no armv7 instructions.
func TestVersionUnderQemu(t *testing.T) {
	dir := dist(t)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			cmd := tg.command(t, dir, "version")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
			}
			want := fmt.Sprintf("mqttgate %s %s linux/%s\n", shared.version, shared.commit, tg.goarch)
			if string(out) != want {
				t.Errorf("%s printed %q, want %q", strings.Join(cmd.Args, " "), out, want)
			}
		})
	}
}

// TestArm1176CatchesArmv7 is the control for the armv6 checks: the same
// emulated ARM1176 must refuse the GOARM=7 build (illegal instruction), so
// the armv6 build running there shows it has no armv7 instructions.
func TestArm1176CatchesArmv7(t *testing.T) {
	dir := dist(t)
	armv7 := targets[1]
	qemu := tool(t, "qemu-arm-static", "qemu-user-static")
	cmd := exec.Command(qemu, "-cpu", "arm1176", armv7.path(dir), "version")
	cmd.Dir = t.TempDir() // qemu may drop a core file here
	out, err := cmd.CombinedOutput()
	if err == nil || strings.HasPrefix(string(out), "mqttgate ") {
		t.Fatalf("the armv7 build ran on an emulated ARM1176 (err %v, output %q): -cpu arm1176 does not catch armv7 code", err, out)
	}
}
