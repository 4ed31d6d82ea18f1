//go:build unix

package runtimeapi

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// freeze stops the function's process, as Lambda freezes an execution
// environment once the handler has answered. The signal takes hold
// asynchronously, so where /proc shows process states (Linux) it waits,
// briefly, until the process is stopped: otherwise a function could read
// the answer's acknowledgement and go on (ask for the next invocation, send
// what it left unsent) in the moment before the stop.
func freeze(p *os.Process) {
	if p.Signal(syscall.SIGSTOP) != nil {
		return
	}
	stat := "/proc/" + strconv.Itoa(p.Pid) + "/stat"
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return // no /proc here, or the process is gone
		}
		// "pid (command) state ...": the command may hold spaces and
		// parentheses, the state follows the last ") ".
		i := bytes.LastIndex(b, []byte(") "))
		if i < 0 || i+2 >= len(b) {
			return
		}
		if st := b[i+2]; st == 'T' || st == 't' || st == 'Z' || st == 'X' {
			return
		}
	}
}

// thaw resumes it for the next invocation.
func thaw(p *os.Process) { _ = p.Signal(syscall.SIGCONT) }
