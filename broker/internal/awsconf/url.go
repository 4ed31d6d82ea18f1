package awsconf

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/swarm-go/swarm"
)

// Target is what a broker URL names, in one of two forms:
//
//	<scheme>://<name>                         the AWS default endpoint
//	<scheme>://<host:port>/<name>?region=&tls= an endpoint of its own
//
// The endpoint is reached over http when its host is a loopback address
// and over https otherwise, unless tls=true or tls=false says so.
type Target struct {
	// Name is the resource (queue, topic, stream, bus): the path without
	// its slashes, or the host when the URL has no path. It may be empty.
	Name string
	// Endpoint is "http(s)://host:port" when the URL has a host and a
	// path, else "".
	Endpoint string
	// Region is the region query parameter, or "".
	Region string
}

// ParseURL reads u, whose scheme must be scheme (the broker's name, "sqs").
// The query's other parameters are the broker's to read. It fails with
// swarm.ErrConfig for another scheme, for credentials in the URL (which
// would end up in logs: the AWS credential chain or the broker's
// WithCredentials is the way) and for a tls value other than true, false,
// 1 or 0.
func ParseURL(u *url.URL, scheme string) (Target, error) {
	if u.Scheme != scheme {
		return Target{}, fmt.Errorf("%w: %s: URL scheme is %q, want %s", swarm.ErrConfig, scheme, u.Scheme, scheme)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("%w: %s: credentials in the URL are not accepted; use the AWS credential chain or %s.WithCredentials",
			swarm.ErrConfig, scheme, scheme)
	}
	q := u.Query()
	var useTLS *bool
	switch v := q.Get("tls"); v {
	case "true", "1":
		useTLS = new(bool)
		*useTLS = true
	case "false", "0":
		useTLS = new(bool)
	case "":
	default:
		return Target{}, fmt.Errorf("%w: %s: tls=%q, want true or false", swarm.ErrConfig, scheme, v)
	}
	t := Target{Name: strings.Trim(u.Path, "/"), Region: q.Get("region")}
	switch {
	case t.Name == "":
		t.Name = u.Host
	case u.Host != "":
		secure := !IsLoopback("http://" + u.Host)
		if useTLS != nil {
			secure = *useTLS
		}
		t.Endpoint = "http://" + u.Host
		if secure {
			t.Endpoint = "https://" + u.Host
		}
	}
	return t, nil
}

// Apply sets the endpoint and region of s that t names, leaving the others
// as they are.
func (t Target) Apply(s *Settings) {
	if t.Endpoint != "" {
		s.Endpoint = t.Endpoint
	}
	if t.Region != "" {
		s.Region = t.Region
	}
}

// IsLoopback reports whether the host of the URL endpoint is localhost or
// a loopback IP address (127.0.0.0/8, ::1). It is false for a URL that does
// not parse.
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// HostOf returns the host (and port) of a URL, or s itself when it is not
// a URL with a host (a region, say).
func HostOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// Redact returns s with the user info of a URL dropped, for error
// messages; a string that does not parse loses everything before its last
// "@".
func Redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "..." + s[i:]
	}
	return s
}
