package tokenparams

// WithAliases returns Aliases plus a backend's own legacy field names, for
// a FieldAliases method.
func WithAliases(own map[string]string) map[string]string {
	out := make(map[string]string, len(Aliases)+len(own))
	for k, v := range Aliases {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}
