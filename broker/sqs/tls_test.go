package sqs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestTLSAndCredentials checks that WithTLS reaches the HTTPS connections
// and WithCredentials signs the requests, against a stand-in SQS endpoint
// over TLS, and that no error carries the secret key.
func TestTLSAndCredentials(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSQS.GetQueueUrl":
			_, _ = w.Write([]byte(`{"QueueUrl":"` + "https://" + r.Host + `/000000000000/tlsq"}`))
		case "AmazonSQS.GetQueueAttributes":
			_, _ = w.Write([]byte(`{"Attributes":{"MaximumMessageSize":"262144"}}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"InvalidAction","message":"not in this stand-in"}`))
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	creds := credentials.NewStaticCredentialsProvider("AKIDSWARMTEST", "s3cret-key", "")

	// Without the server's CA the handshake fails, and the error says so
	// without the secret.
	_, err := New("tlsq", WithEndpoint(srv.URL), WithRegion("eu-west-1"), WithCredentials(creds))
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("without the CA: %v", err)
	}

	b, err := New("tlsq", WithEndpoint(srv.URL), WithRegion("eu-west-1"), WithCredentials(creds),
		WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	defer b.Close()
	if !strings.HasSuffix(b.QueueURL(), "/tlsq") {
		t.Errorf("queue URL %q", b.QueueURL())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 {
		t.Fatal("no request reached the server")
	}
	for _, a := range auth {
		if !strings.Contains(a, "Credential=AKIDSWARMTEST/") || !strings.Contains(a, "/eu-west-1/sqs/") || strings.Contains(a, "s3cret") {
			t.Errorf("Authorization %q: want SigV4 with the given key and region, never the secret", a)
		}
	}
}
