package httpapi

import "net/http"

// HTTPServer exposes the http.Server behind s to black-box tests.
func HTTPServer(s *Server) *http.Server { return s.http }
