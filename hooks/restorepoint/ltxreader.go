package restorepoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"sync/atomic"

	"github.com/pierrec/lz4/v4"
	"github.com/superfly/ltx"
)

// ltxReader reads one LTX file of the block format (every page frame is a
// page header with ltx.PageHeaderFlagSize, the LZ4 block's size as 4 bytes
// big-endian, then the LZ4 block) and proves what ltx.Decoder proves about
// it, faster:
//
//   - the file is read in large chunks (rawChunk) and the page frames are
//     found in place: nothing is allocated per page;
//   - batches of frames (pageBatch, up to batchBytes of pages, all in one
//     chunk) are decompressed on the writer's workers, which also compute
//     the CRC64 of each batch's hashed bytes from zero (decodeBatch);
//   - the pageWriter takes the batches in file order and folds their CRCs
//     into the file's with crc64Combine; the reader adds the header's CRC
//     before them and the end's (the page index and the trailer, less the
//     file checksum) after, and compares with the trailer's file checksum.
//
// What is hashed is exactly what ltx.Decoder hashes: the header, each page
// header, each size, the uncompressed page data, the empty page header that
// ends the pages, then the rest of the file less its last 8 bytes. A file
// whose first page frame has the old format (an LZ4 frame per page, no
// size) is handed to ltx.Decoder instead (errOldFormat, oldFormat).
type ltxReader struct {
	r   io.Reader
	w   *pageWriter
	hb  [ltx.HeaderSize]byte
	hdr ltx.Header
	// trailer is valid after readPages returned nil.
	trailer ltx.Trailer

	c        *rawChunk  // the chunk being parsed, nil before the pages
	pos, end int        // c.buf[pos:end] is read and not yet parsed
	rerr     error      // the error r returned, once it did
	b        *pageBatch // being filled
	old      []byte     // read and unparsed, when errOldFormat
}

// frameHead is a page frame's bytes before its LZ4 block.
const frameHead = ltx.PageHeaderSize + 4

// chunkBytes is how much of a file one chunk holds. A chunk with less
// than a sixteenth of it left is not read into: the bytes not yet parsed
// move to a new one.
const chunkBytes = 4 << 20

// errOldFormat: the file's pages are LZ4 frames, for ltx.Decoder.
var errOldFormat = errors.New("ltx file of the old page format")

var crcTable = crc64.MakeTable(crc64.ISO)

// rawChunk is a buffer of file bytes, shared by the reader and the batches
// whose frames it holds; the last to let go returns it to the pool.
type rawChunk struct {
	buf  []byte
	refs atomic.Int32
	pool chan *rawChunk
}

func (c *rawChunk) release() {
	if c.refs.Add(-1) == 0 {
		c.pool <- c
	}
}

func newLTXReader(r io.Reader, w *pageWriter) *ltxReader {
	return &ltxReader{r: r, w: w}
}

// readHeader reads and validates the header (ltx.Decoder.DecodeHeader).
func (lr *ltxReader) readHeader() error {
	if _, err := io.ReadFull(lr.r, lr.hb[:]); err != nil {
		return err
	}
	if err := lr.hdr.UnmarshalBinary(lr.hb[:]); err != nil {
		return fmt.Errorf("unmarshal header: %w", err)
	}
	return lr.hdr.Validate()
}

