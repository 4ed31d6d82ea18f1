package awsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/swarm-go/swarm"
)

// hermetic empties the environment the default chain reads, so that the
// tests see neither the machine's AWS files nor its variables, and never
// reach for the EC2 metadata service.
func hermetic(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"", "http://127.0.0.1:4566", "https://sqs.eu-west-1.amazonaws.com"} {
		s := Settings{Endpoint: ok}
		if err := s.Validate("sqs q"); err != nil {
			t.Errorf("Validate(%q): %v", ok, err)
		}
	}
	cases := []struct{ endpoint, want string }{
		{"ftp://x", `sqs q: endpoint "ftp://x" is not an http(s) URL`},
		{"127.0.0.1:4566", "not an http(s) URL"},
		{"http://", "not an http(s) URL"},
		{"http://user:hunter2@127.0.0.1:1", `sqs q: endpoint "http://127.0.0.1:1" holds credentials; use WithCredentials`},
	}
	for _, c := range cases {
		s := Settings{Endpoint: c.endpoint}
		err := s.Validate("sqs q")
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Validate(%q) = %v, want ErrConfig with %q and no password", c.endpoint, err, c.want)
		}
	}
}

func TestBaseEndpoint(t *testing.T) {
	if (&Settings{}).BaseEndpoint() != nil {
		t.Error("no endpoint: BaseEndpoint is not nil")
	}
	if e := (&Settings{Endpoint: "http://h:1"}).BaseEndpoint(); e == nil || *e != "http://h:1" {
		t.Errorf("BaseEndpoint = %v", e)
	}
}

func TestDummyCredentials(t *testing.T) {
	hermetic(t)
	if p := DummyCredentials("http://127.0.0.1:4566"); p == nil {
		t.Fatal("loopback endpoint, empty environment: no dummy credentials")
	}
	for _, endpoint := range []string{"", "https://sqs.eu-west-1.amazonaws.com", "http://10.1.2.3:4566"} {
		if p := DummyCredentials(endpoint); p != nil {
			t.Errorf("DummyCredentials(%q) = %v, want nil off loopback", endpoint, p)
		}
	}
	t.Run("access key in the environment", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
		if p := DummyCredentials("http://127.0.0.1:4566"); p != nil {
			t.Errorf("dummy credentials over AWS_ACCESS_KEY_ID: %v", p)
		}
	})
	t.Run("profile in the environment", func(t *testing.T) {
		t.Setenv("AWS_PROFILE", "dev")
		if p := DummyCredentials("http://localhost:4566"); p != nil {
			t.Errorf("dummy credentials over AWS_PROFILE: %v", p)
		}
	})
}

func TestLoadLoopback(t *testing.T) {
	hermetic(t)
	s := Settings{Endpoint: "http://127.0.0.1:4566"}
	l, err := s.Load("sqs")
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Region != EmulatorRegion || l.Host != "127.0.0.1:4566" {
		t.Errorf("region %q, host %q", l.Config.Region, l.Host)
	}
	if l.HTTP == nil || l.Config.HTTPClient != l.HTTP {
		t.Errorf("Load did not hand back the client it built: %v", l.HTTP)
	}
	creds, err := l.Config.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "swarm" {
		t.Errorf("credentials on loopback: %q, %v; want the dummy ones", creds.AccessKeyID, err)
	}

	// The environment's credentials win over the dummy ones.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	l, err = s.Load("sqs")
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := l.Config.Credentials.Retrieve(context.Background()); err != nil || creds.AccessKeyID != "AKIDENV" {
		t.Errorf("credentials with AWS_ACCESS_KEY_ID set: %q, %v", creds.AccessKeyID, err)
	}
}

