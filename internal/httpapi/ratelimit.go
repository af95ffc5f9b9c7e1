package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimiter is a token bucket per client address. It bounds its memory:
// past maxClients tracked addresses, those idle for a minute are dropped.
type clientLimiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

const maxClients = 10_000

func newClientLimiter(perSecond float64, burst int) *clientLimiter {
	if burst < 1 {
		burst = max(1, int(perSecond))
	}
	return &clientLimiter{rate: rate.Limit(perSecond), burst: burst, clients: map[string]*bucket{}}
}

// allow takes one token for ip, reporting whether the request may proceed.
func (c *clientLimiter) allow(ip string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.clients[ip]
	if !ok {
		if len(c.clients) >= maxClients {
			for k, v := range c.clients {
				if now.Sub(v.seen) > time.Minute {
					delete(c.clients, k)
				}
			}
		}
		b = &bucket{l: rate.NewLimiter(c.rate, c.burst)}
		c.clients[ip] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}
