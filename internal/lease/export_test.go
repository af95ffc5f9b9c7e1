package lease

// Poke wakes the scheduler, for tests that move an injected clock.
func (m *Manager) Poke() { m.poke() }
