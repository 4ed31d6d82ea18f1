package emit_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/internal/fake"
	"github.com/swarm-go/swarm/kernel"
)

type Order struct{ ID int }

var errDown = errors.New("broker down")

// A send that exhausts its retries lands on the channel's dead-letter
// channel as the value sent, with the error reported; the values around it
// are sent in order.
func TestDeadLetterAfterRetries(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 1, Ordered: true}, Fail: func(env kernel.Envelope, _ int) error {
		if string(env.Payload) == `{"ID":2}` {
			return errDown
		}
		return nil
	}}
	errs := make(chan error, 10)
	cfg, err := kernel.NewConfig(swarm.WithRetry(swarm.ConstantBackoff(time.Millisecond, 2)), swarm.WithStdErr(errs))
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	enq, dlq := emit.Typed[Order](k)
	for i := 1; i <= 3; i++ {
		enq <- Order{ID: i}
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	var dead []Order
	for v := range dlq {
		dead = append(dead, v)
	}
	if len(dead) != 1 || dead[0].ID != 2 {
		t.Fatalf("dead letters = %v, want [{2}]", dead)
	}
	if err := <-errs; !errors.Is(err, errDown) {
		t.Errorf("reported %v, want the send error", err)
	}
	var order []string
	for _, b := range d.Sends() {
		order = append(order, string(b[0].Payload))
	}
	if want := `{"ID":1} {"ID":2} {"ID":2} {"ID":3}`; strings.Join(order, " ") != want {
		t.Errorf("sends %s, want %s", strings.Join(order, " "), want)
	}
	close(enq)
}

// A value that does not encode never reaches the broker: it is dead-lettered
// with ErrEncode.
func TestEncodeFailure(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10}}
	errs := make(chan error, 10)
	cfg, _ := kernel.NewConfig(swarm.WithStdErr(errs))
	k := kernel.New(cfg, "fake://q", d)
	enq, dlq := emit.Typed[chan int](k, swarm.Category("chans"))
	enq <- make(chan int)
	if err := <-errs; !errors.Is(err, swarm.ErrEncode) {
		t.Fatalf("reported %v, want ErrEncode", err)
	}
	k.Close()
	if _, ok := <-dlq; !ok {
		t.Fatal("the unencodable value was not dead-lettered")
	}
	if len(d.Sends()) != 0 {
		t.Fatal("an unencodable value was sent")
	}
	close(enq)
}

// Values that do not encode, among many taken off the channel at once,
// are dead-lettered, and the others still reach the broker in order.
func TestEncodeFailureInBatch(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 1000}, Fail: func(kernel.Envelope, int) error {
		// Hold the first send, so that the values after it wait on enq
		// and are encoded together.
		once.Do(func() { close(started); <-release })
		return nil
	}}
	errs := make(chan error, 1000)
	cfg, _ := kernel.NewConfig(swarm.WithStdErr(errs))
	k := kernel.New(cfg, "fake://q", d)
	type num struct{ ID, V float64 }
	enq, dlq := emit.Typed[num](k, swarm.Category("nums"))
	enq <- num{ID: 0}
	<-started
	var want []string
	bad := 0
	for i := 1; i < 200; i++ {
		if i%7 == 3 {
			enq <- num{ID: float64(i), V: math.NaN()} // JSON has no NaN
			bad++
			continue
		}
		enq <- num{ID: float64(i)}
		want = append(want, strconv.Itoa(i))
	}
	close(release)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range d.Sends()[1:] {
		for _, env := range b {
			var v num
			if err := json.Unmarshal(env.Payload, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, strconv.Itoa(int(v.ID)))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sent %v\nwant %v", got, want)
	}
	dead := 0
	for v := range dlq {
		if !math.IsNaN(v.V) {
			t.Errorf("dead-lettered %v, which encodes", v)
		}
		dead++
	}
	if dead != bad {
		t.Errorf("%d values dead-lettered, want %d", dead, bad)
	}
	close(enq)
}

// Flush returns once everything sent before it reached the broker.
func TestFlush(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 3}}
	cfg, _ := kernel.NewConfig()
	k := kernel.New(cfg, "fake://q", d)
	defer k.Close()
	enq, _ := emit.Typed[Order](k)
	for i := range 10 {
		enq <- Order{ID: i}
	}
	if err := kernel.FlushAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, b := range d.Sends() {
		sent += len(b)
	}
	if sent != 10 {
		t.Fatalf("%d of 10 sent when Flush returned", sent)
	}
	close(enq)
}

