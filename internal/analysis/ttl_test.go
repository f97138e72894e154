package analysis

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestTTLStrategyPicksTheSecondsOfTheOutcome checks which of the three
// ttlStrategy fields decides when a completed run is deleted.
func TestTTLStrategyPicksTheSecondsOfTheOutcome(t *testing.T) {
	i := func(v int32) *int32 { return &v }
	cases := map[string]struct {
		ttl      v1alpha1.TTLStrategy
		phase    v1alpha1.AnalysisPhase
		wantWait time.Duration // zero: deleted now
		kept     bool          // no field applies: kept for ever
	}{
		"success uses secondsAfterSuccess":    {v1alpha1.TTLStrategy{SecondsAfterCompletion: i(100), SecondsAfterSuccess: i(30)}, v1alpha1.AnalysisPhaseSuccessful, 20 * time.Second, false},
		"failure uses secondsAfterFailure":    {v1alpha1.TTLStrategy{SecondsAfterCompletion: i(100), SecondsAfterFailure: i(5)}, v1alpha1.AnalysisPhaseFailed, 0, false},
		"otherwise secondsAfterCompletion":    {v1alpha1.TTLStrategy{SecondsAfterCompletion: i(60), SecondsAfterFailure: i(5)}, v1alpha1.AnalysisPhaseSuccessful, 50 * time.Second, false},
		"nothing for this outcome keeps it":   {v1alpha1.TTLStrategy{SecondsAfterSuccess: i(5)}, v1alpha1.AnalysisPhaseError, 0, true},
		"an error counts as not a success":    {v1alpha1.TTLStrategy{SecondsAfterFailure: i(1)}, v1alpha1.AnalysisPhaseError, 0, false},
		"completion alone applies to failure": {v1alpha1.TTLStrategy{SecondsAfterCompletion: i(8)}, v1alpha1.AnalysisPhaseFailed, 0, false},
	}
	completed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := completed.Add(10 * time.Second)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := v1alpha1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			ttl := tc.ttl
			run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run"},
				Spec:   v1alpha1.AnalysisRunSpec{TTLStrategy: &ttl},
				Status: v1alpha1.AnalysisRunStatus{Phase: tc.phase, CompletedAt: &metav1.Time{Time: completed}}}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(run.DeepCopy()).Build()
			r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(10)}
			res, err := r.expire(context.Background(), run, now)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Get(context.Background(), client.ObjectKeyFromObject(run), &v1alpha1.AnalysisRun{})
			gone := apierrors.IsNotFound(err)
			switch {
			case tc.kept || tc.wantWait > 0:
				if gone || res.RequeueAfter != tc.wantWait {
					t.Errorf("deleted %v, requeue after %s; want kept, requeue after %s", gone, res.RequeueAfter, tc.wantWait)
				}
			default:
				if !gone {
					t.Errorf("the run was not deleted (%v)", err)
				}
			}
		})
	}
}
