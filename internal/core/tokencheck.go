package core

import "context"

// TokenKnown reports whether token authenticates requests now, without
// using it: no use of a use-limited token is taken, and nothing is logged
// or audited. A sealed server knows no token. The HTTP layer asks before
// it reads a body larger than the unauthenticated limit, so a made-up
// token does not buy the larger limit; small bodies never ask. The answer
// is advisory: the request itself is authenticated as always, and a token
// revoked in between is refused then.
func (c *Core) TokenKnown(ctx context.Context, token string) bool {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return false
	}
	_, err := c.active.tokens.Lookup(ctx, token)
	return err == nil
}
