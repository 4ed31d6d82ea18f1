package runtimeapi

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// state is the process state letter /proc shows for pid.
func state(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	return b[bytes.LastIndex(b, []byte(") "))+2]
}

// freeze returns only once the process is stopped, and thaw lets it run.
func TestFreezeWaitsForTheStop(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep command here: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 20 {
		freeze(cmd.Process)
		if st := state(t, cmd.Process.Pid); st != 'T' {
			t.Fatalf("state %c right after freeze, want T (stopped)", st)
		}
		thaw(cmd.Process)
	}
}
