module github.com/swarm-go/swarm/broker/kafka/kfaketest

go 1.26.0

require (
	github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000
	github.com/swarm-go/swarm/broker/kafka v0.0.0-00010101000000-000000000000
	github.com/twmb/franz-go v1.22.2
	github.com/twmb/franz-go/pkg/kadm v1.18.0
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.0 // indirect
	golang.org/x/crypto v0.51.0 // indirect
)

replace (
	github.com/swarm-go/swarm => ../../..
	github.com/swarm-go/swarm/broker/kafka => ..
)
