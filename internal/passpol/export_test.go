package passpol

// Uniform exposes uniform for the bias test.
var Uniform = uniform
