// Package awsconf is the connection set-up the AWS brokers of swarm (sqs,
// sns, kinesis, eventbridge) share: their endpoint, region, credentials and
// TLS settings, how these are checked, how the aws.Config and its HTTP
// client are built from them, and how a broker URL such as
// sqs://127.0.0.1:4566/orders?region=eu-west-1 is read.
//
// Each broker keeps its own typed options (sqs.WithRegion, ...), which set
// the Settings embedded in its configuration, and calls Validate, Load and
// ParseURL with its own name, so that errors name the broker and the
// option to use.
package awsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/swarm-go/swarm"
)

// EmulatorRegion is the region used on a loopback endpoint when neither the
// options nor the environment give one: emulators accept any.
const EmulatorRegion = "us-east-1"

// idleConnsPerHost is how many idle connections the HTTP client keeps to
// the one host a broker talks to: receivers, shard readers, concurrent
// sends and settlements all share it.
const idleConnsPerHost = 64

// Settings are the connection settings of an AWS broker. The zero value
// means the default AWS endpoint, region and credential chain.
type Settings struct {
	// Endpoint is the BaseEndpoint of every call ("http://127.0.0.1:4566"
	// for an emulator, a VPC endpoint), "" for the AWS default.
	Endpoint string
	// Region overrides the region of the configuration, "" to keep it.
	Region string
	// Credentials overrides the credentials of the configuration, nil to
	// keep them.
	Credentials aws.CredentialsProvider
	// AWSConfig is used instead of loading the default configuration when
	// not nil; Region, Credentials and TLS still apply on top of it.
	AWSConfig *aws.Config
	// TLS is the TLS configuration of the HTTPS connections, nil for Go's
	// defaults.
	TLS *tls.Config
}

// Validate checks the endpoint: an http or https URL with a host and
// without user info. It fails with swarm.ErrConfig, prefixed with what (the
// broker and the resource, such as "sqs orders"); the message never holds
// the credentials of a bad endpoint.
func (s *Settings) Validate(what string) error {
	if s.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %s: endpoint %q is not an http(s) URL", swarm.ErrConfig, what, Redact(s.Endpoint))
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s: endpoint %q holds credentials; use WithCredentials", swarm.ErrConfig, what, Redact(s.Endpoint))
	}
	return nil
}

// BaseEndpoint is the value for the BaseEndpoint of a service client's
// options: the endpoint, or nil for the AWS default.
func (s *Settings) BaseEndpoint() *string {
	if s.Endpoint == "" {
		return nil
	}
	return aws.String(s.Endpoint)
}

// Loaded is the outcome of Load.
type Loaded struct {
	// Config is the configuration to build the service client from.
	Config aws.Config
	// HTTP is the HTTP client Load built, for the broker to drop its idle
	// connections on Close; nil when the client is the caller's (an
	// AWSConfig with its own HTTPClient and no TLS override).
	HTTP *http.Client
	// Host is where the calls go, for messages: the endpoint's host:port,
	// or the region on the default endpoint.
	Host string
}

// Load builds the AWS configuration of a broker: AWSConfig (copied) or the
// default chain (config.LoadDefaultConfig), with the settings on top. Its
// HTTP client keeps more idle connections than the SDK's default and uses
// TLS when set. On a loopback endpoint, which only an emulator or a test
// server answers, the EC2 metadata service is never asked, the region
// defaults to EmulatorRegion and, when the environment names no
// credentials, dummy ones are used (see DummyCredentials).
//
// service is the broker's name for errors ("sqs"). Load fails with
// swarm.ErrConfig when no region is found, naming AWS_REGION and the
// broker's WithRegion option, and with the SDK's error when the shared
// configuration cannot be read; no error holds a credential.
func (s *Settings) Load(service string) (Loaded, error) {
	loopback := s.Endpoint != "" && IsLoopback(s.Endpoint)
	// The SDK's buildable client: config applies AWS_CA_BUNDLE to it.
	var hc aws.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = idleConnsPerHost
		if s.TLS != nil {
			t.TLSClientConfig = s.TLS.Clone()
		}
	})
	ours := s.AWSConfig == nil || s.TLS != nil || s.AWSConfig.HTTPClient == nil
	var cfg aws.Config
	if s.AWSConfig != nil {
		cfg = s.AWSConfig.Copy()
		if ours {
			cfg.HTTPClient = hc
		}
	} else {
		lo := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(hc)}
		if loopback {
			lo = append(lo, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		}
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(context.Background(), lo...); err != nil {
			return Loaded{}, fmt.Errorf("%s: load the AWS configuration: %w", service, err)
		}
	}
	// Build the client now that the configuration is final, so that Close
	// can drop its idle connections; a client of the caller's is left alone.
	var own *http.Client
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok && ours {
		cfg.HTTPClient = b.Freeze()
		own, _ = cfg.HTTPClient.(*http.Client)
	}
	if s.Region != "" {
		cfg.Region = s.Region
	}
	if cfg.Region == "" && loopback {
		cfg.Region = EmulatorRegion
	}
	if cfg.Region == "" {
		return Loaded{}, fmt.Errorf("%w: %s: no AWS region: set AWS_REGION or use %s.WithRegion", swarm.ErrConfig, service, service)
	}
	creds := s.Credentials
	if creds == nil && s.AWSConfig == nil {
		creds = DummyCredentials(s.Endpoint)
	}
	if creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(creds)
	}
	host := cfg.Region
	if s.Endpoint != "" {
		host = HostOf(s.Endpoint)
	}
	return Loaded{Config: cfg, HTTP: own, Host: host}, nil
}

// DummyCredentials returns the static credentials "swarm"/"swarm" when
// endpoint is a loopback address and the environment names no credentials
// (neither AWS_ACCESS_KEY_ID nor AWS_PROFILE), else nil. Emulators accept
// any credentials; without these the default chain would end by asking
// the EC2 metadata service, which is not on this machine.
func DummyCredentials(endpoint string) aws.CredentialsProvider {
	if endpoint == "" || !IsLoopback(endpoint) || os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != "" {
		return nil
	}
	return credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
}
