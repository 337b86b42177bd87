package restorepoint

import (
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// crc64Combine over any split of a buffer equals hash/crc64 over the whole.
func TestCRC64Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		name  string
		size  int
		parts int
	}{
		{"empty", 0, 1},
		{"one byte, two parts", 1, 2},
		{"small", 37, 3},
		{"page frames", 10*4106 + 17, 10},
		{"odd", 99991, 7},
		{"many empty parts", 300, 40},
		{"large", 3 << 20, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < 20; round++ {
				b := randomBytes(r, tc.size)
				want := crc64.Checksum(b, crcTable)
				cuts := []int{0, tc.size}
				for range tc.parts - 1 {
					cuts = append(cuts, r.IntN(tc.size+1))
				}
				sortInts(cuts)
				var got uint64
				for i := 1; i < len(cuts); i++ {
					part := b[cuts[i-1]:cuts[i]]
					got = crc64Combine(got, crc64.Checksum(part, crcTable), int64(len(part)))
				}
				if got != want {
					t.Fatalf("cuts %v: combined %016x, hash/crc64 %016x", cuts, got, want)
				}
			}
		})
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// crc64ShiftMatrix(n) applied to crc(A) is crc(A || B) XOR crc(B), len(B) = n.
func TestCRC64ShiftMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{0, 1, 4, 10, 512, 4096, 65536, 100003} {
		a, b := randomBytes(r, 1+r.IntN(100)), randomBytes(r, n)
		got := crc64ShiftMatrix(int64(n)).times(crc64.Checksum(a, crcTable)) ^ crc64.Checksum(b, crcTable)
		if want := crc64.Checksum(append(a, b...), crcTable); got != want {
			t.Fatalf("n=%d: %016x, want %016x", n, got, want)
		}
	}
}

// crc64ISO equals crc64.Update for every length around its 32-byte
// blocks and from any running CRC.
func TestCRC64ISO(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name     string
		min, max int
	}{
		{"short", 0, 70},
		{"blocks", 60, 300},
		{"pages", 4090, 4110},
		{"large", 1 << 16, 1<<16 + 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := tc.min; n <= tc.max; n++ {
				b := randomBytes(r, n)
				for _, c := range []uint64{0, ^uint64(0), r.Uint64()} {
					if got, want := crc64ISO(c, b), crc64.Update(c, crcTable, b); got != want {
						t.Fatalf("n=%d crc=%016x: %016x, want %016x", n, c, got, want)
					}
				}
			}
		})
	}
}

func BenchmarkCRC64(b *testing.B) {
	p := randomBytes(rand.New(rand.NewPCG(1, 1)), 4096)
	b.Run("hash/crc64", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc64.Update(0, crcTable, p)
		}
	})
	b.Run("crc64ISO", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc64ISO(0, p)
		}
	})
}
