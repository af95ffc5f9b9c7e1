# Keyward. `make test` is the whole suite: the command .ci/run uses.
TOOL := go tool -modfile=tools/go.mod
FUZZ := internal/policy:FuzzParse internal/policy:FuzzCleanPath internal/barrier:FuzzOpen \
	internal/barrier/shamir:FuzzCombine internal/httpapi:FuzzDecode internal/mask:FuzzWriterNeverLeaks \
	internal/tokenfmt:FuzzValid

.PHONY: test lint unit fuzz deps services build

test: services lint unit ## the whole suite, the same command .ci/run uses

services: ## start PostgreSQL, MariaDB and Redis on 127.0.0.1 if they are down
	./scripts/services.sh

lint: ## gofmt, vet, staticcheck
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	go vet ./...
	$(TOOL) staticcheck ./...

unit: ## every Go test (unit, integration, CLI, fuzz seeds) with the race detector
	go test -race -count=1 -timeout 20m ./...

fuzz: ## mutate each fuzz target for 20s
	@for t in $(FUZZ); do go test ./$${t%%:*} -run='^$$' -fuzz="^$${t##*:}$$" -fuzztime=20s || exit 1; done

build: ## build the binary into ./bin
	go build -o bin/keyward ./cmd/keyward

deps: ## record what the binary links
	go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./cmd/keyward | grep -v '^github.com/keyward/keyward' > deps.txt
