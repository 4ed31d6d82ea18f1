package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/swarm-go/swarm/broker/eventbridge"
)

// TestRun runs the example against an httptest server standing in for
// EventBridge (no emulator exists): it decodes the PutEvents requests the
// SDK sends and accepts every entry.
func TestRun(t *testing.T) {
	var mu sync.Mutex
	var types []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Entries []struct{ Source, DetailType, Detail string }
		}
		if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "not PutEvents", http.StatusBadRequest)
			return
		}
		mu.Lock()
		res := make([]map[string]string, len(in.Entries))
		for i, e := range in.Entries {
			types = append(types, e.Source+"/"+e.DetailType)
			res[i] = map[string]string{"EventId": "id"}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"FailedEntryCount": 0, "Entries": res})
	}))
	defer srv.Close()
	var out strings.Builder
	if err := run(&out, eventbridge.WithEndpoint(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "done: 3 events put") {
		t.Errorf("output:\n%s", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(types) != 3 || types[0] != "com.example.shop/OrderPlaced" {
		t.Errorf("server got %v", types)
	}
}
