# Every module of the workspace (go.work), vetted and tested with -race.
# `go test ./...` at the root does not enter nested modules, hence the loop.
MODULES := $(shell go list -m -f '{{.Dir}}')
TIMEOUT ?= 15m

.PHONY: test vet quickstart bench

# Every module runs even when one fails, so one run shows every failure.
test: vet
	@failed=""; for m in $(MODULES); do \
		echo "== go test -race $$m"; \
		(cd $$m && go test -race -count=1 -timeout $(TIMEOUT) ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do \
		echo "== go vet $$m"; \
		(cd $$m && go vet ./...); \
	done

quickstart:
	go run ./examples/quickstart

# Side-by-side benchmarks (raw client, swarm, Watermill) in one run; see BENCHMARKS.md.
bench:
	cd bench && go run ./cmd/swarmbench -cpu
	cd bench && go run ./cmd/swarmbench -rss 1000000
