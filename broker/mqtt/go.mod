module github.com/swarm-go/swarm/broker/mqtt

go 1.24

require github.com/swarm-go/swarm v0.0.0-00010101000000-000000000000

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.43.0 // indirect
)

replace github.com/swarm-go/swarm => ../..
