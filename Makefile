# Keyward. `make test` is the whole suite: the command .ci/run uses.
TOOL := go tool -modfile=tools/go.mod
FUZZ := \
	api:FuzzSSE \
	internal/audit:FuzzEncoder \
	internal/audit:FuzzVerify \
	internal/auth/cert:FuzzGlobMatch \
	internal/auth/jwt:FuzzClaims \
	internal/auth/jwt:FuzzGlob \
	internal/auth/jwt:FuzzParseHeader \
	internal/auth/token:FuzzCreate \
	internal/auth/token:FuzzUse \
	internal/auth/totp:FuzzCheck \
	internal/auth/userpass:FuzzParseHash \
	internal/backup:FuzzReaderNeverAcceptsDamage \
	internal/backup:FuzzSnapshotReader \
	internal/barrier/shamir:FuzzCombine \
	internal/barrier/shamir:FuzzSplitCombine \
	internal/barrier:FuzzOpen \
	internal/cli:FuzzGitHubFileBlock \
	internal/cli:FuzzParseKVArg \
	internal/config:FuzzParse \
	internal/config:FuzzParseMigration \
	internal/core:FuzzBreakGlassConfig \
	internal/engine/database:FuzzCron \
	internal/engine/database:FuzzRender \
	internal/engine/kv:FuzzDecodeMeta \
	internal/engine/kv:FuzzRequestBody \
	internal/engine/pki:FuzzCheckHost \
	internal/engine/pki:FuzzCheckURI \
	internal/engine/pki:FuzzParseJWS \
	internal/engine/pki:FuzzParseSerial \
	internal/engine/ssh:FuzzPrincipalPolicy \
	internal/engine/ssh:FuzzRenderKeyID \
	internal/engine/transit:FuzzKWP \
	internal/engine/transit:FuzzParseBackup \
	internal/engine/transit:FuzzParseCiphertext \
	internal/engine/transit:FuzzParseImportBlob \
	internal/filecrypt:FuzzDecryptNeverAcceptsDamage \
	internal/filecrypt:FuzzMerge \
	internal/filecrypt:FuzzParseDotenv \
	internal/filecrypt:FuzzParseEnvelope \
	internal/filecrypt:FuzzParseINI \
	internal/filecrypt:FuzzParseJSON \
	internal/filecrypt:FuzzParseYAML \
	internal/filecrypt:FuzzValueRoundTrip \
	internal/httpapi:FuzzDecode \
	internal/logical:FuzzParseDuration \
	internal/logical:FuzzRouterPattern \
	internal/mask:FuzzWriterNeverLeaks \
	internal/mfa:FuzzParseHeader \
	internal/passpol:FuzzParse \
	internal/policy:FuzzCleanPath \
	internal/policy:FuzzDenyCoversDecoders \
	internal/policy:FuzzCondition \
	internal/policy:FuzzGroupTemplateNeverWidens \
	internal/policy:FuzzParse \
	internal/policy:FuzzControlGroup \
	internal/policy:FuzzTemplateNeverWidens \
	internal/report:FuzzNeutralise \
	internal/report:FuzzParseParams \
	internal/report:FuzzParsePolicy \
	internal/scan:FuzzArchive \
	internal/scan:FuzzAssignment \
	internal/scan:FuzzBase64Blobs \
	internal/scan:FuzzBaseline \
	internal/scan:FuzzConfig \
	internal/scan:FuzzDiff \
	internal/scan:FuzzIgnore \
	internal/scan:FuzzImage \
	internal/scan:FuzzPrefilter \
	internal/scan:FuzzRules \
	internal/seal:FuzzDecodeBlob \
	internal/secretref:FuzzParseConfig \
	internal/secretref:FuzzParseRef \
	internal/storage/bolt:FuzzOpen \
	internal/storage/raft:FuzzDecodeCommand \
	internal/tokenfmt:FuzzValid \
	internal/watch:FuzzFilter \
	internal/watch/sink:FuzzApply \
	internal/watch/sink:FuzzParseEndpoint \
	internal/watch/sink:FuzzPayloads \
	internal/watch:FuzzParseRule

.PHONY: test lint unit fuzz deps services build release release-check

test: services lint unit ## the whole suite, the same command .ci/run uses

services: ## start PostgreSQL, MariaDB and Redis on 127.0.0.1 if they are down; install SoftHSM2
	./scripts/services.sh

lint: ## gofmt, vet, staticcheck
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	go vet ./...
	$(TOOL) staticcheck ./...
	@# the other release platforms must keep compiling (the OS-specific files)
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/keyward
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 go build -o /dev/null ./cmd/keyward
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go vet ./internal/inject/

unit: ## every Go test (unit, integration, CLI, fuzz seeds) with the race detector; an unreachable service fails, never skips
	KEYWARD_REQUIRE_SERVICES=1 go test -race -count=1 -timeout 20m ./...
	@# the race detector needs cgo; the !cgo build's pkcs11 config error is checked here
	CGO_ENABLED=0 go test -count=1 -run 'NeedsCgo' ./internal/config/

fuzz: ## mutate each fuzz target for 20s (their seed corpora already run in `make test`)
	@for t in $(FUZZ); do go test ./$${t%%:*} -run='^$$' -fuzz="^$${t##*:}$$" -fuzztime=20s || exit 1; done

build: ## build the binary into ./bin
	go build -o bin/keyward ./cmd/keyward

deps: ## record what the binary links
	go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./cmd/keyward | grep -v '^github.com/keyward/keyward' > deps.txt

# Release builds: static, reproducible (-trimpath, empty build id, no VCS
# stamp, fixed -X values, SOURCE_DATE_EPOCH from the commit), one SBOM per
# binary, and SHA256SUMS. What differs on Windows: docs/install.md.
RELEASE_TARGETS ?= linux/amd64 linux/arm64 darwin/arm64 windows/amd64
# REPRO_TARGETS are built twice by release-check and compared.
REPRO_TARGETS ?= linux/amd64 windows/amd64
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
CLI := github.com/keyward/keyward/internal/cli
RELEASE_LDFLAGS := -s -w -buildid= -X $(CLI).version=$(VERSION) -X $(CLI).commit=$(COMMIT) -X $(CLI).buildDate=$(BUILD_DATE)
DIST ?= dist

release: ## static binaries, SBOMs and SHA256SUMS in $(DIST)/
	rm -rf $(DIST) && mkdir -p $(DIST)
	@for t in $(RELEASE_TARGETS); do os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=$(DIST)/keyward-$$os-$$arch$$ext; echo "build $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -buildvcs=false -ldflags="$(RELEASE_LDFLAGS)" -o $$out ./cmd/keyward || exit 1; \
	  SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) go run ./scripts/sbom -o $$out.cdx.json $$out || exit 1; \
	done
	cd $(DIST) && sha256sum keyward-* > SHA256SUMS && cat SHA256SUMS

release-check: ## build $(REPRO_TARGETS) twice (the second with an empty build cache) and compare the bytes
	@rm -rf /tmp/keyward-repro && mkdir -p /tmp/keyward-repro
	$(MAKE) --no-print-directory release RELEASE_TARGETS="$(REPRO_TARGETS)" DIST=/tmp/keyward-repro/a
	GOCACHE=/tmp/keyward-repro/cache $(MAKE) --no-print-directory release RELEASE_TARGETS="$(REPRO_TARGETS)" DIST=/tmp/keyward-repro/b
	cd /tmp/keyward-repro/a && for f in keyward-* SHA256SUMS; do cmp $$f ../b/$$f || exit 1; done
	@echo "reproducible: identical bytes"
