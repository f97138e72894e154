package cli

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// TestShardsFlag checks that --shards takes a count or auto.
func TestShardsFlag(t *testing.T) {
	cmd := newControllerCommand()
	if err := cmd.ParseFlags([]string{"--shards", "auto"}); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("shards").Value.String(); got != "auto" {
		t.Errorf("--shards auto reads back as %q", got)
	}
	if err := cmd.ParseFlags([]string{"--shards", "4"}); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("shards").Value.String(); got != "4" {
		t.Errorf("--shards 4 reads back as %q", got)
	}
	if err := newControllerCommand().ParseFlags([]string{"--shards", "many"}); err == nil {
		t.Error("--shards many was accepted")
	}
	if got := newControllerCommand().Flags().Lookup("shards").DefValue; got != "1" {
		t.Errorf("--shards defaults to %q, want 1", got)
	}
}

// TestShardsAutoNeedsLeases checks that auto is refused without leader
// election, before anything connects.
func TestShardsAutoNeedsLeases(t *testing.T) {
	cmd := newControllerCommand()
	cmd.SetArgs([]string{"--shards", "auto", "--leader-elect=false", "--kubeconfig", "/nonexistent"})
	cmd.SetOut(&discard{})
	cmd.SetErr(&discard{})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "drop --leader-elect=false") {
		t.Fatalf("err = %v", err)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestFollowCountRestartsOnAChange checks that a run is stopped and started
// again with the new count when the count read changes, kept when a read
// fails, and that the end of the parent context ends it all.
func TestFollowCountRestartsOnAChange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	reads := []int{2, 2, -1, 4}
	count := func(context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(reads) == 0 {
			return 4, nil
		}
		n := reads[0]
		reads = reads[1:]
		if n < 0 {
			return 0, errors.New("API server unavailable")
		}
		return n, nil
	}
	var runs []int
	done := make(chan error, 1)
	go func() {
		done <- followCount(ctx, 2, time.Millisecond, count, func(ctx context.Context, n int) error {
			mu.Lock()
			runs = append(runs, n)
			second := len(runs) == 2
			mu.Unlock()
			if second {
				cancel()
			}
			<-ctx.Done()
			return nil
		}, logr.Discard())
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("followCount did not end with its context")
	}
	if len(runs) != 2 || runs[0] != 2 || runs[1] != 4 {
		t.Errorf("runs with counts %v, want [2 4]", runs)
	}
}

// TestFollowCountEndsWhenTheRunFails checks that a run failing on its own
// ends followCount with its error rather than restarting it.
func TestFollowCountEndsWhenTheRunFails(t *testing.T) {
	boom := errors.New("boom")
	err := followCount(context.Background(), 1, time.Hour, func(context.Context) (int, error) { return 1, nil },
		func(context.Context, int) error { return boom }, logr.Discard())
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}
