package httpapi

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward/internal/logical"
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
	var ce *logical.CodedError
	switch {
	case errors.As(err, &ce):
		if ce.Code < 400 || ce.Code > 599 {
			return http.StatusInternalServerError, ce.Msg, false
		}
		return ce.Code, ce.Msg, false
	case errors.Is(err, logical.ErrPermissionDenied):
		return http.StatusForbidden, "permission denied", false
	case errors.Is(err, logical.ErrUnsupportedPath):
		return http.StatusNotFound, "no handler for route", false
	case errors.Is(err, logical.ErrUnsupportedOperation):
		return http.StatusMethodNotAllowed, "unsupported operation", false
	case errors.Is(err, logical.ErrInvalidRequest):
		return http.StatusBadRequest, "invalid request", false
	case errors.Is(err, logical.ErrSealed):
		return http.StatusServiceUnavailable, logical.ErrSealed.Error(), false
	case errors.Is(err, logical.ErrNotInitialized):
		// Vault answers 400 on some paths and 503 on others; one status
		// that means "not ready, try later" is simpler for clients.
		return http.StatusServiceUnavailable, logical.ErrNotInitialized.Error(), false
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, errBodyTooLarge.Error(), false
	case errors.Is(err, errTooDeep), errors.Is(err, errTooManyValues),
		errors.Is(err, errMalformedJSON), errors.Is(err, errNotObject):
		return http.StatusBadRequest, err.Error(), false
	}
	return http.StatusInternalServerError, "internal error", true
}
