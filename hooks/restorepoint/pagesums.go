package restorepoint

import "github.com/superfly/ltx"

// pageSums holds one value per page number (0: the page was not written),
// in blocks of sumBlockPages allocated when the first page of a block is
// written.
//
// Why not one slice of the snapshot header's commit: the header is only
// proved by the file checksum at the end of the file, and a damaged commit
// (one flipped bit of its top byte claims 2^31 pages) made a restore
// reserve 16 GiB before the damage was found, which the race detector's
// tests then made resident and a laptop cannot even reserve. Blocks follow
// the pages a plan really delivers: 512 KiB per 64 Ki pages (256 MiB of
// database with 4 KiB pages), whatever a header claims.
type pageSums struct {
	blocks [][]ltx.Checksum
}

const sumBlockBits = 16

const sumBlockPages = 1 << sumBlockBits

// set records v for pgno (at least 1).
func (s *pageSums) set(pgno uint32, v ltx.Checksum) {
	i, j := int((pgno-1)>>sumBlockBits), int((pgno-1)&(sumBlockPages-1))
	if i >= len(s.blocks) {
		s.blocks = append(s.blocks, make([][]ltx.Checksum, i+1-len(s.blocks))...)
	}
	b := s.blocks[i]
	if b == nil {
		b = make([]ltx.Checksum, sumBlockPages)
		s.blocks[i] = b
	}
	b[j] = v
}

// get returns what was set for pgno, 0 if nothing was.
func (s *pageSums) get(pgno uint32) ltx.Checksum {
	if pgno == 0 {
		return 0
	}
	i := int((pgno - 1) >> sumBlockBits)
	if i >= len(s.blocks) || s.blocks[i] == nil {
		return 0
	}
	return s.blocks[i][(pgno-1)&(sumBlockPages-1)]
}
