# arca's build, test and benchmark entry points. `make test` is what CI runs.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 4s

.PHONY: all build deps test unit race fuzz lint bench compare releases restore-bench prune-bench remote-bench peers bound bigindex stress clean

all: build

build:
	$(GO) build -o bin/arca ./cmd/arca

# test: lint, all tests with the race detector, then a short run of every
# fuzz target from its seed corpus (testdata/fuzz) onwards.
test: deps lint race fuzz

# deps: the real programs the tests drive (PostgreSQL 15, git, script from
# bsdutils, runuser from util-linux, OpenSSH's sshd and ssh, rclone for
# `rclone serve restic`), installed from Debian when missing and when we are
# root with apt, and the S3 gateway versitygw, built with go install;
# otherwise the tests that need them skip. As root, make test requires the
# servers (ARCA_REQUIRE_SERVERS=1): a test that cannot start one fails.
DEB_DEPS := postgresql-15 postgresql-client-15 git bsdutils util-linux fuse3 restic openssh-server openssh-client rclone
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0
REQUIRE_SERVERS ?= $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo 1)
deps:
	@missing=$$(for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "not installed (tests needing them skip): $$missing"; fi; \
	fi
	@gobin=$$($(GO) env GOPATH)/bin; if [ ! -x "$$gobin/versitygw" ]; then \
		echo "building versitygw ($(VERSITYGW))"; $(GO) install $(VERSITYGW); fi

unit:
	$(GO) test -count=1 $(PKGS)

race:
	ARCA_REQUIRE_SERVERS=$(REQUIRE_SERVERS) $(GO) test -race -count=1 -timeout 20m $(PKGS)

# One line per fuzz target: package and function.
FUZZ_TARGETS := \
	./crypto:FuzzParseKeyFile \
	./pack:FuzzDecodeHeader \
	./index:FuzzDecode \
	./repo:FuzzParseConfig \
	./repo:FuzzOpenFile \
	./repo:FuzzParseCandidateList \
	./repo/tree:FuzzDecode \
	./repo/restore:FuzzParseJournal \
	./repo/snapshot:FuzzParse

# A bare "context deadline exceeded" with no failing input written is Go
# 1.26's fuzz-coordinator race at the end of -fuzztime (go.dev/issue/75804,
# fixed in Go 1.27), not a finding: such a run is repeated once, then
# tolerated (the seed corpus ran in the race step already). Any other
# failure fails.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for try in 1 2; do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			if out=$$($(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); then break; fi; \
			if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
				echo "  the fuzz coordinator's deadline race (go.dev/issue/75804), no input found"; continue; fi; \
			echo "$$out"; exit 1; \
		done; \
	done

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# peers: arca beside restic and borg on the Go tree, a 2 GiB image, a SQL
# dump and 300,000 small files (PEERS_RUNS runs, medians).
PEERS_RUNS ?= 1
peers:
	bash docs/bench/peers.sh $(PEERS_RUNS)

# bound: each stage of backup and restore alone on BOUND_DATA, the bound a
# perfect pipeline on all cores would reach, and arca beside it. BOUND_WORK
# is the disk under test.
BOUND_DATA ?= $(shell $(GO) env GOROOT)
BOUND_WORK ?= /var/tmp
bound: build
	$(GO) run ./docs/bench/bound -arca bin/arca -work $(BOUND_WORK) $(BOUND_DATA)

# bigindex: a repository whose index lists BIGINDEX_BLOBS blobs (in
# BIGINDEX_DIR), index lookups in it, and a backup's peak RSS with it.
BIGINDEX_BLOBS ?= 10000000
BIGINDEX_DIR ?= /var/tmp/arca-bigindex
bigindex: build
	rm -rf $(BIGINDEX_DIR) && mkdir -p $(BIGINDEX_DIR)
	$(GO) run ./docs/bench/bigindex -dir $(BIGINDEX_DIR) -blobs $(BIGINDEX_BLOBS)
	$(GO) run ./docs/bench/bigindex -dir $(BIGINDEX_DIR) -reuse
	ARCA_PASSWORD=bigindex /usr/bin/time -f "backup of the Go tree with this index: %e s, peak RSS %M KB" \
		bin/arca -r $(BIGINDEX_DIR)/repo --cache-dir $(BIGINDEX_DIR)/cache backup -q $$($(GO) env GOROOT)
	rm -rf $(BIGINDEX_DIR)

# prune-bench: prune and check at a million blobs, beside restic.
prune-bench:
	bash docs/bench/prune.sh

# remote-bench: backup and restore to S3 (versitygw) and REST (rclone serve
# restic) on 127.0.0.1, beside restic.
remote-bench:
	bash docs/bench/remote.sh

# stress: the many-writers stress test (cmd/arca/stress_test.go) with many
# rounds per writer: minutes instead of seconds.
STRESS_ROUNDS ?= 60
stress:
	ARCA_STRESS_ROUNDS=$(STRESS_ROUNDS) $(GO) test -count=1 -timeout 60m -run '^TestStress$$' -v ./cmd/arca

# bench: the Go benchmarks of the hot paths.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# compare: arca against restic on the Go toolchain tree (docs/bench/README.md).
compare:
	bash docs/bench/compare.sh

# releases: successive golang.org/x/tools releases, arca against restic
# (docs/bench/README.md).
releases:
	bash docs/bench/releases.sh

# restore-bench: a fresh restore against one over an identical target.
restore-bench:
	bash docs/bench/restore.sh

clean:
	rm -rf bin
