package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// SentAnnotation lists, on a Rollout or AnalysisRun, the decisions already
// announced, so a decision made again (by a restarted controller or a new
// leader whose cache lags behind) is not announced twice.
const SentAnnotation = "notifications.kanaria.dev/sent"

// maxSent bounds the record: a release announces a few dozen decisions at
// most, and only a repeat of a recent decision needs to be recognised.
const maxSent = 64

// decisionKey identifies one decision. The same decision made again gets
// the same key: it depends only on the object, the version being released,
// the step, the trigger and what was decided, never on the clock.
func decisionKey(trigger string, uid types.UID, position, message string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{string(uid), position, trigger, message}, "\x00")))
	return trigger + ":" + hex.EncodeToString(h[:6])
}

// parseSent reads the record; a record someone garbled counts as empty, so
// at worst a decision is announced again.
func parseSent(v string) []string {
	if v == "" {
		return nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(v), &keys); err != nil {
		return nil
	}
	return keys
}

// withSent adds key to the record, dropping the oldest entries beyond
// maxSent.
func withSent(keys []string, key string) []string {
	out := append(slices.Clone(keys), key)
	if len(out) > maxSent {
		out = out[len(out)-maxSent:]
	}
	return out
}

// formatSent writes the record.
func formatSent(keys []string) string {
	if len(keys) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(keys)
	return string(b)
}
