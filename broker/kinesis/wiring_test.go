package kinesis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestTLSAndCredentialsWiring: WithTLS reaches the HTTPS transport (a
// private CA is trusted only with it), WithCredentials signs the calls, and
// the secret appears in no error.
func TestTLSAndCredentialsWiring(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	var auth atomic.Value
	f := &fakePut{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	client := func(opts ...Option) *kinesis.Client {
		c := defaults()
		c.Endpoint = srv.URL
		c.Region = "eu-west-1"
		for _, o := range opts {
			o(&c)
		}
		conn, err := c.Load("kinesis")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.HTTP.CloseIdleConnections)
		return kinesis.NewFromConfig(conn.Config, func(o *kinesis.Options) { o.BaseEndpoint = c.BaseEndpoint() })
	}
	in := &kinesis.PutRecordsInput{StreamName: aws.String("s"),
		Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}}
	creds := WithCredentials(credentials.NewStaticCredentialsProvider("AKIDWIRING", secret, ""))

	if _, err := client(creds).PutRecords(context.Background(), in); err == nil {
		t.Fatal("a private CA was trusted without WithTLS")
	} else if strings.Contains(err.Error(), secret) {
		t.Fatalf("error holds the secret: %v", err)
	}
	c := client(creds, WithTLS(newTLS(pool)))
	if _, err := c.PutRecords(context.Background(), in); err != nil {
		t.Fatalf("PutRecords over TLS with WithTLS: %v", err)
	}
	if a, _ := auth.Load().(string); !strings.Contains(a, "Credential=AKIDWIRING/") || strings.Contains(a, secret) {
		t.Fatalf("Authorization %q: want the access key of WithCredentials and never the secret", a)
	}
}

func newTLS(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }
