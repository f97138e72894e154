package trafficrouting

import (
	"errors"
	"fmt"
	"testing"
)

func TestConfigErrorsUnpacksJoinedAndWrapped(t *testing.T) {
	a := Errorf("istio", "VirtualService %s does not exist", "shop")
	b := Errorf("istio", "route %q not found", "primary")
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("connection refused"), 0},
		{"one", a, 1},
		{"wrapped", fmt.Errorf("checking: %w", a), 1},
		{"joined", errors.Join(a, b), 2},
		{"joined inside joined", errors.Join(a, errors.Join(b, a)), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConfigErrors(tc.err); len(got) != tc.want {
				t.Fatalf("ConfigErrors(%v) = %v, want %d", tc.err, got, tc.want)
			}
		})
	}
	if got := a.Error(); got != "istio: VirtualService shop does not exist" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestDesiredStableWeight(t *testing.T) {
	if got := (Desired{CanaryWeight: 5, MaxWeight: 1000}).StableWeight(); got != 995 {
		t.Fatalf("StableWeight = %d, want 995", got)
	}
}
