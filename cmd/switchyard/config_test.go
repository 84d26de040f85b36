package main

import (
	"strings"
	"testing"
)

const minimalConfig = `
admin:
  tokens:
    - {name: sre, token: "0123456789", role: admin}
`

func TestChangePriority(t *testing.T) {
	for _, tc := range []struct {
		yaml, want, err string
	}{
		{"", "idle", ""},
		{"  change_priority: idle\n", "idle", ""},
		{"  change_priority: paced\n", "paced", ""},
		{"  change_priority: nice\n", "", `admin.change_priority: "nice"; want idle or paced`},
	} {
		c, err := parseConfig([]byte(minimalConfig + tc.yaml))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v; want an error saying %s", tc.yaml, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case c.Admin.ChangePriority != tc.want:
			t.Errorf("%q: change_priority %q; want %q", tc.yaml, c.Admin.ChangePriority, tc.want)
		}
	}
}
