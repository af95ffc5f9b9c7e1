package logical

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/keyward/keyward/internal/storage"
)

// StatusOf maps an error returned through the pipeline to the HTTP status
// and the message clients see. known is false for unexpected errors: those
// become a 500 "internal error" and only operators see the cause.
func StatusOf(err error) (status int, msg string, known bool) {
	var ce *CodedError
	switch {
	case err == nil:
		return http.StatusOK, "", true
	case errors.As(err, &ce):
		if ce.Code < 400 || ce.Code > 599 {
			return http.StatusInternalServerError, ce.Msg, true
		}
		return ce.Code, ce.Msg, true
	case errors.Is(err, ErrPermissionDenied):
		return http.StatusForbidden, "permission denied", true
	case errors.Is(err, ErrUnsupportedPath):
		return http.StatusNotFound, "no handler for route", true
	case errors.Is(err, ErrUnsupportedOperation):
		return http.StatusMethodNotAllowed, "unsupported operation", true
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest, "invalid request", true
	case errors.Is(err, storage.ErrKeyTooLong):
		return http.StatusBadRequest, fmt.Sprintf("path too long: keys are limited to %d bytes", storage.MaxKeyLength), true
	case errors.Is(err, ErrSealed):
		return http.StatusServiceUnavailable, ErrSealed.Error(), true
	case errors.Is(err, ErrNotInitialized):
		return http.StatusServiceUnavailable, ErrNotInitialized.Error(), true
	}
	return http.StatusInternalServerError, "internal error", false
}