// While the broker is busy with one batch, the channel keeps taking values
// into the next (up to the batch limit beyond the channel's own buffer), and
// they are sent in order once the broker is free.
func TestFillsNextBatchDuringSend(t *testing.T) {
	gate := make(chan struct{})
	inSend := make(chan struct{}, 1)
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10, Ordered: true}, Fail: func(env kernel.Envelope, _ int) error {
		if string(env.Payload) == `{"ID":0}` {
			inSend <- struct{}{}
			<-gate // the broker takes its time with the first batch
		}
		return nil
	}}
	cfg, err := kernel.NewConfig(swarm.WithEmitCapacity(5))
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	enq, _ := emit.Typed[Order](k)
	enq <- Order{ID: 0}
	<-inSend
	// 10 for the next batch and 5 for the channel's buffer.
	for i := 1; i <= 15; i++ {
		select {
		case enq <- Order{ID: i}:
		case <-time.After(2 * time.Second):
			t.Fatalf("value %d blocked while the first batch was being sent", i)
		}
	}
	close(gate)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	close(enq)
	var got []string
	for _, b := range d.Sends() {
		for _, env := range b {
			got = append(got, string(env.Payload))
		}
	}
	if len(got) != 16 {
		t.Fatalf("%d values sent, want 16: %v", len(got), got)
	}
	for i, p := range got {
		if want := `{"ID":` + strconv.Itoa(i) + `}`; p != want {
			t.Fatalf("value %d sent as %s, want %s (order lost)", i, p, want)
		}
	}
}

// The batch filled during a send is bounded by bytes as well as by count:
// once it holds MaxBatchBytes, the channel's buffer is all that remains and
// the application waits (back-pressure, bounded memory).
func TestNextBatchBoundedByBytes(t *testing.T) {
	gate := make(chan struct{})
	inSend := make(chan struct{}, 1)
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 100, MaxBatchBytes: 16, Ordered: true}, Fail: func(env kernel.Envelope, _ int) error {
		if string(env.Payload) == `{"ID":0}` {
			inSend <- struct{}{}
			<-gate
		}
		return nil
	}}
	cfg, err := kernel.NewConfig(swarm.WithEmitCapacity(5))
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	defer func() { close(gate); _ = k.Close() }()
	enq, _ := emit.Typed[Order](k)
	enq <- Order{ID: 0}
	<-inSend
	// Payloads are 8 bytes: 2 fill the next batch, 5 fill the buffer.
	for i := 1; i <= 7; i++ {
		select {
		case enq <- Order{ID: i}:
		case <-time.After(2 * time.Second):
			t.Fatalf("value %d blocked before the byte bound", i)
		}
	}
	select {
	case enq <- Order{ID: 8}:
		t.Fatal("value 8 was taken: the batch being filled ignores MaxBatchBytes")
	case <-time.After(200 * time.Millisecond):
	}
}

// asyncDriver is a fake.Driver that also sends asynchronously: each batch
// is recorded when started, and its outcome waits for release.
type asyncDriver struct {
	*fake.Driver
	mu      sync.Mutex
	started [][]string
	release chan struct{}
}

func (d *asyncDriver) SendAsync(ctx context.Context, batch []kernel.Envelope) func() []error {
	var ps []string
	for _, env := range batch {
		ps = append(ps, string(env.Payload))
	}
	d.mu.Lock()
	d.started = append(d.started, ps)
	d.mu.Unlock()
	return func() []error {
		<-d.release
		return nil
	}
}

func (d *asyncDriver) starts() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]string(nil), d.started...)
}

// With a driver that sends asynchronously, several batches of a channel
// are in flight at once, started in order; a flush returns only once every
// one of them is accepted.
func TestAsyncDriverKeepsBatchesInFlight(t *testing.T) {
	d := &asyncDriver{Driver: &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 1, Ordered: true}}, release: make(chan struct{})}
	cfg, err := kernel.NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	defer k.Close()
	enq, _ := emit.Typed[Order](k)
	defer close(enq)
	free := sync.OnceFunc(func() { close(d.release) })
	defer free()      // before Close, which waits for the batches in flight
	const values = 20 // more than the window of 16 batches of one value
	for i := range values {
		enq <- Order{ID: i}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(d.starts()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let any over-eager send start
	if n := len(d.starts()); n < 2 || n > 16 {
		t.Fatalf("%d batches started before the first was accepted, want 2 to 16 (the window)", n)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- k.Flush(context.Background()) }()
	select {
	case <-flushed:
		t.Fatal("Flush returned while batches were still unaccepted")
	case <-time.After(100 * time.Millisecond):
	}
	free()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range d.starts() {
		got = append(got, b...)
	}
	if len(got) != values {
		t.Fatalf("sent %v, want %d values", got, values)
	}
	for i, p := range got {
		if want := `{"ID":` + strconv.Itoa(i) + `}`; p != want {
			t.Fatalf("value %d started as %s, want %s (order lost)", i, p, want)
		}
	}
}
