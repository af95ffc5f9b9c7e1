package sink

// DialRefused exposes the dial-time address check to the tests.
var DialRefused = dialControl(nil)
