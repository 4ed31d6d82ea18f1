module github.com/swarm-go/swarm/broker/lambda

go 1.26

require github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000

require github.com/aws/aws-lambda-go v1.55.1 // indirect

replace github.com/swarm-go/swarm => ../..
