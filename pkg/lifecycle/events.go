package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/state"
)

// Events writes the container's events to w, one JSON object per line in
// runc's shape: with statsOnly a single stats event; otherwise a stats
// event every interval and an oom event for each out-of-memory event, until
// the container stops (runc keeps waiting forever; ending lets a caller
// tell a stopped container from a quiet one).
func (r *Runtime) Events(id string, interval time.Duration, statsOnly bool, w io.Writer) error {
	if interval <= 0 {
		return fmt.Errorf("--interval: %v is not a positive duration", interval)
	}
	c, err := r.Store.Peek(id)
	if err != nil {
		return err
	}
	r.wire(c)
	if c.Status() == state.Stopped {
		return errors.New("container is not running")
	}
	cg, err := loadCgroup(c.State.CgroupPaths)
	if err != nil {
		return err
	}
	if cg == nil {
		return fmt.Errorf("container %s has no cgroup", id)
	}
	enc := json.NewEncoder(w)
	stats := func() error {
		s, err := cg.Stats()
		if err != nil {
			return err
		}
		return enc.Encode(cgroup.Event{Type: "stats", ID: id, Data: s})
	}
	if statsOnly {
		return stats()
	}
	var oom <-chan struct{}
	if wch, err := cg.WatchOOM(); err != nil {
		r.Log.Warnf("events %s: no OOM notification: %v", id, err)
	} else {
		defer wch.Close()
		oom = wch.C
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case _, ok := <-oom:
			if !ok {
				// The cgroup is gone: the container was deleted.
				return nil
			}
			if err := enc.Encode(cgroup.Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick.C:
			if c.Status() == state.Stopped {
				return nil
			}
			if err := stats(); err != nil {
				if c.Status() == state.Stopped {
					return nil
				}
				r.Log.Warnf("events %s: %v", id, err)
			}
		}
	}
}
