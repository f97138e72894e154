package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestInstanceSelector(t *testing.T) {
	unlabelled := labels.Set{"app": "web"}
	a := labels.Set{"app": "web", v1alpha1.LabelKeyControllerInstanceID: "a"}
	b := labels.Set{"app": "web", v1alpha1.LabelKeyControllerInstanceID: "b"}
	for _, tc := range []struct {
		id                 string
		unlabelled, aa, bb bool
	}{
		{id: "", unlabelled: true},
		{id: "a", aa: true},
		{id: "b", bb: true},
	} {
		sel, err := InstanceSelector(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Matches(unlabelled) != tc.unlabelled || sel.Matches(a) != tc.aa || sel.Matches(b) != tc.bb {
			t.Fatalf("instance %q: unlabelled %v, a %v, b %v; want %v %v %v", tc.id,
				sel.Matches(unlabelled), sel.Matches(a), sel.Matches(b), tc.unlabelled, tc.aa, tc.bb)
		}
	}
	o := DefaultOptions()
	o.InstanceID = "not a label value"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "instance-id") {
		t.Fatalf("Validate() = %v, want an error about instance-id", err)
	}
}
