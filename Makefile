# resilient-ws: the two commands a newcomer needs are `make setup` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup test pkg bench bench-quick demo demo-cluster demo-load fmt lint clean

setup:          ## install every tool and dependency (idempotent)
	bash scripts/setup.sh

test:           ## format check, clippy (host + wasm32), host tests, browser tests, JS tests
	bash scripts/test.sh

pkg:            ## build the npm package into pkg/
	bash js/build-pkg.sh

bench:          ## benchmarks (< 15 min): resilient-ws vs raw WebSocket, reconnecting-websocket, partysocket, react-use-websocket, socket.io-client: throughput, RTT, size, flush, loss across faults, reconnect time, memory, reconnect storm -> bench/results.md + SVG charts
	bash scripts/bench.sh

bench-quick:    ## the throughput, round-trip and size rows only (< 2 min), into target/bench-quick/
	bash scripts/bench.sh --quick

demo:           ## the chat demo: React page + one chat server instance (state in memory)
	bash demo/run.sh

demo-cluster:   ## the chat demo behind nginx: two instances, Redis between them (see demo/README.md)
	bash demo/run.sh --cluster

demo-load:      ## bounded load test of the demo: 2,000 connections, 20 rooms, 30 s, one instance then the cluster
	bash demo/load.sh

fmt:
	cargo fmt --all

clean:
	cargo clean; rm -rf pkg .test-output
