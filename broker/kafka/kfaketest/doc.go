// Package kfaketest runs the swarm conformance suite against the Kafka broker
// over an in-process kfake cluster (github.com/twmb/franz-go/pkg/kfake).
//
// It is a module of its own because kfake is published only for Go 1.26,
// while package kafka itself builds with Go 1.24: the test dependency stays
// out of the library's go.mod.
package kfaketest
