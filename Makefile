# switchyard: see README.md. `make run` and `make test` are the two commands
# a newcomer needs; both install what they miss from Debian's packages.

GO      ?= go
BIN     := bin/switchyard
CONFIG  ?= conf/switchyard.yaml
# A count, not a duration: Go 1.26's fuzz coordinator can fail a duration
# run at its deadline with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 20000x
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build run test test-unit fuzz lint bench deps-test clean

build:
	@mkdir -p var
	$(GO) build -o $(BIN) ./cmd/switchyard

# The demo: two FreeSWITCH simulators (the pools of conf/switchyard.yaml dial
# 127.0.0.1:8021 and :8022; carrier-a answers 70%, carrier-b 50%) and the
# gateway in the foreground. Ctrl-C stops all three.
SIMFLAGS := --password ClueCon --ring 1s-4s --talk 3s-15s --sps 100 --heartbeat 5s \
	--line carrier-a:answer=0.7,ring=1s-4s,talk=3s-15s --line carrier-b:answer=0.5,ring=1s-4s,talk=3s-15s
run: build
	@trap 'kill $$sim1 $$sim2 2>/dev/null' EXIT INT TERM; \
	$(BIN) sim-fs --listen 127.0.0.1:8021 $(SIMFLAGS) --originate-log var/fs1-originates.jsonl & sim1=$$!; \
	$(BIN) sim-fs --listen 127.0.0.1:8022 $(SIMFLAGS) --originate-log var/fs2-originates.jsonl & sim2=$$!; \
	$(BIN) serve --config $(CONFIG)

# redis-server is needed by the tests that start a real Redis.
deps-test:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server from Debian's packages"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server is missing and could not be installed" >&2; exit 1; }

test: deps-test lint test-unit fuzz

test-unit:
	$(GO) test -race -count=1 -timeout 12m ./...

# A short run of every native fuzz target; their seed corpora also run in test-unit.
fuzz:
	@for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H '^func Fuzz' | sed -E 's#^\./([^:]*)/[^/:]*:func (Fuzz[A-Za-z0-9_]*).*#\1:\2#' | sort -u); do \
	  pkg=$${spec%%:*}; fn=$${spec##*:}; \
	  echo "fuzz ./$$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build
	bash bench/run.sh $(if $(QUICK),--quick,)

clean:
	rm -rf bin var
