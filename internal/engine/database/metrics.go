package database

import "github.com/keyward/keyward/internal/monitor"

// Rotation metrics, for static roles and the engine's root credential
// alike. Failures are also logged with the role or config name.
var (
	rotations = monitor.Counter("keyward_database_rotations_total",
		"Completed password rotations of database static roles and root credentials.")
	rotationFailures = monitor.Counter("keyward_database_rotation_failures_total",
		"Failed password rotations of database static roles and root credentials.")
)
