module github.com/swarm-go/swarm

go 1.24
