package redis

import (
	"crypto/tls"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm"
)

func TestConfigDefaults(t *testing.T) {
	c, err := newConfig("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.stream != "orders" || c.deadLetter != "orders.dlq" || c.group != DefaultGroup ||
		c.maxLen != DefaultMaxLen || len(c.addrs) != 1 || c.addrs[0] != DefaultAddr || c.consumer == "" {
		t.Errorf("defaults = %+v", c)
	}
	c2, _ := newConfig("orders", nil)
	if c.consumer == c2.consumer {
		t.Errorf("two brokers share the consumer name %q", c.consumer)
	}
}

func TestConfigInvalid(t *testing.T) {
	for name, tc := range map[string]struct {
		queue string
		opts  []Option
		want  string
	}{
		"empty queue":       {"", nil, "queue name is empty"},
		"no address":        {"q", []Option{WithAddr()}, "WithAddr"},
		"empty address":     {"q", []Option{WithAddr("")}, "empty address"},
		"negative db":       {"q", []Option{WithDB(-1)}, "WithDB"},
		"empty group":       {"q", []Option{WithGroup("")}, "WithGroup"},
		"empty consumer":    {"q", []Option{WithConsumer("")}, "WithConsumer"},
		"negative maxlen":   {"q", []Option{WithMaxLen(-1)}, "WithMaxLen"},
		"zero block":        {"q", []Option{WithBlock(0)}, "WithBlock"},
		"zero payload":      {"q", []Option{WithMaxPayload(0)}, "WithMaxPayload"},
		"dlq is the stream": {"q", []Option{WithDeadLetterStream("q")}, "is the stream itself"},
		"nil client":        {"q", []Option{WithClient(nil)}, "nil client"},
		"client and addr": {"q", []Option{WithClient(goredis.NewClient(&goredis.Options{})), WithAddr("h:1")},
			"cannot be combined with [WithAddr]"},
		"bad timeout": {"q", []Option{WithReadTimeout(-time.Second)}, "WithReadTimeout"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.queue, tc.opts...)
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrConfig naming %q", err, tc.want)
			}
		})
	}
}

func TestKernelOptionInvalid(t *testing.T) {
	_, err := New("q", WithKernel(swarm.WithAckCapacity(-1)))
	if !errors.Is(err, swarm.ErrConfig) {
		t.Fatalf("New = %v, want ErrConfig", err)
	}
}

func TestOptionsWiring(t *testing.T) {
	tlsCfg := &tls.Config{ServerName: "cache.example", MinVersion: tls.VersionTLS12}
	c, err := newConfig("q", []Option{
		WithAddr("a:1", "b:2"), WithUsername("app"), WithPassword("s3cret"), WithTLS(tlsCfg),
		WithDB(3), WithMasterName("mymaster"), WithCluster(),
		WithDialTimeout(time.Second), WithReadTimeout(2 * time.Second), WithWriteTimeout(3 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := c.options()
	if len(o.Addrs) != 2 || o.Username != "app" || o.Password != "s3cret" || o.TLSConfig != tlsCfg ||
		o.DB != 3 || o.MasterName != "mymaster" || !o.IsClusterMode || o.DialTimeout != time.Second ||
		o.ReadTimeout != 2*time.Second || o.WriteTimeout != 3*time.Second || !o.ContextTimeoutEnabled {
		t.Errorf("options = %+v", o)
	}
	c, _ = newConfig("q", []Option{WithTLS(nil)})
	if c.tls == nil || c.tls.MinVersion != tls.VersionTLS12 {
		t.Errorf("WithTLS(nil) = %+v, want a default TLS config", c.tls)
	}
}

func TestParseURL(t *testing.T) {
	u, _ := url.Parse("rediss://app:s3cret@cache.example:6380/orders?addr=b:2&db=2&group=billing&consumer=c1" +
		"&stream={o}&dlq={o}.dead&maxlen=10&block=1s&keepacked=true")
	queue, opts, err := parseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConfig(queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	if queue != "orders" || strings.Join(c.addrs, ",") != "cache.example:6380,b:2" || c.username != "app" ||
		c.password != "s3cret" || c.tls == nil || c.tls.ServerName != "cache.example" || c.db != 2 ||
		c.group != "billing" || c.consumer != "c1" || c.stream != "{o}" || c.deadLetter != "{o}.dead" ||
		c.maxLen != 10 || c.block != time.Second || !c.keepAcked {
		t.Errorf("config = %+v", c)
	}
}

func TestParseURLErrorsHidePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://app:s3cret@h:1/",
		"redis://app:s3cret@h:1/q?db=x",
		"redis://app:s3cret@h:1/q?maxlen=x",
		"redis://app:s3cret@h:1/q?block=x",
		"redis://app:s3cret@h:1/q?cluster=maybe",
		"redis://app:s3cret@h:1/q?nope=1",
		"http://app:s3cret@h:1/q",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = parseURL(u)
		if !errors.Is(err, swarm.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", raw, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password: %v", raw, err)
		}
	}
}
