package metricproviders

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// PluginConfig returns the configuration a metric holds for Kanaria's own
// provider name in its open plugin map.
func PluginConfig(req Request, name string) (json.RawMessage, error) {
	raw, ok := req.Metric.Provider.Plugin[name]
	if !ok {
		return nil, fmt.Errorf("%s: metric has no %s plugin configuration", name, name)
	}
	return raw, nil
}

// DecodeStrict decodes a plugin configuration into v, refusing fields v
// does not declare: the plugin map is free JSON to the API server, so a
// misspelt field would otherwise be dropped without a word.
func DecodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ParsePlugin decodes the plugin configuration of Kanaria's provider name
// strictly into a new T and checks it with validate, so every provider
// reports a bad configuration the same way, prefixed by its name.
func ParsePlugin[T any](name string, raw json.RawMessage, validate func(*T) error) (*T, error) {
	c := new(T)
	if err := DecodeStrict(raw, c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := validate(c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}
