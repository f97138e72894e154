// Package memlimit fits the Go runtime's garbage collector to a
// controller: a soft memory limit below the container's cgroup memory
// limit, and, when asked, a lower collection target where no limit exists.
//
// Go's collector lets the heap grow to twice what it kept after the last
// collection (GOGC=100) and knows nothing of the container it runs in, so
// a controller whose live heap is more than half its memory limit is
// killed for memory it did not need. With a soft limit the collector runs
// more often as the heap nears it, trading CPU for staying under the
// limit; below it nothing changes, and GOGC is left alone there. Without
// any limit, nothing would ever ask the collector for less than twice the
// live heap, which in a controller is mostly caches that grow with the
// cluster; SetGCPercent lowers the target there when the operator asks,
// paying for the memory in CPU.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Files where the cgroup memory limit of this process is read, relative to
// the root of the file system: cgroup v2, then v1. Inside a container the
// cgroup namespace puts the container's own cgroup at these paths.
var limitFiles = []string{
	"sys/fs/cgroup/memory.max",
	"sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// noLimit is above any real limit: cgroup v1 reports "unlimited" as a
// page-rounded maximum of int64.
const noLimit = int64(1) << 60

// Setting is what Apply decided, for the start-up log line.
type Setting struct {
	// Limit is the soft limit in bytes; 0 when none was set here.
	Limit int64
	// Source says where the limit came from, or why none was set.
	Source string
}

// Apply sets the runtime's soft memory limit to ratio times the cgroup
// memory limit read under root (the file system root, "/" in production).
// It leaves the runtime alone when GOMEMLIMIT is set (the runtime already
// honours it), when ratio is not in (0, 1], or when no cgroup limit exists.
func Apply(root fs.FS, ratio float64) (Setting, error) {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok && v != "" {
		return Setting{Source: "GOMEMLIMIT=" + v}, nil
	}
	if ratio <= 0 {
		return Setting{Source: "off"}, nil
	}
	if ratio > 1 {
		return Setting{}, fmt.Errorf("memory limit ratio %v: must be at most 1", ratio)
	}
	limit, file, err := cgroupLimit(root)
	if err != nil {
		return Setting{}, err
	}
	if limit <= 0 {
		return Setting{Source: "no cgroup memory limit"}, nil
	}
	soft := int64(math.Floor(float64(limit) * ratio))
	debug.SetMemoryLimit(soft)
	return Setting{Limit: soft, Source: fmt.Sprintf("%v of /%s (%d bytes)", ratio, file, limit)}, nil
}

// cgroupLimit returns the cgroup memory limit and the file it came from;
// 0 when there is none.
func cgroupLimit(root fs.FS) (int64, string, error) {
	for _, name := range limitFiles {
		b, err := fs.ReadFile(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, "", fmt.Errorf("reading the cgroup memory limit: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, name, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("reading the cgroup memory limit in /%s: %w", name, err)
		}
		if n >= noLimit {
			return 0, name, nil
		}
		return n, name, nil
	}
	return 0, "", nil
}

// GCSetting is what SetGCPercent decided, for the start-up log line.
type GCSetting struct {
	// Percent is the collector's target percentage in effect.
	Percent int
	// Source says why.
	Source string
}

// SetGCPercent sets the collector's target percentage to percent when
// nothing else bounds the heap: no soft memory limit (mem, as Apply set it,
// or GOMEMLIMIT) and no GOGC in the environment. A controller's live heap
// is mostly its caches, which stay as long as the objects exist, so
// GOGC=100 keeps room for as much garbage again on top of them at every
// size; a lower percentage gives up that room for more frequent
// collections. Under a memory limit the limit already decides when the
// collector works harder, so the percentage is left alone there. A percent
// of 0 or less leaves the runtime's setting.
func SetGCPercent(percent int, mem Setting) GCSetting {
	current := debug.SetGCPercent(-1)
	debug.SetGCPercent(current)
	switch {
	case percent <= 0:
		return GCSetting{Percent: current, Source: "runtime default"}
	case os.Getenv("GOGC") != "":
		return GCSetting{Percent: current, Source: "GOGC=" + os.Getenv("GOGC")}
	case mem.Limit > 0 || strings.HasPrefix(mem.Source, "GOMEMLIMIT="):
		return GCSetting{Percent: current, Source: "left alone under the soft memory limit"}
	}
	debug.SetGCPercent(percent)
	return GCSetting{Percent: percent, Source: "no memory limit"}
}
