# disq: the two commands a new machine needs are `make run` and `make test`.
GO       ?= go
BIN      ?= bin
FUZZTIME ?= 3s
BENCHCOUNT ?= 6

.PHONY: all build run test lint race alloc fuzz bench bench-compare clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# One node on 127.0.0.1:7711 with built-in defaults.
run: build
	./$(BIN)/disq-server --bind 127.0.0.1 --port 7711

# Everything CI checks (.ci/run calls this): lint, the race-enabled test
# suite, the allocation guards (non-race pass: the race detector allocates),
# and a few seconds of every fuzz target.
test: lint race alloc fuzz

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

alloc:
	$(GO) test -count=1 -run 'Allocs' ./...

fuzz:
	@./.ci/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

# disq-server vs Debian's redis-server on loopback, same workloads
# interleaved over several rounds (see BENCHMARKS.md); override the flags
# with BENCH_COMPARE_ARGS="...".
BENCH_COMPARE_ARGS ?= -n 200000 --rounds 3
bench-compare: build
	./$(BIN)/disq-bench compare $(BENCH_COMPARE_ARGS)

clean:
	rm -rf $(BIN) bench.out
