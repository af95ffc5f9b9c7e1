package logicaltest_test

import (
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func TestInmemStorage(t *testing.T) {
	logicaltest.RunStorage(t, func(testing.TB) logical.Storage {
		return &logicaltest.InmemStorage{}
	})
}
