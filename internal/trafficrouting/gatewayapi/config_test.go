package gatewayapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []route
		wantNS  string
		wantErr []string // one ConfigError message fragment each
	}{
		{
			name: "single httpRoute carries header routes",
			raw:  `{"httpRoute":"web","namespace":"edge","configMap":"ignored"}`,
			want: []route{{kind: httpRouteKind, name: "web", headerRoutes: true}}, wantNS: "edge",
		},
		{
			name: "lists and singles of every kind",
			raw: `{"httpRoutes":[{"name":"a","useHeaderRoutes":true},{"name":"b"}],"httpRoute":"c",
				"grpcRoute":"g","grpcRoutes":[{"name":"g2"}],"tcpRoutes":[{"name":"t","useHeaderRoutes":true}],"tlsRoute":"s"}`,
			want: []route{
				{kind: httpRouteKind, name: "a", headerRoutes: true},
				{kind: httpRouteKind, name: "b"},
				{kind: httpRouteKind, name: "c", headerRoutes: true},
				{kind: grpcRouteKind, name: "g2"},
				{kind: grpcRouteKind, name: "g", headerRoutes: true},
				// TCP cannot match headers, whatever the flag says.
				{kind: tcpRouteKind, name: "t"},
				{kind: tlsRouteKind, name: "s"},
			},
		},
		{name: "unknown fields are ignored", raw: `{"tcpRoute":"t","inProgressLabelKey":"x"}`, want: []route{{kind: tcpRouteKind, name: "t"}}},
		{name: "missing", raw: ``, wantErr: []string{"is not set"}},
		{name: "null", raw: `null`, wantErr: []string{"is not set"}},
		{name: "syntax", raw: `{"httpRoute":`, wantErr: []string{"invalid JSON"}},
		{name: "not an object", raw: `["web"]`, wantErr: []string{"must be a JSON object"}},
		{name: "httpRoute not a string", raw: `{"httpRoute":3}`, wantErr: []string{"field httpRoute must be a string, not number"}},
		{name: "httpRoutes not a list", raw: `{"httpRoutes":"web"}`, wantErr: []string{"field httpRoutes must be a list, not string"}},
		{name: "useHeaderRoutes not a bool", raw: `{"httpRoutes":[{"name":"a","useHeaderRoutes":"yes"}]}`, wantErr: []string{"field httpRoutes.useHeaderRoutes must be a boolean, not string"}},
		{name: "namespace not a string", raw: `{"httpRoute":"a","namespace":{}}`, wantErr: []string{"field namespace must be a string, not object"}},
		{name: "no route", raw: `{"namespace":"edge"}`, wantErr: []string{"names no route"}},
		{name: "name missing", raw: `{"httpRoutes":[{"useHeaderRoutes":true}],"grpcRoutes":[{}]}`, wantErr: []string{"httpRoutes[0].name is required", "grpcRoutes[0].name is required"}},
		{name: "named twice", raw: `{"httpRoute":"a","httpRoutes":[{"name":"a"}]}`, wantErr: []string{`HTTPRoute "a" is named twice`}},
		{name: "selector", raw: `{"httpRouteSelector":{"matchLabels":{"a":"b"}}}`, wantErr: []string{"httpRouteSelector is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, ns, err := parseConfig(json.RawMessage(tt.raw))
			if len(tt.wantErr) > 0 {
				ces := trafficrouting.ConfigErrors(err)
				if len(ces) != len(tt.wantErr) {
					t.Fatalf("error = %v, want %d ConfigErrors", err, len(tt.wantErr))
				}
				for i, ce := range ces {
					if ce.Router != "gatewayapi" || !strings.Contains(ce.Msg, tt.wantErr[i]) {
						t.Errorf("error %d = %q, want it to contain %q", i, ce.Msg, tt.wantErr[i])
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if !reflect.DeepEqual(routes, tt.want) || ns != tt.wantNS {
				t.Errorf("got %+v in %q, want %+v in %q", routes, ns, tt.want, tt.wantNS)
			}
		})
	}
}
