package rollout

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
)

// The event of a version the controller's own writes replaced is left
// out; the written version's event, another Rollout's, and every
// creation and deletion go through.
func TestNotSupersededDropsOnlyReplacedVersions(t *testing.T) {
	var fresh cachefresh.Tracker
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	// A status write on top of 5, then the revision patch on top of 6.
	fresh.Wrote(key, "5", "6")
	fresh.Wrote(key, "6", "7")
	ro := func(name, rv string) *v1alpha1.Rollout {
		return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv}}
	}
	p := notSuperseded(&fresh)
	for _, tc := range []struct {
		name, rv string
		want     bool
	}{
		{"ro", "5", false},
		{"ro", "6", false},
		{"ro", "7", true},
		{"ro", "8", true},
		{"other", "6", true},
	} {
		if got := p.Update(event.UpdateEvent{ObjectOld: ro(tc.name, "4"), ObjectNew: ro(tc.name, tc.rv)}); got != tc.want {
			t.Errorf("update of %s to version %s: passed %v, want %v", tc.name, tc.rv, got, tc.want)
		}
	}
	if !p.Create(event.CreateEvent{Object: ro("ro", "6")}) || !p.Delete(event.DeleteEvent{Object: ro("ro", "6")}) {
		t.Error("creations and deletions must always go through")
	}
}
