// Package httpapi is the only package that serves net/http. It turns HTTP
// requests under /v1/ into logical requests (operation, clean path, data,
// token, connection), hands them to the core, and writes Vault-compatible
// responses and errors. It enforces size, depth and path limits before the
// core is called, and each listener's own settings (trusted proxies,
// timeouts, connection caps) on the connections that listener accepts.
//
// It never touches storage, never decides whether a request is allowed, and
// never logs a token or a request body.
package httpapi
