package faults

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func measure(t *testing.T, b *Backend, release string, timeout time.Duration) (int, bool, error) {
	t.Helper()
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(b.URL() + "?" + argRelease + "=" + release)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var body struct{ OK bool }
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, body.OK, nil
}

func TestBackendVerdictsAndFaults(t *testing.T) {
	b, err := NewBackend("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	b.Fail("ro-r2")

	if code, ok, err := measure(t, b, "ro-r1", 5*time.Second); err != nil || code != 200 || !ok {
		t.Fatalf("healthy release: %d ok=%v %v", code, ok, err)
	}
	if code, ok, err := measure(t, b, "ro-r2", 5*time.Second); err != nil || code != 200 || ok {
		t.Fatalf("failing release: %d ok=%v %v", code, ok, err)
	}

	b.SetMode(BackendErroring)
	if code, _, err := measure(t, b, "ro-r1", 5*time.Second); err != nil || code != http.StatusInternalServerError {
		t.Fatalf("erroring: %d %v", code, err)
	}

	b.SetMode(BackendHanging)
	if _, _, err := measure(t, b, "ro-r1", 300*time.Millisecond); err == nil {
		t.Fatal("a hanging backend answered")
	}
	// A request held while hanging gets its verdict once the hang ends.
	done := make(chan bool)
	go func() {
		code, ok, err := measure(t, b, "ro-r1", 30*time.Second)
		done <- err == nil && code == 200 && ok
	}()
	for {
		if _, _, hung := b.Counts(); hung >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.SetMode(BackendHealthy)
	if !<-done {
		t.Fatal("the held request did not get the healthy verdict after the hang")
	}
	requests, errored, hung := b.Counts()
	if requests != 5 || errored != 1 || hung != 2 {
		t.Fatalf("counts %d requests, %d errored, %d hung", requests, errored, hung)
	}
}

func TestConfigDefaultsAndRounds(t *testing.T) {
	cfg, err := Config{Releases: 25, Rollouts: 10}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds() != 3 || cfg.Replicas != DefaultReplicas || cfg.FailEvery != DefaultFailEvery {
		t.Fatalf("defaults %+v, rounds %d", cfg, cfg.rounds())
	}
	for _, bad := range []Config{
		{Rollouts: -1}, {Releases: -1}, {KillMin: 5 * time.Second, KillMax: time.Second}, {APIServerRestarts: -1},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
