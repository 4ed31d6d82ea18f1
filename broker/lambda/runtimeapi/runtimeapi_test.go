package runtimeapi

import (
	"net/http"
	"testing"
	"time"
)

// Close returns while a function's request for the next invocation is
// still waiting (a frozen function never hangs up).
func TestCloseEndsWaitingNext(t *testing.T) {
	s := New()
	asked := make(chan struct{})
	go func() {
		close(asked)
		resp, err := http.Get("http://" + s.Addr() + "/2018-06-01/runtime/invocation/next")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-asked
	time.Sleep(100 * time.Millisecond) // the request reaches the handler
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waiting for the request for the next invocation")
	}
}
