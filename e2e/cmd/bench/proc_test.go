package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    float64
		wantErr string
	}{
		{"usual", "Name:\ttraefik\nVmPeak:\t 2175708 kB\nVmRSS:\t  148848 kB\nRssAnon:\t 100 kB\n", 148848.0 / 1024, ""},
		{"first line", "VmRSS: 1024 kB", 1, ""},
		{"missing", "Name:\tzombie\nState:\tZ (zombie)\n", 0, "no VmRSS"},
		{"other unit", "VmRSS:\t 12 MB\n", 0, "unexpected VmRSS"},
		{"not a number", "VmRSS:\t lots kB\n", 0, "unexpected VmRSS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS(tc.status)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%v %v, want %v", got, err, tc.want)
			}
		})
	}
}

// The test binary itself is resident: between 1 MiB and 1 GiB.
func TestResidentMiB(t *testing.T) {
	got, err := residentMiB(os.Getpid())
	if err != nil || got < 1 || got > 1024 {
		t.Fatalf("%v %v", got, err)
	}
}
