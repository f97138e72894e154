package memlimit

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
)

func TestApply(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		ratio float64
		want  int64
		src   string
	}{
		{"v2", fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")}}, 0.9, 966367641, "sys/fs/cgroup/memory.max"},
		{"v2 without a limit", fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("max\n")}}, 0.9, 0, "no cgroup memory limit"},
		{"v1", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("536870912\n")}}, 0.5, 268435456, "memory.limit_in_bytes"},
		{"v1 unlimited", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, 0.9, 0, "no cgroup memory limit"},
		{"no cgroup files", fstest.MapFS{}, 0.9, 0, "no cgroup memory limit"},
		{"off", fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")}}, 0, 0, "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			got, err := Apply(tc.files, tc.ratio)
			if err != nil {
				t.Fatal(err)
			}
			if got.Limit != tc.want || !strings.Contains(got.Source, tc.src) {
				t.Errorf("Apply = %+v, want limit %d from %q", got, tc.want, tc.src)
			}
			runtimeLimit := debug.SetMemoryLimit(-1)
			if tc.want > 0 && runtimeLimit != tc.want {
				t.Errorf("runtime limit %d, want %d", runtimeLimit, tc.want)
			}
			if tc.want == 0 && runtimeLimit != math.MaxInt64 {
				t.Errorf("runtime limit changed to %d without a cgroup limit", runtimeLimit)
			}
		})
	}
}

func TestApplyLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "300MiB")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	before := debug.SetMemoryLimit(-1)
	got, err := Apply(fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")}}, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if got.Limit != 0 || got.Source != "GOMEMLIMIT=300MiB" || debug.SetMemoryLimit(-1) != before {
		t.Errorf("Apply = %+v with GOMEMLIMIT set; the runtime's own reading of it must stand", got)
	}
}

func TestApplyRejectsRatioAboveOne(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	if _, err := Apply(fstest.MapFS{}, 1.5); err == nil {
		t.Error("a ratio of 1.5 was accepted")
	}
	if _, err := Apply(fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("lots")}}, 0.9); err == nil {
		t.Error("an unreadable limit was accepted")
	}
}

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name    string
		gogc    string
		percent int
		mem     Setting
		want    int
		src     string
	}{
		{"no limit", "", 50, Setting{Source: "no cgroup memory limit"}, 50, "no memory limit"},
		{"under a cgroup limit", "", 50, Setting{Limit: 1 << 30, Source: "0.9 of /sys/fs/cgroup/memory.max"}, 100, "soft memory limit"},
		{"under GOMEMLIMIT", "", 50, Setting{Source: "GOMEMLIMIT=300MiB"}, 100, "soft memory limit"},
		{"GOGC set", "200", 50, Setting{Source: "no cgroup memory limit"}, 100, "GOGC=200"},
		{"off", "", 0, Setting{Source: "no cgroup memory limit"}, 100, "runtime default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			debug.SetGCPercent(100)
			got := SetGCPercent(tc.percent, tc.mem)
			if got.Percent != tc.want || !strings.Contains(got.Source, tc.src) {
				t.Errorf("SetGCPercent = %+v, want %d from %q", got, tc.want, tc.src)
			}
			if now := debug.SetGCPercent(100); now != tc.want {
				t.Errorf("runtime percent %d, want %d", now, tc.want)
			}
		})
	}
}
