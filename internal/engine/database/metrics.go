package database

import "github.com/keyward/keyward/internal/monitor"

// metrics count rotations, for static roles and the engine's root
// credential alike, in the registry Options gave the factory (shared by
// every mount the factory builds). Failures are also logged with the role
// or config name.
type metrics struct {
	rotations, rotationFailures *monitor.Count
}

func newMetrics(r *monitor.Registry) metrics {
	return metrics{
		rotations: r.Counter("keyward_database_rotations_total",
			"Completed password rotations of database static roles and root credentials."),
		rotationFailures: r.Counter("keyward_database_rotation_failures_total",
			"Failed password rotations of database static roles and root credentials."),
	}
}
