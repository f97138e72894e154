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

// UnmarshalJSON decodes a Rollout; one whose spec or status cannot be
// decoded keeps its metadata, the status when that decodes, and the error in
// DecodeError.
func (r *Rollout) UnmarshalJSON(data []byte) error {
	type plain Rollout
	var p plain
	err := json.Unmarshal(data, &p)
	if err == nil {
		*r = Rollout(p)
		return nil
	}
	tm, om, ok := decodeHead(data)
	if !ok {
		return err
	}
	*r = Rollout{TypeMeta: tm, ObjectMeta: om, DecodeError: err.Error()}
	var st struct {
		Status RolloutStatus `json:"status"`
	}
	if json.Unmarshal(data, &st) == nil {
		r.Status = st.Status
	}
	return nil
}

// UnmarshalJSON decodes an AnalysisRun; one whose spec or status cannot be
// decoded keeps its metadata, the status when that decodes, and the error in
// DecodeError.
func (a *AnalysisRun) UnmarshalJSON(data []byte) error {
	type plain AnalysisRun
	var p plain
	err := json.Unmarshal(data, &p)
	if err == nil {
		*a = AnalysisRun(p)
		return nil
	}
	tm, om, ok := decodeHead(data)
	if !ok {
		return err
	}
	*a = AnalysisRun{TypeMeta: tm, ObjectMeta: om, DecodeError: err.Error()}
	var st struct {
		Status AnalysisRunStatus `json:"status"`
	}
	if json.Unmarshal(data, &st) == nil {
		a.Status = st.Status
	}
	return nil
}
