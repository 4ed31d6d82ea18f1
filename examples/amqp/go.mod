module github.com/swarm-go/swarm/examples/amqp

go 1.24

require (
	github.com/rabbitmq/amqp091-go v1.16.0
	github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000
	github.com/swarm-go/swarm/broker/amqp v0.0.0-00010101000000-000000000000
)

replace (
	github.com/swarm-go/swarm => ../..
	github.com/swarm-go/swarm/broker/amqp => ../../broker/amqp
)
