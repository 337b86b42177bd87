package restorepoint

import (
	"math"
	"runtime"
	"testing"

	"github.com/superfly/ltx"
)

func TestPageSums(t *testing.T) {
	tests := []struct {
		name  string
		pgnos []uint32
		// unset: page numbers that must read 0.
		unset []uint32
	}{
		{"first pages", []uint32{1, 2, 3}, []uint32{0, 4, sumBlockPages}},
		{"both sides of a block edge", []uint32{sumBlockPages, sumBlockPages + 1}, []uint32{sumBlockPages - 1, sumBlockPages + 2, 1}},
		{"sparse, out of order", []uint32{5 * sumBlockPages, 7, 3*sumBlockPages + 9}, []uint32{8, 2 * sumBlockPages, 6 * sumBlockPages}},
		{"the largest page number", []uint32{math.MaxUint32, 1}, []uint32{math.MaxUint32 - 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s pageSums
			for i, p := range tc.pgnos {
				s.set(p, ltx.Checksum(i+10))
			}
			for i, p := range tc.pgnos {
				if got := s.get(p); got != ltx.Checksum(i+10) {
					t.Errorf("page %d: %d, want %d", p, got, i+10)
				}
			}
			for _, p := range tc.unset {
				if got := s.get(p); got != 0 {
					t.Errorf("page %d was not set but reads %d", p, got)
				}
			}
		})
	}
}

// A page number near 2^32 costs the block it falls in and the list of
// blocks (1.5 MiB), not a slice of 2^32 entries (32 GiB).
func TestPageSumsMemoryFollowsPagesWritten(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var s pageSums
	s.set(math.MaxUint32, present)
	s.set(1, present)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("two pages cost %d bytes", n)
	}
}
