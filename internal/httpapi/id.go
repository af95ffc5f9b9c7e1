package httpapi

import "github.com/keyward/keyward/internal/uuid"

// newRequestID returns a random version 4 UUID.
func newRequestID() string { return uuid.New() }
