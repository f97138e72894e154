package controller

import (
	"strings"
	"testing"
)

func TestDefaultOptionsAreValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("default options: %v", err)
	}
}

func TestValidateClientRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		qps     float32
		burst   int
		wantErr string
	}{
		{name: "no client-side limit ignores the burst", qps: -1, burst: 0},
		{name: "a bound with a burst", qps: 50, burst: 100},
		{name: "zero would be client-go's 5 per second", qps: 0, burst: 100, wantErr: "kube-api-qps must not be 0"},
		{name: "a bound without a burst", qps: 50, burst: 0, wantErr: "kube-api-burst (0) must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.QPS, o.Burst = tc.qps, tc.burst
			err := o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
