package restorepoint

import (
	"encoding/binary"
	"hash/crc64"
	"sync"
)

// CRC64 (ISO polynomial, as hash/crc64 computes it: reflected, initial
// value and final XOR all ones) of a concatenation from the CRCs of its
// parts, so that the parts can be checksummed on different goroutines.
//
// The CRC register, without the initial and final inversion, is linear
// over GF(2): feeding n zero bytes to it is a 64x64 bit matrix Z^n, and
//
//	crc(A || B) = Z^len(B) · crc(A)  XOR  crc(B)
//
// (the inversions cancel out). As in zlib's crc32_combine, Z^n is built by
// squaring the one-zero-bit operator; here the matrices for 2^k zero bytes
// are built once and crc(A) goes through those for the bits set in len(B).

// gf2Matrix is a 64x64 bit matrix: column i (the image of bit i) is m[i].
type gf2Matrix [64]uint64

// times returns m · v.
func (m *gf2Matrix) times(v uint64) uint64 {
	var r uint64
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			r ^= m[i]
		}
	}
	return r
}

// mul returns m · n (n applied first).
func (m *gf2Matrix) mul(n *gf2Matrix) gf2Matrix {
	var r gf2Matrix
	for i := range r {
		r[i] = m.times(n[i])
	}
	return r
}

// crc64ZeroBytes[k] feeds 2^k zero bytes to the CRC register.
var crc64ZeroBytes = sync.OnceValue(func() *[64]gf2Matrix {
	// One zero bit: shift right, XOR the polynomial when bit 0 falls out.
	var bit gf2Matrix
	bit[0] = crc64.ISO
	for i := 1; i < 64; i++ {
		bit[i] = 1 << (i - 1)
	}
	two := bit.mul(&bit)
	four := two.mul(&two)
	var z [64]gf2Matrix
	z[0] = four.mul(&four)
	for k := 1; k < 64; k++ {
		z[k] = z[k-1].mul(&z[k-1])
	}
	return &z
})

// crc64ShiftMatrix feeds n zero bytes to the CRC register.
func crc64ShiftMatrix(n int64) *gf2Matrix {
	z := crc64ZeroBytes()
	var m gf2Matrix
	for i := range m {
		m[i] = 1 << i
	}
	for k := 0; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			m = z[k].mul(&m)
		}
	}
	return &m
}

// crc64Combine returns the CRC64-ISO of A || B from crc1 = crc(A),
// crc2 = crc(B) and len2 = len(B), with hash/crc64's conventions
// (crc64.Update(0, table, ...)). len2 must not be negative.
func crc64Combine(crc1, crc2 uint64, len2 int64) uint64 {
	z := crc64ZeroBytes()
	for k := 0; len2 != 0; k, len2 = k+1, len2>>1 {
		if len2&1 != 0 {
			crc1 = z[k].times(crc1)
		}
	}
	return crc1 ^ crc2
}

// crc64ISO returns crc64.Update(crc, crc64.MakeTable(crc64.ISO), p),
// faster: the ISO polynomial is P = x^64 + q with q = x^4 + x^3 + x + 1,
// so feeding 64 zero bits to the register (multiplying by x^64 mod P) is
// multiplying by q, four shifts and XORs, and multiplying by
// x^(64·2^k) = q^(2^k) = x^(4·2^k) + x^(3·2^k) + x^(2^k) + 1 likewise
// (squaring is linear over GF(2)). Four lanes each fold every fourth
// 8-byte word with x^256, independent of each other, and are brought
// together at the end; what does not fill 32 bytes goes through the table.
func crc64ISO(crc uint64, p []byte) uint64 {
	if len(p) < 64 {
		return crc64.Update(crc, crcTable, p)
	}
	n := len(p) &^ 31
	// In hash/crc64's reflected order bit 0 holds the highest power of
	// x, so multiplying by x^k shifts right by k.
	a0 := ^crc ^ binary.LittleEndian.Uint64(p)
	a1 := binary.LittleEndian.Uint64(p[8:])
	a2 := binary.LittleEndian.Uint64(p[16:])
	a3 := binary.LittleEndian.Uint64(p[24:])
	for i := 32; i < n; i += 32 {
		b := p[i : i+32 : i+32]
		a0 = mulQ(a0, 4) ^ binary.LittleEndian.Uint64(b)
		a1 = mulQ(a1, 4) ^ binary.LittleEndian.Uint64(b[8:])
		a2 = mulQ(a2, 4) ^ binary.LittleEndian.Uint64(b[16:])
		a3 = mulQ(a3, 4) ^ binary.LittleEndian.Uint64(b[24:])
	}
	r := mulQ(a0, 4) ^ mulQ(mulQ(a1, 2), 1) ^ mulQ(a2, 2) ^ mulQ(a3, 1)
	return crc64.Update(^r, crcTable, p[n:])
}

// mulQ returns a · q^d mod P (d = 1, 2, 4 or 8: multiplying by x^(64·d)),
// in the reflected order.
func mulQ(a uint64, d uint) uint64 {
	lo := a ^ a>>d ^ a>>(3*d) ^ a>>(4*d)
	hi := a<<(64-d) ^ a<<(64-3*d) ^ a<<(64-4*d) // degree < 4d: one more fold
	return lo ^ hi ^ hi>>1 ^ hi>>3 ^ hi>>4
}
