module github.com/swarm-go/swarm/examples/lambda

go 1.26

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000
	github.com/swarm-go/swarm/broker/lambda v0.0.0-00010101000000-000000000000
)

replace (
	github.com/swarm-go/swarm => ../..
	github.com/swarm-go/swarm/broker/lambda => ../../broker/lambda
)
