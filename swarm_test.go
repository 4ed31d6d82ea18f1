package swarm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	_ "github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/kernel"
)

type Order struct {
	ID string `json:"id"`
}

func TestTypeName(t *testing.T) {
	if got := swarm.TypeName[Order](); got != "Order" {
		t.Errorf("TypeName[Order] = %q", got)
	}
	if got := swarm.TypeName[*Order](); got != "Order" {
		t.Errorf("TypeName[*Order] = %q", got)
	}
	if got := swarm.TypeKey[Order](); got != "github.com/swarm-go/swarm_test.Order" {
		t.Errorf("TypeKey[Order] = %q", got)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(swarm.EnvPolicy, "at-most-once")
	t.Setenv(swarm.EnvRecvCapacity, "7")
	t.Setenv(swarm.EnvMaxAttempts, "9")
	t.Setenv(swarm.EnvTimeToFlight, "45s")
	cfg, err := kernel.NewConfig(swarm.WithConfigFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy != kernel.AtMostOnce || cfg.RecvCapacity != 7 || cfg.Redelivery.Attempts() != 9 || cfg.TimeToFlight != 45*time.Second {
		t.Errorf("config from env = %+v", cfg)
	}
}

func TestConfigFromEnvRejectsBadValues(t *testing.T) {
	for name, value := range map[string]string{
		swarm.EnvPolicy:        "sometimes",
		swarm.EnvAckCapacity:   "-1",
		swarm.EnvPollFrequency: "fast",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := kernel.NewConfig(swarm.WithConfigFromEnv())
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), value) {
				t.Fatalf("err = %v, want ErrConfig naming %s=%q", err, name, value)
			}
		})
	}
}

func TestOptionsRejectBadValues(t *testing.T) {
	_, err := swarm.Open("mem://opts", swarm.WithRecvCapacity(-3))
	if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), "recv capacity is -3") {
		t.Fatalf("err = %v", err)
	}
	_, err = swarm.Open("mem://opts", swarm.WithPollFrequency(0))
	if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), "poll frequency") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpen(t *testing.T) {
	q, err := swarm.Open("mem://open-test")
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Kernel().Queue(); got != "mem://open-test" {
		t.Errorf("queue = %q", got)
	}
	q.Close()
	_, err = swarm.Open("nope://x/y")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "import") {
		t.Fatalf("unknown scheme error %v should name it and say to import the broker", err)
	}
}

// An Event[Meta, T] is CloudEvents structured-mode JSON.
func TestEventIsCloudEvent(t *testing.T) {
	c := swarm.NewCodecEvent[swarm.Meta, Order]("")
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	b, err := c.Encode(swarm.Event[swarm.Meta, Order]{
		Meta: &swarm.Meta{SpecVersion: "1.0", ID: "e1", Type: "Order", Source: "/shop", Created: at},
		Data: &Order{ID: "o1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ce map[string]any
	if err := json.Unmarshal(b, &ce); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"specversion": "1.0", "id": "e1", "type": "Order", "source": "/shop", "time": "2026-11-22T09:00:00Z"} {
		if ce[k] != want {
			t.Errorf("%s = %v, want %v (in %s)", k, ce[k], want, b)
		}
	}
	if d, _ := ce["data"].(map[string]any); d["id"] != "o1" {
		t.Errorf("data = %v", ce["data"])
	}
	e, err := c.Decode(b)
	if err != nil || e.Meta.ID != "e1" || !e.Meta.Created.Equal(at) || e.Data.ID != "o1" {
		t.Fatalf("decode = %+v, %v", e, err)
	}
	if _, err := c.Decode([]byte(`{"data": 5}`)); err == nil {
		t.Error("decoding data of the wrong type did not fail")
	}
}

func TestFailNil(t *testing.T) {
	var m swarm.Msg[Order]
	if !errors.Is(m.Fail(nil).Err, swarm.ErrFailed) {
		t.Error("Fail(nil) must record ErrFailed")
	}
	if m.Attempt() != 0 || m.ID() != "" || m.Category() != "" || m.Attrs() != nil {
		t.Error("zero Msg accessors must return zero values")
	}
}

func TestOpenNeverEchoesPassword(t *testing.T) {
	_, err := swarm.Open("mem://user:s3cret@host:badport/q")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v: must fail without the password", err)
	}
}
