package kinesis

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm"
)

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want string
	}{
		{"bad name", nil, "not a valid stream name"},
		{"s", []Option{WithShards(0)}, "shards is 0"},
		{"s", []Option{WithBuffer(20000)}, "buffer is 20000"},
		{"s", []Option{WithPollInterval(0)}, "poll interval"},
		{"s", []Option{WithRequestTimeout(-1)}, "request timeout"},
		{"s", []Option{WithDeadLetterStream("s")}, "the stream itself"},
		{"s", []Option{WithDeadLetterStream("bad name")}, "dead-letter stream"},
		{"s", []Option{WithEndpoint("ftp://x")}, "not an http(s) URL"},
		{"s", []Option{WithEndpoint("http://user:hunter2@127.0.0.1:1")}, "holds credentials"},
	}
	for _, c := range cases {
		_, err := New(c.name, c.opts...)
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q): %v, want ErrConfig with %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error holds the password: %v", err)
		}
	}
}

func TestOpenURL(t *testing.T) {
	for _, raw := range []string{"kinesis://u:hunter2@127.0.0.1:1/s", "kinesis://127.0.0.1:1/s?tls=maybe",
		"kinesis://127.0.0.1:1/s?shards=x", "sqs://x/y"} {
		u, _ := url.Parse(raw)
		_, err := Open(u)
		if !errors.Is(err, swarm.ErrConfig) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s) = %v, want ErrConfig without the password", raw, err)
		}
	}
	// A reachable-looking endpoint that refuses: the error names the
	// stream and the host, not credentials.
	u, _ := url.Parse("kinesis://127.0.0.1:1/orders?region=eu-west-1&shards=2")
	_, err := Open(u, WithRequestTimeout(500_000_000))
	if err == nil || !strings.Contains(err.Error(), "orders") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Open against a closed port: %v", err)
	}
}

func TestSeqLess(t *testing.T) {
	if !seqLess("", "1") || !seqLess("9", "10") || seqLess("10", "9") || !seqLess("49590", "49591") {
		t.Fatal("sequence numbers compare as numbers")
	}
}

func TestForeignRecord(t *testing.T) {
	cfg := defaults()
	cfg.defaultCat = "Raw"
	d := &driver{cfg: cfg}
	sh := &shard{id: "shardId-000000000001"}
	e := d.entryOf(sh, &types.Record{Data: []byte(`{"x":1}`), SequenceNumber: aws.String("42"), PartitionKey: aws.String("k")})
	if e.env.Category != "Raw" || e.env.ID != "shardId-000000000001/42" || e.env.Attempt != 1 || string(e.env.Payload) != `{"x":1}` || e.key != "k" {
		t.Fatalf("foreign record decoded as %+v", e.env)
	}
}
