// Command keyward is the Keyward server, CLI and secret scanner.
package main

import (
	"context"
	"os"

	"github.com/keyward/keyward/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
