package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A real /proc/PID/stat line, with a command name that has spaces and a
// parenthesis to make sure fields are counted from the last ')'.
const statLine = "4242 (kanaria (ctl) x) S 1 4242 4242 0 -1 4194560 51234 0 12 0 1234 567 0 0 20 0 14 0 98765 1234567890 20000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"

const statusText = `Name:	kanaria
State:	S (sleeping)
VmPeak:	 2000000 kB
VmHWM:	   81920 kB
VmRSS:	   65536 kB
RssAnon:	   40960 kB
RssFile:	   24576 kB
Threads:	14
`

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     float64
		wantErr  bool
	}{
		{"utime+stime in USER_HZ", statLine, (1234 + 567) / 100.0, false},
		{"no parenthesis", "4242 kanaria S 1", 0, true},
		{"too short", "4242 (k) S 1 2 3", 0, true},
		{"not a number", strings.Replace(statLine, " 1234 567 ", " x 567 ", 1), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusMemory(t *testing.T) {
	rss, hwm, err := parseStatusMemory([]byte(statusText))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 64<<20 || hwm != 80<<20 {
		t.Errorf("rss %d hwm %d, want %d and %d", rss, hwm, 64<<20, 80<<20)
	}
	if _, _, err := parseStatusMemory([]byte("Name:\tzombie\nState:\tZ (zombie)\n")); err == nil {
		t.Error("a status without memory lines parsed")
	}
	if _, _, err := parseStatusMemory([]byte("VmRSS:\tlots kB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("a non-numeric VmRSS parsed")
	}
}

func TestProcFS(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"stat": statLine, "status": statusText} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ProcFS{PID: 4242, Root: root}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if want := (ProcSample{CPUSeconds: 18.01, RSSBytes: 64 << 20, HWMBytes: 80 << 20, AnonBytes: 40 << 20}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := (ProcFS{PID: 1, Root: root}).Read(); err == nil {
		t.Error("reading a missing process succeeded")
	}
	// This test's own process is always there on Linux.
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		self, err := ProcFS{PID: os.Getpid()}.Read()
		if err != nil || self.RSSBytes <= 0 || self.HWMBytes < self.RSSBytes {
			t.Errorf("own process: %+v, %v", self, err)
		}
	}
}

func TestParseStatusAnon(t *testing.T) {
	if got := parseStatusAnon([]byte(statusText)); got != 40960*1024 {
		t.Errorf("RssAnon = %d, want %d", got, 40960*1024)
	}
	if got := parseStatusAnon([]byte("VmRSS:\t1 kB\n")); got != 0 {
		t.Errorf("without RssAnon = %d, want 0", got)
	}
}
