package kinesis

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
	"github.com/swarm-go/swarm/kernel"
)

// fakePut answers PutRecords as Kinesis does (AWS JSON 1.1), failing the
// records whose partition key fail names with that error code.
type fakePut struct {
	mu    sync.Mutex
	calls []int // records per call
	bytes []int // data and key bytes per call
	fail  map[string]string
}

func (f *fakePut) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Records []struct {
			Data         []byte
			PartitionKey string
		}
	}
	if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "not PutRecords", http.StatusBadRequest)
		return
	}
	type result struct {
		SequenceNumber, ShardId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	var out struct {
		FailedRecordCount int
		Records           []result
	}
	f.mu.Lock()
	n := 0
	for _, rec := range in.Records {
		n += len(rec.Data) + len(rec.PartitionKey)
		if code := f.fail[rec.PartitionKey]; code != "" {
			out.FailedRecordCount++
			out.Records = append(out.Records, result{ErrorCode: code, ErrorMessage: "on purpose"})
			continue
		}
		out.Records = append(out.Records, result{SequenceNumber: "1", ShardId: "shardId-000000000000"})
	}
	f.calls = append(f.calls, len(in.Records))
	f.bytes = append(f.bytes, n)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func fakeDriver(t *testing.T, h http.Handler) *driver {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(srv.URL), Region: kinesistest.Region,
		Credentials: kinesistest.Credentials()})
	cfg := defaults()
	cfg.partitionKey = PartitionByAttr("key")
	return newDriver(c, nil, "s", "kinesis://test/s", cfg)
}

func TestSendPartialFailure(t *testing.T) {
	f := &fakePut{fail: map[string]string{"bad": "ProvisionedThroughputExceededException"}}
	d := fakeDriver(t, f)
	batch := []kernel.Envelope{
		{Category: "c", Attrs: map[string]string{"key": "a"}},
		{Category: "c", Attrs: map[string]string{"key": "bad"}},
		{Category: "c"},
	}
	errs := d.Send(context.Background(), batch)
	if errs == nil || errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("errs = %v, want only record 1 failed", errs)
	}
	if kernel.IsPermanent(errs[1]) || !strings.Contains(errs[1].Error(), "ProvisionedThroughputExceeded") {
		t.Fatalf("record error %v: want a retryable error naming the code", errs[1])
	}
}

func TestSendSplitsAtCallBytes(t *testing.T) {
	f := &fakePut{}
	d := fakeDriver(t, f)
	batch := make([]kernel.Envelope, 8)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "c", Payload: make([]byte, MaxPayload)}
	}
	if errs := d.Send(context.Background(), batch); errs != nil {
		t.Fatalf("send: %v", errs)
	}
	total := 0
	for i, n := range f.calls {
		total += n
		if f.bytes[i] > maxCallBytes {
			t.Errorf("call %d carries %d bytes, over 5 MiB", i, f.bytes[i])
		}
	}
	if total != 8 || len(f.calls) < 2 {
		t.Fatalf("%d records in %d calls, want 8 in at least 2", total, len(f.calls))
	}
}

func TestSendCallFailure(t *testing.T) {
	d := fakeDriver(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"InvalidArgumentException","message":"bad stream"}`))
	}))
	errs := d.Send(context.Background(), []kernel.Envelope{{Category: "c"}, {Category: "c"}})
	if len(errs) != 2 || !kernel.IsPermanent(errs[0]) || !kernel.IsPermanent(errs[1]) {
		t.Fatalf("errs = %v, want both permanent", errs)
	}
}

func TestSendTooLarge(t *testing.T) {
	d := fakeDriver(t, &fakePut{})
	big := kernel.Envelope{Category: "c", Payload: make([]byte, MaxPayload), Attrs: map[string]string{"x": strings.Repeat("y", headerReserve)}}
	errs := d.Send(context.Background(), []kernel.Envelope{big, {Category: "c"}})
	if errs == nil || !kernel.IsPermanent(errs[0]) || errs[1] != nil {
		t.Fatalf("errs = %v, want the oversized record alone failed for good", errs)
	}
}