func TestLoadNoRegion(t *testing.T) {
	hermetic(t)
	for _, s := range []Settings{
		{},
		{Endpoint: "https://kinesis.example.com"},
		{AWSConfig: &aws.Config{}},
	} {
		_, err := s.Load("kinesis")
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), "kinesis: no AWS region: set AWS_REGION or use kinesis.WithRegion") {
			t.Errorf("Load(%+v) = %v, want ErrConfig naming AWS_REGION and kinesis.WithRegion", s, err)
		}
	}
	t.Setenv("AWS_REGION", "ap-south-1")
	s := Settings{Endpoint: "https://kinesis.example.com"}
	l, err := s.Load("kinesis")
	if err != nil || l.Config.Region != "ap-south-1" || l.Host != "kinesis.example.com" {
		t.Errorf("region from the environment: %+v, %v", l.Config.Region, err)
	}
	s.Region = "eu-north-1"
	if l, err = s.Load("kinesis"); err != nil || l.Config.Region != "eu-north-1" {
		t.Errorf("Region over the environment: %q, %v", l.Config.Region, err)
	}
}

func TestLoadAWSConfig(t *testing.T) {
	hermetic(t)
	theirs := &http.Client{}
	given := aws.Config{Region: "eu-west-3", HTTPClient: theirs,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDGIVEN", "given-secret", "")}
	s := Settings{AWSConfig: &given, Endpoint: "http://127.0.0.1:1"}
	l, err := s.Load("sns")
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.HTTPClient != theirs || l.HTTP != nil {
		t.Errorf("the caller's HTTP client was replaced or claimed: %v, %v", l.Config.HTTPClient, l.HTTP)
	}
	if creds, err := l.Config.Credentials.Retrieve(context.Background()); err != nil || creds.AccessKeyID != "AKIDGIVEN" {
		t.Errorf("the configuration's credentials were replaced on loopback: %q, %v", creds.AccessKeyID, err)
	}
	if l.Config.Region != "eu-west-3" || l.Host != "127.0.0.1:1" {
		t.Errorf("region %q, host %q", l.Config.Region, l.Host)
	}
	// A buildable client of the caller's is theirs too: not frozen, not
	// claimed.
	buildable := awshttp.NewBuildableClient()
	if l, err := (&Settings{AWSConfig: &aws.Config{Region: "eu-west-3", HTTPClient: buildable}}).Load("sns"); err != nil ||
		l.Config.HTTPClient != buildable || l.HTTP != nil {
		t.Errorf("the caller's buildable client was replaced or claimed: %v, %v, %v", l.Config.HTTPClient, l.HTTP, err)
	}

	// WithTLS replaces the client, WithRegion and WithCredentials apply on
	// top, and the caller's configuration is left as it was.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	s.Region = "us-west-1"
	s.Credentials = credentials.NewStaticCredentialsProvider("AKIDOPT", "opt-secret", "")
	if l, err = s.Load("sns"); err != nil {
		t.Fatal(err)
	}
	if l.HTTP == nil || l.Config.HTTPClient != l.HTTP {
		t.Fatalf("TLS did not give the broker its own client: %v", l.Config.HTTPClient)
	}
	if resp, err := l.HTTP.Get(srv.URL); err != nil {
		t.Errorf("the client does not trust the CA of the TLS settings: %v", err)
	} else {
		resp.Body.Close()
	}
	l.HTTP.CloseIdleConnections()
	s.TLS = nil
	s.AWSConfig = &aws.Config{Region: "eu-west-3"}
	if l, err = s.Load("sns"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.HTTP.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the TLS settings the test CA is trusted: %v", err)
	}
	if creds, err := l.Config.Credentials.Retrieve(context.Background()); err != nil || creds.AccessKeyID != "AKIDOPT" || l.Config.Region != "us-west-1" {
		t.Errorf("overrides: %q, %v, region %q", creds.AccessKeyID, err, l.Config.Region)
	}
	if given.Region != "eu-west-3" || given.HTTPClient != theirs {
		t.Errorf("Load changed the caller's configuration: %+v", given)
	}
}
