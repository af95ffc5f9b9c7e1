package httpapi

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// errorStatus maps an error from the core, or from request decoding, to an
// HTTP status and a message safe to show to the client. internal is true
// when the error is unexpected: the caller logs it and the client sees only
// "internal error" with the request ID.
//
// Only *logical.CodedError messages and our own decoding errors reach the
// client verbatim; other errors may carry details meant for operators, so
// they become fixed messages.
func errorStatus(err error) (status int, msg string, internal bool) {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, errBodyTooLarge.Error(), false
	case errors.Is(err, storage.ErrValueTooLarge):
		return http.StatusRequestEntityTooLarge, "the value is too large for the storage backend (raft max_entry_size)", false
	case errors.Is(err, storage.ErrNotActive):
		return http.StatusServiceUnavailable, "this node stopped being the active node during the request; the change may or may not have been applied; retry", false
	case errors.Is(err, errBusy):
		return http.StatusServiceUnavailable, errBusy.Error(), false
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, errBodyTimeout.Error(), false
	case errors.Is(err, errTooDeep), errors.Is(err, errTooManyValues), errors.Is(err, errBodyRead),
		errors.Is(err, errMalformedJSON), errors.Is(err, errNotObject),
		errors.Is(err, errInvalidUTF8), errors.Is(err, errInvalidQuery):
		return http.StatusBadRequest, err.Error(), false
	}
	status, msg, known := logical.StatusOf(err)
	return status, msg, !known
}
