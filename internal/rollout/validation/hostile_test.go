package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestEphemeralMetadataKeysMustFitPods(t *testing.T) {
	for _, tc := range []struct {
		m    v1alpha1.PodTemplateMetadata
		want string
	}{
		{v1alpha1.PodTemplateMetadata{Labels: map[string]string{"bad key": "x"}}, "canaryMetadata.labels"},
		{v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "not a valid value!"}}, "canaryMetadata.labels"},
		{v1alpha1.PodTemplateMetadata{Annotations: map[string]string{"/nope": "x"}}, "canaryMetadata.annotations[/nope]"},
	} {
		errs := validateEphemeralMetadata(&tc.m, field.NewPath("spec").Child("canaryMetadata"))
		if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%+v: errors %v, want one naming %s", tc.m, errs, tc.want)
		}
	}
	ok := v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary", "example.com/tier": "web"}, Annotations: map[string]string{"example.com/note": "any value at all"}}
	if errs := validateEphemeralMetadata(&ok, field.NewPath("spec")); len(errs) != 0 {
		t.Errorf("valid metadata refused: %v", errs)
	}
}

func TestDecodeErrorNamesTheField(t *testing.T) {
	ro := &v1alpha1.Rollout{DecodeError: "json: cannot unmarshal number 99999999999 into Go struct field CanaryStep.spec.strategy.canary.steps.setWeight of type int32"}
	errs := Spec(ro)
	if len(errs) != 1 || errs[0].Field != "spec.strategy.canary.steps.setWeight" || !strings.Contains(errs[0].Error(), "cannot be read") {
		t.Fatalf("errors %v", errs)
	}
	odd := DecodeError("unexpected end of JSON input")
	if odd.Field != "spec" || !strings.Contains(odd.Error(), "unexpected end") {
		t.Errorf("an error without a field: %v", odd)
	}
}
