package eventbridge

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/swarm-go/swarm"
)

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		opts []Option
		want string
	}{
		{[]Option{WithSource("")}, "source"},
		{[]Option{WithSource("aws.ec2")}, "reserved"},
		{[]Option{WithEventBus("")}, "event bus name"},
		{[]Option{WithSendConcurrency(0)}, "send concurrency"},
		{[]Option{WithRequestTimeout(0)}, "request timeout"},
		{[]Option{WithEndpoint("ftp://x")}, "not an http(s) URL"},
		{[]Option{WithEndpoint("http://u:hunter2@127.0.0.1:1")}, "holds credentials"},
	}
	for _, c := range cases {
		_, err := NewEmitter(c.opts...)
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewEmitter: %v, want ErrConfig with %q and no password", err, c.want)
		}
	}
}

func TestOpenURL(t *testing.T) {
	u, _ := url.Parse("eventbridge://127.0.0.1:4010/orders?source=com.example&concurrency=2")
	e, err := Open(u)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := e.d.cfg
	if c.bus != "orders" || c.source != "com.example" || c.sendConcurrency != 2 || c.Endpoint != "http://127.0.0.1:4010" {
		t.Errorf("config from URL: %+v", c)
	}
	if e.Kernel().Queue() != "eventbridge://127.0.0.1:4010/orders" {
		t.Errorf("queue %q", e.Kernel().Queue())
	}
	for _, raw := range []string{"eventbridge://u:hunter2@x/y", "eventbridge://127.0.0.1:1/b?tls=maybe", "eventbridge://b?concurrency=x", "sqs://x"} {
		u, _ := url.Parse(raw)
		if _, err := Open(u); !errors.Is(err, swarm.ErrConfig) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s) = %v, want ErrConfig without the password", raw, err)
		}
	}
}

func TestIsJSONObject(t *testing.T) {
	for p, want := range map[string]bool{`{}`: true, " \n{\"a\":1}": true, `[]`: false, `"s"`: false, `{`: false, ``: false, `{"a":1}x`: false} {
		if isJSONObject([]byte(p)) != want {
			t.Errorf("isJSONObject(%q) != %v", p, want)
		}
	}
}
