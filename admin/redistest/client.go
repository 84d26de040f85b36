package redistest

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client returns a go-redis client for addrs (one address, or several
// comma-separated for a Cluster) with short time-outs and one retry, so a
// test against a stopped server fails fast; it is closed when t ends.
func Client(t testing.TB, addrs string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:       strings.Split(addrs, ","),
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: 1,
	})
	t.Cleanup(func() { c.Close() })
	return c
}
