package inject_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/sensitive"
)

// On Windows Run must refuse before it starts anything: no child, no file.
func TestRunRefusesOnWindows(t *testing.T) {
	if err := inject.Supported(); err == nil {
		t.Fatal("Supported() = nil on Windows")
	}
	dir := t.TempDir()
	spec := inject.Spec{Files: []inject.File{{Name: "f", Value: sensitive.NewString("v")}}}
	code, err := inject.Run(context.Background(), []string{"cmd", "/c", "exit 0"}, spec, inject.Options{SecretsRoot: dir})
	if err == nil || code != -1 {
		t.Fatalf("Run = %d, %v; want -1 and an error", code, err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("wrong error")
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("secrets root after a refused Run: %v, %v; want empty", ents, err)
	}
}
