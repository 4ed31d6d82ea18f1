module github.com/swarm-go/swarm/broker/kafka

go 1.24.0

require (
	github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000
	github.com/twmb/franz-go v1.20.7
	github.com/twmb/franz-go/pkg/kadm v1.17.2
	github.com/twmb/franz-go/pkg/kmsg v1.12.0
)

require (
	github.com/klauspost/compress v1.18.4 // indirect
	github.com/pierrec/lz4/v4 v4.1.25 // indirect
	golang.org/x/crypto v0.48.0 // indirect
)

replace github.com/swarm-go/swarm => ../..
