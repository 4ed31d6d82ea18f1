package kinesiswire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/swarm-go/swarm/kernel"
)

func TestFrameRoundTrip(t *testing.T) {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i)
	}
	in := kernel.Envelope{Category: "note.v2", ID: "id-1", Attrs: map[string]string{"tenant": "acme", "k\x00": "v\xff"}, Payload: payload}
	var out kernel.Envelope
	if err := Unframe(Frame(&in, 2), &out); err != nil {
		t.Fatal(err)
	}
	if out.Category != in.Category || out.ID != in.ID || out.Attempt != 3 ||
		!reflect.DeepEqual(out.Attrs, in.Attrs) || string(out.Payload) != string(payload) {
		t.Fatalf("round trip changed the envelope: %+v", out)
	}
	if n := HeaderSize(&in, 2); n != len(Frame(&in, 2))-len(payload) {
		t.Fatalf("HeaderSize %d disagrees with frame", n)
	}
}

func TestFrameForeignAndBroken(t *testing.T) {
	if IsFrame([]byte(`{"a":1}`)) || !IsFrame(Frame(&kernel.Envelope{}, 0)) {
		t.Fatal("IsFrame does not tell frames from foreign data")
	}
	var env kernel.Envelope
	if err := Unframe([]byte(`{"a":1}`), &env); err != nil || env.Category != "" || string(env.Payload) != `{"a":1}` || env.Attempt != 1 {
		t.Fatalf("foreign record: %+v %v", env, err)
	}
	full := Frame(&kernel.Envelope{Category: "c", ID: "i", Attrs: map[string]string{"a": "b"}}, 0)
	for n := 2; n < len(full); n++ {
		var e kernel.Envelope
		err := Unframe(full[:n], &e)
		if err == nil && n < len(full)-1 {
			t.Fatalf("truncated frame of %d bytes decoded: %+v", n, e)
		}
		if err != nil && !errors.Is(err, ErrBroken) {
			t.Fatalf("truncated frame of %d bytes: %v, want ErrBroken", n, err)
		}
	}
}

func TestDecode(t *testing.T) {
	full := Frame(&kernel.Envelope{Category: "c", ID: "i", Payload: []byte("p")}, 1)
	if env := Decode(full); env.Category != "c" || env.ID != "i" || env.Attempt != 2 || string(env.Payload) != "p" {
		t.Errorf("frame decoded as %+v", env)
	}
	if env := Decode(full[:4]); env.Category != "" || env.Attempt != 1 || string(env.Payload) != string(full[:4]) {
		t.Errorf("broken frame decoded as %+v, want the bare data", env)
	}
}
