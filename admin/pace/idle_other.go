//go:build !linux

package pace

import (
	"errors"
	"time"
)

var errNoIdle = errors.New("no idle scheduling class on this system")

func setIdle() error                                         { return errNoIdle }
func inIdleThread() bool                                     { return false }
func threadID() int                                          { return 0 }
func threadSchedstat() (time.Duration, time.Duration, error) { return 0, 0, errNoIdle }
