package notify

import (
	"fmt"
	"testing"
)

func TestDecisionKeyStableAndDistinct(t *testing.T) {
	a := decisionKey("on-rollout-paused", "uid-1", "abc/1", "paused at step 2 until promoted")
	if b := decisionKey("on-rollout-paused", "uid-1", "abc/1", "paused at step 2 until promoted"); a != b {
		t.Fatalf("the same decision got keys %q and %q", a, b)
	}
	for _, other := range []string{
		decisionKey("on-rollout-updated", "uid-1", "abc/1", "paused at step 2 until promoted"),
		decisionKey("on-rollout-paused", "uid-2", "abc/1", "paused at step 2 until promoted"),
		decisionKey("on-rollout-paused", "uid-1", "def/1", "paused at step 2 until promoted"),
		decisionKey("on-rollout-paused", "uid-1", "abc/2", "paused at step 2 until promoted"),
		decisionKey("on-rollout-paused", "uid-1", "abc/1", "paused at step 3 until promoted"),
	} {
		if other == a {
			t.Fatalf("different decisions share the key %q", a)
		}
	}
}

func TestSentRecordRoundTripAndBound(t *testing.T) {
	if got := parseSent("not json"); got != nil {
		t.Fatalf("garbled record parsed as %v", got)
	}
	var keys []string
	for i := 0; i < maxSent+10; i++ {
		keys = withSent(keys, fmt.Sprint("k", i))
	}
	if len(keys) != maxSent || keys[0] != "k10" || keys[maxSent-1] != fmt.Sprint("k", maxSent+9) {
		t.Fatalf("record kept %d keys from %s to %s", len(keys), keys[0], keys[len(keys)-1])
	}
	back := parseSent(formatSent(keys))
	if len(back) != len(keys) || back[5] != keys[5] {
		t.Fatalf("round trip changed the record: %v", back)
	}
	if formatSent(nil) != "[]" {
		t.Fatalf("empty record written as %q", formatSent(nil))
	}
}
