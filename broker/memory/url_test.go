package memory_test

import (
	"cmp"
	"errors"
	"strings"
	"testing"

	"github.com/swarm-go/swarm"
	_ "github.com/swarm-go/swarm/broker/memory"
)

func TestOpenURL(t *testing.T) {
	for _, tc := range []struct {
		url        string
		values     bool
		maxPayload int    // 0 for the default
		bad        string // part of the error, when the URL is refused
	}{
		{url: "mem://url-plain"},
		{url: "mem://url-opts?capacity=10&max_payload=100&dlq=url-opts.dead", maxPayload: 100},
		{url: "mem://url-values?encoding=false", values: true},
		{url: "mem://url-encoded?encoding=true"},
		{url: "mem://url-bad?encoding=off", bad: `encoding="off", want true or false`},
		{url: "mem://url-bad?capacity=0", bad: `capacity="0", want a positive number`},
		{url: "mem://url-bad?max_payload=big", bad: `max_payload="big"`},
		{url: "mem://url-bad?dlq=url-bad", bad: "is the queue itself"},
		{url: "mem://url-bad?capacty=10", bad: `unknown parameter "capacty"`},
	} {
		q, err := swarm.Open(tc.url)
		if tc.bad != "" {
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: error %v, want ErrConfig saying %q", tc.url, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		caps := q.Kernel().Capabilities()
		if caps.Values != tc.values || caps.MaxPayload != cmp.Or(tc.maxPayload, 1<<20) {
			t.Errorf("%s: carries values %v, max payload %d; want %v, %d", tc.url, caps.Values, caps.MaxPayload,
				tc.values, cmp.Or(tc.maxPayload, 1<<20))
		}
		_ = q.Close()
	}
}
