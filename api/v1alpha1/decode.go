package v1alpha1

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server stores whatever its schema admits, and the schemas leave
// the Pod template and a few maps open. A value there that these Go types
// cannot hold would make every list of the kind fail to decode, and with it
// the controller's whole cache of that kind. These decoders fall back to
// what can be read and keep the error on the object instead.

// decodeHead reads the part of every object that always decodes.
func decodeHead(data []byte) (metav1.TypeMeta, metav1.ObjectMeta, bool) {
	var head struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata,omitempty"`
	}
	if json.Unmarshal(data, &head) != nil {
		return metav1.TypeMeta{}, metav1.ObjectMeta{}, false
	}
	return head.TypeMeta, head.ObjectMeta, true
}

// decodeLenient decodes data into whole, a pointer to a method-less copy of
// the kind's type so that the kind's own UnmarshalJSON is not called again.
// When that fails but the metadata decodes, partial receives the metadata,
// the error and the status (empty unless it decodes on its own), and the
// object is built from them instead of failing.
func decodeLenient[T, S any](data []byte, whole *T, partial func(metav1.TypeMeta, metav1.ObjectMeta, string, S)) error {
	var fresh T
	err := json.Unmarshal(data, &fresh)
	if err == nil {
		*whole = fresh
		return nil
	}
	tm, om, ok := decodeHead(data)
	if !ok {
		return err
	}
	var st struct {
		Status S `json:"status"`
	}
	if json.Unmarshal(data, &st) != nil {
		var empty S
		st.Status = empty
	}
	partial(tm, om, err.Error(), st.Status)
	return nil
}

// UnmarshalJSON decodes a Rollout; one whose spec or status cannot be
// decoded keeps its metadata, the status when that decodes, and the error in
// DecodeError.
func (r *Rollout) UnmarshalJSON(data []byte) error {
	type plain Rollout
	return decodeLenient(data, (*plain)(r), func(tm metav1.TypeMeta, om metav1.ObjectMeta, msg string, st RolloutStatus) {
		*r = Rollout{TypeMeta: tm, ObjectMeta: om, Status: st, DecodeError: msg}
	})
}

// UnmarshalJSON decodes an AnalysisRun; one whose spec or status cannot be
// decoded keeps its metadata, the status when that decodes, and the error in
// DecodeError.
func (a *AnalysisRun) UnmarshalJSON(data []byte) error {
	type plain AnalysisRun
	return decodeLenient(data, (*plain)(a), func(tm metav1.TypeMeta, om metav1.ObjectMeta, msg string, st AnalysisRunStatus) {
		*a = AnalysisRun{TypeMeta: tm, ObjectMeta: om, Status: st, DecodeError: msg}
	})
}

// UnmarshalJSON decodes an Experiment; one whose spec or status cannot be
// decoded keeps its metadata, the status when that decodes, and the error in
// DecodeError.
func (e *Experiment) UnmarshalJSON(data []byte) error {
	type plain Experiment
	return decodeLenient(data, (*plain)(e), func(tm metav1.TypeMeta, om metav1.ObjectMeta, msg string, st ExperimentStatus) {
		*e = Experiment{TypeMeta: tm, ObjectMeta: om, Status: st, DecodeError: msg}
	})
}
