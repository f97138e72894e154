package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcSample is one reading of a process's CPU time and memory.
type ProcSample struct {
	// CPUSeconds is the user plus system CPU time used since the process started.
	CPUSeconds float64
	// RSSBytes is the resident memory now (VmRSS).
	RSSBytes int64
	// HWMBytes is the highest resident memory since the process started (VmHWM).
	HWMBytes int64
	// AnonBytes is the anonymous part of RSSBytes (RssAnon): the heap,
	// stacks and runtime, without the pages of the executable that RSS
	// counts once the code that uses them has run. 0 when the kernel does
	// not report it.
	AnonBytes int64
}

// ProcReader reads a process's CPU and memory.
type ProcReader interface {
	Read() (ProcSample, error)
}

// ProcFS reads the process pid from Linux's /proc.
type ProcFS struct {
	// PID is the process to read.
	PID int
	// Root is where proc is mounted; empty means /proc.
	Root string
}

// Read returns the process's CPU time from /proc/PID/stat and its memory
// from /proc/PID/status.
func (p ProcFS) Read() (ProcSample, error) {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, p.PID))
	if err != nil {
		return ProcSample{}, fmt.Errorf("reading the controller's CPU time: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", p.PID, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", root, p.PID))
	if err != nil {
		return ProcSample{}, fmt.Errorf("reading the controller's memory: %w", err)
	}
	rss, hwm, err := parseStatusMemory(status)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", p.PID, err)
	}
	return ProcSample{CPUSeconds: cpu, RSSBytes: rss, HWMBytes: hwm, AnonBytes: parseStatusAnon(status)}, nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel reports
// them in USER_HZ, which is 100 on every Linux architecture Go supports,
// whatever the kernel's internal tick rate.
const userHZ = 100

// parseStatCPU returns utime+stime in seconds from the text of /proc/PID/stat.
func parseStatCPU(stat []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses, so fields are counted from the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("unexpected /proc stat format %q", s)
	}
	fields := strings.Fields(s[i+1:])
	// After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime(14) stime(15).
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat has %d fields after the name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseFloat(fields[11], 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", fields[11], err)
	}
	stime, err := strconv.ParseFloat(fields[12], 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", fields[12], err)
	}
	return (utime + stime) / userHZ, nil
}

// parseStatusMemory returns VmRSS and VmHWM in bytes from the text of
// /proc/PID/status.
func parseStatusMemory(status []byte) (rss, hwm int64, err error) {
	var haveRSS, haveHWM bool
	for _, line := range bytes.Split(status, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		var dst *int64
		switch f[0] {
		case "VmRSS:":
			dst, haveRSS = &rss, true
		case "VmHWM:":
			dst, haveHWM = &hwm, true
		default:
			continue
		}
		kib, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s %q: %w", f[0], f[1], err)
		}
		*dst = kib * 1024
	}
	if !haveRSS || !haveHWM {
		// A zombie or kernel thread has no memory lines; that is no
		// measurement rather than zero bytes.
		return 0, 0, fmt.Errorf("/proc status has no VmRSS/VmHWM (has the process exited?)")
	}
	return rss, hwm, nil
}

// parseStatusAnon returns RssAnon in bytes from the text of /proc/PID/status,
// 0 when absent (kernels before 4.5).
func parseStatusAnon(status []byte) int64 {
	for _, line := range bytes.Split(status, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == "RssAnon:" {
			if kib, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kib * 1024
			}
		}
	}
	return 0
}
