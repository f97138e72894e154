package statuspatch

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestGuardedCarriesOnlyTheChangeAndTheResourceVersion(t *testing.T) {
	type status struct {
		Phase   string `json:"phase,omitempty"`
		Message string `json:"message,omitempty"`
		Count   int    `json:"count"`
	}
	body, err := Guarded("42", status{Phase: "Running", Message: "old", Count: 3}, status{Phase: "Running", Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"metadata": map[string]any{"resourceVersion": "42"},
		"status":   map[string]any{"message": nil, "count": float64(4)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("patch %s, want %v", body, want)
	}
}