// readPages hands every page to the writer, checks the file checksum
// (and, for a snapshot that tracks checksums, the post-apply checksum),
// and leaves the trailer in lr.trailer. A page numbered lockPgno, or
// beyond the header's commit (ltx.Encoder refuses to write either), is an
// error. It returns errOldFormat, having consumed no page, when the first
// page frame is of the old format.
func (lr *ltxReader) readPages(lockPgno uint32) error {
	defer lr.drop()
	pageSize := int(lr.hdr.PageSize)
	blockMax := lz4.CompressBlockBound(pageSize)
	summed := lr.w.sumPages || (lr.hdr.IsSnapshot() && !lr.hdr.NoChecksum())
	var shift *gf2Matrix
	if summed {
		shift = crc64ShiftMatrix(int64(pageSize))
	}
	for first := true; ; first = false {
		if err := lr.fill(ltx.PageHeaderSize); err != nil {
			return fmt.Errorf("read page header: %w", err)
		}
		p := lr.c.buf[lr.pos:lr.end]
		pgno, flags := binary.BigEndian.Uint32(p), binary.BigEndian.Uint16(p[4:])
		switch {
		case pgno == 0 && flags == 0:
			lr.pos += ltx.PageHeaderSize
			return lr.finish()
		case pgno == 0:
			return fmt.Errorf("page number required")
		case flags&^ltx.PageHeaderFlagSize != 0:
			return fmt.Errorf("page %d: invalid page header flags: 0x%04x", pgno, flags)
		case flags&ltx.PageHeaderFlagSize == 0 && first:
			lr.old = bytes.Clone(p)
			return errOldFormat
		case flags&ltx.PageHeaderFlagSize == 0:
			return fmt.Errorf("page %d: an old-format page frame among block-format ones", pgno)
		case pgno == lockPgno:
			return fmt.Errorf("holds the lock page %d", pgno)
		case pgno > lr.hdr.Commit:
			return fmt.Errorf("page %d is beyond the file's commit, %d pages", pgno, lr.hdr.Commit)
		}
		if err := lr.fill(frameHead); err != nil {
			return fmt.Errorf("page %d: read data size: %w", pgno, err)
		}
		size := int(binary.BigEndian.Uint32(lr.c.buf[lr.pos+ltx.PageHeaderSize:]))
		if size == 0 || size > blockMax {
			return fmt.Errorf("page %d: an LZ4 block of %d bytes for a %d-byte page", pgno, size, pageSize)
		}
		if err := lr.fill(frameHead + size); err != nil {
			return fmt.Errorf("page %d: read compressed data: %w", pgno, err)
		}
		if lr.b == nil {
			b, err := lr.w.batch()
			if err != nil {
				return err
			}
			lr.c.refs.Add(1)
			b.raw, b.summed, b.shift = lr.c, summed, shift
			lr.b = b
		}
		b := lr.b
		b.frames[b.n] = uint32(lr.pos)
		b.pgnos[b.n] = pgno
		b.n++
		lr.pos += frameHead + size
		if b.n == b.cap {
			lr.flush()
		}
	}
}

// finish reads the rest of the file after the pages and checks it.
func (lr *ltxReader) finish() error {
	lr.flush()
	// The rest: the page index (pgno, offset, size varints; 0; its size
	// as 8 bytes) and the trailer. Small, even for a large snapshot.
	rest := bytes.Clone(lr.c.buf[lr.pos:lr.end])
	if lr.rerr == nil {
		more, err := io.ReadAll(lr.r)
		if err != nil {
			return fmt.Errorf("read page index: %w", err)
		}
		rest = append(rest, more...)
	} else if lr.rerr != io.EOF {
		return fmt.Errorf("read page index: %w", lr.rerr)
	}
	if len(rest) < ltx.ChecksumSize {
		return fmt.Errorf("read page index: %w", io.ErrUnexpectedEOF)
	}
	n, err := skipPageIndex(rest)
	if err != nil {
		return fmt.Errorf("read page index: %w", err)
	}
	if len(rest)-n < ltx.TrailerSize {
		return fmt.Errorf("read trailer: %w", io.ErrUnexpectedEOF)
	}
	if err := lr.trailer.UnmarshalBinary(rest[n:]); err != nil {
		return fmt.Errorf("unmarshal trailer: %w", err)
	}

	sums, err := lr.w.fileSums()
	if err != nil {
		return err
	}
	crc := crc64.Update(0, crcTable, lr.hb[:])
	crc = crc64Combine(crc, sums.crc, sums.hashed)
	var end [ltx.PageHeaderSize]byte
	crc = crc64.Update(crc, crcTable, end[:])
	crc = crc64ISO(crc, rest[:len(rest)-ltx.ChecksumSize])
	if ltx.ChecksumFlag|ltx.Checksum(crc) != lr.trailer.FileChecksum {
		return ltx.ErrChecksumMismatch
	}
	if lr.hdr.IsSnapshot() && !lr.hdr.NoChecksum() {
		if sum := ltx.ChecksumFlag | sums.xor; sum != lr.trailer.PostApplyChecksum {
			return fmt.Errorf("post-apply checksum in trailer (%s) does not match calculated checksum (%s)", lr.trailer.PostApplyChecksum, sum)
		}
	}
	return nil
}

