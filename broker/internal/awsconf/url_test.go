package awsconf

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/swarm-go/swarm"
)

func TestIsLoopback(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"http://127.0.0.1:4566":     true,
		"http://127.8.9.10":         true,
		"http://localhost:4566":     true,
		"https://[::1]:443":         true,
		"http://10.0.0.1:4566":      false,
		"https://sqs.amazonaws.com": false,
		"http://localhost.evil.com": false,
		"http://[::2]:1":            false,
		"127.0.0.1:4566":            false, // not a URL: no host to read
		"http://%zz":                false,
		"":                          false,
	} {
		if got := IsLoopback(endpoint); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", endpoint, got, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		raw  string
		want Target
	}{
		{"sqs://orders", Target{Name: "orders"}},
		{"sqs://orders?region=eu-west-1", Target{Name: "orders", Region: "eu-west-1"}},
		{"sqs://127.0.0.1:4566/orders", Target{Name: "orders", Endpoint: "http://127.0.0.1:4566"}},
		{"sqs://localhost:4566/orders.fifo/", Target{Name: "orders.fifo", Endpoint: "http://localhost:4566"}},
		{"sqs://[::1]:4566/q", Target{Name: "q", Endpoint: "http://[::1]:4566"}},
		{"sqs://sqs.example.com/orders?region=eu-west-1", Target{Name: "orders", Endpoint: "https://sqs.example.com", Region: "eu-west-1"}},
		{"sqs://127.0.0.1:4566/orders?tls=true", Target{Name: "orders", Endpoint: "https://127.0.0.1:4566"}},
		{"sqs://127.0.0.1:4566/orders?tls=1", Target{Name: "orders", Endpoint: "https://127.0.0.1:4566"}},
		{"sqs://vpce.example.com/orders?tls=false", Target{Name: "orders", Endpoint: "http://vpce.example.com"}},
		{"sqs://vpce.example.com/orders?tls=0", Target{Name: "orders", Endpoint: "http://vpce.example.com"}},
		{"sqs:///orders", Target{Name: "orders"}},
		{"sqs://", Target{}},
	}
	for _, c := range cases {
		u, err := url.Parse(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseURL(u, "sqs")
		if err != nil || got != c.want {
			t.Errorf("ParseURL(%s) = %+v, %v; want %+v", c.raw, got, err, c.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"sns://orders", `kinesis: URL scheme is "sns", want kinesis`},
		{"kinesis://key:hunter2@127.0.0.1:1/s", "credentials in the URL are not accepted; use the AWS credential chain or kinesis.WithCredentials"},
		{"kinesis://key@host/s", "credentials in the URL"},
		{"kinesis://127.0.0.1:1/s?tls=maybe", `kinesis: tls="maybe", want true or false`},
		{"kinesis://s?tls=yes", `tls="yes"`},
	}
	for _, c := range cases {
		u, err := url.Parse(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseURL(u, "kinesis")
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%s) = %v, want ErrConfig with %q and no password", c.raw, err, c.want)
		}
	}
}

func TestTargetApply(t *testing.T) {
	s := Settings{Endpoint: "http://127.0.0.1:1", Region: "eu-west-1"}
	Target{Name: "q"}.Apply(&s)
	if s.Endpoint != "http://127.0.0.1:1" || s.Region != "eu-west-1" {
		t.Errorf("an empty target changed the settings: %+v", s)
	}
	Target{Name: "q", Endpoint: "https://h", Region: "us-west-2"}.Apply(&s)
	if s.Endpoint != "https://h" || s.Region != "us-west-2" {
		t.Errorf("settings after Apply: %+v", s)
	}
}

func TestHostOfAndRedact(t *testing.T) {
	for in, want := range map[string]string{"http://127.0.0.1:4566": "127.0.0.1:4566", "sqs://h:1/q": "h:1", "eu-west-1": "eu-west-1"} {
		if got := HostOf(in); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"http://user:hunter2@h:1/x": "http://h:1/x",
		"http://h:1":                "http://h:1",
		"%zz:hunter2@h":             "...@h",
		"eu-west-1":                 "eu-west-1",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
