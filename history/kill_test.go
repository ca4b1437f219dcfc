package history

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const childDirEnv = "MQTTGATE_HISTORY_CHILD_DIR"

// TestKill9LosesAtMostOneInterval records in a child process that writes
// every 10 readings, kills it with SIGKILL after its third write, and
// checks that everything written before the kill is in the file.
func TestKill9LosesAtMostOneInterval(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		recordForever(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesAtMostOneInterval$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	writes, upto := 0, 0
	for writes < 3 && sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "written upto "); ok {
			writes++
			upto, _ = strconv.Atoi(n)
		}
	}
	if writes < 3 {
		t.Fatalf("child wrote %d times before it ended: %v", writes, sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	c := start()
	r := newRec(t, c, dir, testConfig())
	open(t, r)
	got, err := r.store.read(seriesKey("dev/a/state", "t"), minute, c.ms(), c.ms()+int64(upto+100)*minute)
	if err != nil {
		t.Fatal(err)
	}
	// Minutes 0..upto-1 were closed and written before the kill.
	if len(got) < upto {
		t.Fatalf("after kill -9: %d minutes in the file, want the %d written before it", len(got), upto)
	}
	for i, sl := range got[:upto] {
		if sl.T != c.ms()+int64(i)*minute || sl.Avg != float32(i) {
			t.Fatalf("minute %d = %+v, want t=%d value %d", i, sl, c.ms()+int64(i)*minute, i)
		}
	}
}

// recordForever is the child: one reading per simulated minute, a write
// every 10 readings (fsync on), until it is killed.
func recordForever(dir string) {
	c := start()
	r, err := New(testConfig(), quiet(), dir)
	if err != nil {
		panic(err)
	}
	r.now = c.now
	st, err := openStore(r.path, r.log, false)
	if err != nil {
		panic(err)
	}
	r.store = st
	for i := 0; ; i++ {
		r.Record("dev/a/state", []byte(`{"t":`+strconv.Itoa(i)+`}`))
		c.add(time.Minute)
		if i%10 == 9 {
			if err := r.Flush(); err != nil {
				panic(err)
			}
			fmt.Printf("written upto %d\n", i+1)
		}
	}
}
