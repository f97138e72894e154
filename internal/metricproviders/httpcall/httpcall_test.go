package httpcall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	for body, want := range map[string]string{
		``:                        "",
		`{"message":"bad token"}`: "bad token",
		`{"error":"Unauthorized","message":"Full authentication is required","status":401}`: "Full authentication is required; Unauthorized",
		`{"errors":["a","b"]}`:                                      "a; b",
		`{"errors":[{"message":"NRQL Syntax Error"}]}`:              "NRQL Syntax Error",
		`{"status":{"result":"ERROR","message":"token not valid"}}`: "token not valid",
		`{"status":"error"}`:                                        "error",
		`<html><body>502</body></html>`:                             "",
		"upstream connect error\n":                                  "upstream connect error",
		strings.Repeat("x", 600):                                    strings.Repeat("x", 512) + "...",
	} {
		if got := Message([]byte(body)); got != want {
			t.Errorf("Message(%.40q) = %q, want %q", body, got, want)
		}
	}
}

func TestRedactKeepsTheCause(t *testing.T) {
	err := fmt.Errorf("call failed with key s3cr3t: %w", context.DeadlineExceeded)
	r := Redact(err, "s3cr3t", "")
	if strings.Contains(r.Error(), "s3cr3t") || !strings.Contains(r.Error(), "[redacted]") {
		t.Errorf("redacted = %q", r)
	}
	if !errors.Is(r, context.DeadlineExceeded) {
		t.Error("the cause is lost")
	}
	if errors.Unwrap(r) != nil {
		t.Error("the unredacted message can be reached by unwrapping")
	}
	if Redact(nil, "x") != nil || Redact(err, "absent") != err {
		t.Error("Redact changed what it had nothing to hide in")
	}
}

func TestBaseURL(t *testing.T) {
	if got, err := BaseURL("x", " http://h:1/p/ "); err != nil || got != "http://h:1/p" {
		t.Errorf("BaseURL = %q, %v", got, err)
	}
	for _, bad := range []string{"h:1", "ftp://h", "http://", ""} {
		if _, err := BaseURL("x", bad); err == nil || !strings.HasPrefix(err.Error(), "x: address") {
			t.Errorf("BaseURL(%q) = %v", bad, err)
		}
	}
	if _, err := BaseURL("", "h:1"); err == nil || err.Error() != `"h:1" is not an http(s) URL` {
		t.Errorf("unnamed BaseURL error = %v", err)
	}
}