// skipPageIndex returns the length of the page index at the start of b.
func skipPageIndex(b []byte) (int, error) {
	off := 0
	for {
		pgno, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, fmt.Errorf("page number at byte %d: %w", off, varintErr(n))
		}
		off += n
		if pgno == 0 {
			break
		}
		for range 2 { // offset, size
			_, n := binary.Uvarint(b[off:])
			if n <= 0 {
				return 0, fmt.Errorf("page %d's entry at byte %d: %w", pgno, off, varintErr(n))
			}
			off += n
		}
	}
	if len(b)-off < 8 {
		return 0, fmt.Errorf("size: %w", io.ErrUnexpectedEOF)
	}
	return off + 8, nil
}

func varintErr(n int) error {
	if n == 0 {
		return io.ErrUnexpectedEOF
	}
	return errors.New("varint overflows a 64-bit integer")
}

// fill makes sure need bytes are read and unparsed, moving to a new chunk
// (and sending the batch being filled, which refers to the old one) when
// the current one has too little room.
func (lr *ltxReader) fill(need int) error {
	for lr.end-lr.pos < need {
		if lr.rerr != nil {
			if lr.rerr == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return lr.rerr
		}
		if lr.c == nil || lr.pos+need > len(lr.c.buf) || len(lr.c.buf)-lr.end < len(lr.c.buf)/16 {
			if err := lr.newChunk(); err != nil {
				return err
			}
		}
		n, err := lr.r.Read(lr.c.buf[lr.end:])
		lr.end += n
		if err != nil {
			lr.rerr = err
		}
	}
	return nil
}

func (lr *ltxReader) newChunk() error {
	lr.flush()
	c, err := lr.w.chunk()
	if err != nil {
		return err
	}
	c.refs.Store(1)
	n := 0
	if lr.c != nil {
		n = copy(c.buf, lr.c.buf[lr.pos:lr.end])
		lr.c.release()
	}
	lr.c, lr.pos, lr.end = c, 0, n
	return nil
}

// flush sends the batch being filled to the workers and the writer.
func (lr *ltxReader) flush() {
	if lr.b != nil {
		lr.w.dispatch(lr.b)
		lr.b = nil
	}
}

// drop lets go of the chunk and of a batch not sent (after an error).
func (lr *ltxReader) drop() {
	if lr.b != nil {
		lr.w.discard(lr.b)
		lr.b = nil
	}
	if lr.c != nil {
		lr.c.release()
		lr.c = nil
	}
}

// oldFormat returns an ltx.Decoder for the whole file, after readPages
// returned errOldFormat, with its header decoded.
func (lr *ltxReader) oldFormat() (*ltx.Decoder, error) {
	rest := lr.r
	if lr.rerr != nil {
		rest = errReader{lr.rerr}
	}
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(lr.hb[:]), bytes.NewReader(lr.old), rest), 1<<20)
	dec := ltx.NewDecoder(r)
	return dec, dec.DecodeHeader()
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// decodeBatch decompresses b's frames into its pages and computes the CRC64
// of what the file checksum covers of them (page header, size, page data),
// from zero, and when b.summed each page's checksum (ltx.ChecksumPage)
// without a second pass over the data: with d = crc(data),
// crc(x || data) = Z^pageSize · crc(x) XOR d (see crc64Combine).
func decodeBatch(b *pageBatch) {
	defer close(b.done)
	buf := b.raw.buf
	var crc uint64
	for i := 0; i < b.n; i++ {
		off := int(b.frames[i])
		size := int(binary.BigEndian.Uint32(buf[off+ltx.PageHeaderSize:]))
		page := b.page(i)
		n, err := lz4.UncompressBlock(buf[off+frameHead:off+frameHead+size], page)
		if err == nil && n != len(page) {
			err = fmt.Errorf("%d bytes, not %d", n, len(page))
		}
		if err != nil {
			b.err = fmt.Errorf("page %d: decompress block: %w", b.pgnos[i], err)
			break
		}
		if !b.summed {
			crc = crc64.Update(crc, crcTable, buf[off:off+frameHead])
			crc = crc64ISO(crc, page)
			continue
		}
		d := crc64ISO(0, page)
		crc = b.shift.times(crc64.Update(crc, crcTable, buf[off:off+frameHead])) ^ d
		sum := ltx.ChecksumFlag | ltx.Checksum(b.shift.times(crc64.Update(0, crcTable, buf[off:off+4]))^d)
		b.sums[i] = sum
		b.xor ^= sum
	}
	b.crc, b.hashed = crc, int64(b.n)*int64(frameHead+b.size)
	b.raw.release()
	b.raw = nil
}
