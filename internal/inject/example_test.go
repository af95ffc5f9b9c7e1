//go:build !windows

package inject_test

import (
	"context"
	"fmt"
	"os"

	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/sensitive"
)

func ExampleRun() {
	spec := inject.Spec{
		Env:   []inject.EnvVar{{Name: "DB_USER", Value: sensitive.NewString("deploy")}},
		Files: []inject.File{{Name: "db-pass", Value: sensitive.NewString("s3cr3t")}},
	}
	code, err := inject.Run(context.Background(),
		[]string{"sh", "-c", `echo "user=$DB_USER pass=$(cat "$KEYWARD_FILE_DB_PASS")"; exit 3`},
		spec, inject.Options{Stdout: os.Stdout, Stderr: os.Stderr})
	fmt.Println("exit code", code, err)
	// Output:
	// user=deploy pass=s3cr3t
	// exit code 3 <nil>
}
