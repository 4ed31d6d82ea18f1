//go:build unix

package runtimeapi

import (
	"os"
	"syscall"
)

// freeze stops the function's process, as Lambda freezes an execution
// environment once the handler has answered.
func freeze(p *os.Process) { _ = p.Signal(syscall.SIGSTOP) }

// thaw resumes it for the next invocation.
func thaw(p *os.Process) { _ = p.Signal(syscall.SIGCONT) }
