package restorepoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/benbjohnson/litestream"
	lsfile "github.com/benbjohnson/litestream/file"
	"github.com/pierrec/lz4/v4"
	"github.com/superfly/ltx"
)

type ltxPage struct {
	pgno uint32
	data []byte
}

// pageData is a page of random bytes (incompressible), of text-like
// repetitive bytes (compressible) or of zeros.
func pageData(r *rand.Rand, size int, kind string) []byte {
	b := make([]byte, size)
	switch kind {
	case "random":
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	case "text":
		words := []string{"berth ", "litestream ", "restore ", "page ", "checksum ", "\n"}
		for i := 0; i < size; {
			i += copy(b[i:], words[r.IntN(len(words))])
		}
	}
	return b
}

// ltxFile is an LTX file made with ltx.Encoder.
type ltxFile struct {
	name     string
	pageSize uint32
	snapshot bool
	noSum    bool
	pgnos    []uint32
	kinds    []string // per page, cycled
}

func (f ltxFile) encode(t *testing.T, r *rand.Rand) ([]byte, []ltxPage) {
	t.Helper()
	commit := uint32(0)
	for _, p := range f.pgnos {
		commit = max(commit, p)
	}
	hdr := ltx.Header{Version: ltx.Version, PageSize: f.pageSize, Commit: commit + 3, MinTXID: 5, MaxTXID: 9, Timestamp: 1700000000000}
	if f.snapshot {
		hdr.MinTXID, hdr.Commit = 1, commit
	}
	if f.noSum {
		hdr.Flags = ltx.HeaderFlagNoChecksum
	} else if !f.snapshot {
		hdr.PreApplyChecksum = ltx.ChecksumFlag | 0x1234
	}
	var buf bytes.Buffer
	enc, err := ltx.NewEncoder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeHeader(hdr); err != nil {
		t.Fatal(err)
	}
	var pages []ltxPage
	post := ltx.ChecksumFlag
	for i, pgno := range f.pgnos {
		data := pageData(r, int(f.pageSize), f.kinds[i%len(f.kinds)])
		if err := enc.EncodePage(ltx.PageHeader{Pgno: pgno}, data); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, ltxPage{pgno, data})
		post ^= ltx.ChecksumPage(pgno, data)
	}
	if !f.noSum {
		enc.SetPostApplyChecksum(ltx.ChecksumFlag | post)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), pages
}

func seq(from, to uint32) []uint32 {
	var s []uint32
	for p := from; p <= to; p++ {
		s = append(s, p)
	}
	return s
}

// decoded is what a reader made of a file.
type decoded struct {
	hdr     ltx.Header
	pages   []ltxPage
	trailer ltx.Trailer
	sums    *pageSums
	err     error
}

// decodeLTX reads data with ltx.Decoder (which panics on some truncated
// files: that is an error too).
func decodeLTX(data []byte) (d decoded) {
	defer func() {
		if p := recover(); p != nil {
			d.err = fmt.Errorf("panic: %v", p)
		}
	}()
	dec := ltx.NewDecoder(bytes.NewReader(data))
	if d.err = dec.DecodeHeader(); d.err != nil {
		return d
	}
	d.hdr = dec.Header()
	for {
		var ph ltx.PageHeader
		buf := make([]byte, d.hdr.PageSize)
		if err := dec.DecodePage(&ph, buf); err == io.EOF {
			break
		} else if err != nil {
			d.err = err
			return d
		}
		d.pages = append(d.pages, ltxPage{ph.Pgno, buf})
	}
	d.err = dec.Close()
	d.trailer = dec.Trailer()
	return d
}

type readOpts struct {
	wrap       func(io.Reader) io.Reader
	batchPages int
	chunkSize  int
}

// readLTX reads data as applyPlan does (readHeader, readFile), through a
// pageWriter that keeps the pages instead of writing them.
func readLTX(data []byte, o readOpts) (d decoded) {
	var r io.Reader = bytes.NewReader(data)
	if o.wrap != nil {
		r = o.wrap(r)
	}
	w := newPageWriter(context.Background(), nil)
	w.batchPages, w.chunkSize = o.batchPages, o.chunkSize
	w.put = func(b *pageBatch) error {
		for i := 0; i < b.n; i++ {
			d.pages = append(d.pages, ltxPage{b.pgnos[i], bytes.Clone(b.page(i))})
		}
		return nil
	}
	lr := newLTXReader(r, w)
	if d.err = lr.readHeader(); d.err != nil {
		return d
	}
	d.hdr = lr.hdr
	w.start(d.hdr.PageSize, !d.hdr.NoChecksum())
	d.trailer, d.err = readFile(lr, w, d.hdr.LockPgno())
	sums, err := w.finish()
	if d.err == nil {
		d.err = err
	}
	d.sums = sums
	return d
}

var readers = []struct {
	name string
	o    readOpts
}{
	{"whole reads", readOpts{}},
	{"one byte reads, small chunks and batches", readOpts{wrap: iotest.OneByteReader, batchPages: 3, chunkSize: 1}},
	{"half reads, small chunks", readOpts{wrap: iotest.HalfReader, chunkSize: 20000}},
	{"EOF with the data, batches of one", readOpts{wrap: iotest.DataErrReader, batchPages: 1}},
}

var files = []ltxFile{
	{name: "snapshot 4096 mixed", pageSize: 4096, snapshot: true, noSum: true, pgnos: seq(1, 40), kinds: []string{"random", "text", "zero"}},
	{name: "snapshot 4096 tracked", pageSize: 4096, snapshot: true, pgnos: seq(1, 25), kinds: []string{"text", "random"}},
	{name: "snapshot 512 incompressible", pageSize: 512, snapshot: true, noSum: true, pgnos: seq(1, 300), kinds: []string{"random"}},
	{name: "snapshot 65536", pageSize: 65536, snapshot: true, pgnos: seq(1, 12), kinds: []string{"random", "zero", "text"}},
	{name: "incremental 4096", pageSize: 4096, noSum: true, pgnos: []uint32{2, 3, 7, 8, 9, 100, 101, 500}, kinds: []string{"text", "random"}},
	{name: "incremental 1024 tracked", pageSize: 1024, pgnos: []uint32{1, 5, 6, 7, 900}, kinds: []string{"zero", "random", "text"}},
	{name: "incremental 65536 one page", pageSize: 65536, noSum: true, pgnos: []uint32{3}, kinds: []string{"random"}},
	{name: "incremental 8192 compressible", pageSize: 8192, noSum: true, pgnos: seq(10, 90), kinds: []string{"zero", "text"}},
}

// The reader yields the pages, header, trailer and verdict ltx.Decoder
// does, and the page checksums ltx.ChecksumPage does.
func TestLTXReaderMatchesDecoder(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for _, f := range files {
		data, pages := f.encode(t, r)
		want := decodeLTX(data)
		if want.err != nil {
			t.Fatalf("%s: ltx.Decoder: %v", f.name, want.err)
		}
		for _, rd := range readers {
			t.Run(f.name+"/"+rd.name, func(t *testing.T) {
				got := readLTX(data, rd.o)
				if got.err != nil {
					t.Fatal(got.err)
				}
				if got.hdr != want.hdr || got.trailer != want.trailer {
					t.Fatalf("header/trailer %+v %+v, ltx.Decoder %+v %+v", got.hdr, got.trailer, want.hdr, want.trailer)
				}
				if len(got.pages) != len(want.pages) || len(got.pages) != len(pages) {
					t.Fatalf("%d pages, ltx.Decoder %d, encoded %d", len(got.pages), len(want.pages), len(pages))
				}
				for i := range got.pages {
					if got.pages[i].pgno != want.pages[i].pgno || !bytes.Equal(got.pages[i].data, want.pages[i].data) || !bytes.Equal(got.pages[i].data, pages[i].data) {
						t.Fatalf("page %d (pgno %d) differs", i, got.pages[i].pgno)
					}
					if !f.noSum {
						if s, w := got.sums.get(pages[i].pgno), ltx.ChecksumPage(pages[i].pgno, pages[i].data); s != w {
							t.Fatalf("page %d checksum %s, ltx %s", pages[i].pgno, s, w)
						}
					}
				}
			})
		}
	}
}

// A file of the old format (an LZ4 frame per page, no size) goes to
// ltx.Decoder, with the same result.
func TestLTXReaderOldFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const pageSize = 4096
	hdr := ltx.Header{Version: ltx.Version, Flags: ltx.HeaderFlagNoChecksum, PageSize: pageSize, Commit: 6, MinTXID: 1, MaxTXID: 1, Timestamp: 1}
	h := crc64.New(crcTable)
	var buf bytes.Buffer
	out := io.MultiWriter(&buf, h)
	hb, _ := hdr.MarshalBinary()
	out.Write(hb)
	for pgno := uint32(1); pgno <= hdr.Commit; pgno++ {
		data := pageData(r, pageSize, []string{"random", "text"}[pgno%2])
		ph, _ := (&ltx.PageHeader{Pgno: pgno}).MarshalBinary()
		out.Write(ph)
		zw := lz4.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		h.Write(data)
	}
	out.Write(make([]byte, ltx.PageHeaderSize))
	index := binary.AppendUvarint(nil, 0)
	index = binary.BigEndian.AppendUint64(index, uint64(len(index)))
	out.Write(index)
	out.Write(make([]byte, 8)) // post-apply checksum
	binary.Write(&buf, binary.BigEndian, ltx.ChecksumFlag|ltx.Checksum(h.Sum64()))
	data := buf.Bytes()

	want := decodeLTX(data)
	if want.err != nil {
		t.Fatalf("ltx.Decoder: %v", want.err)
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			got := readLTX(data, rd.o)
			if got.err != nil || len(got.pages) != len(want.pages) || got.trailer != want.trailer {
				t.Fatalf("%v: %d pages, ltx.Decoder %d", got.err, len(got.pages), len(want.pages))
			}
			for i := range got.pages {
				if got.pages[i].pgno != want.pages[i].pgno || !bytes.Equal(got.pages[i].data, want.pages[i].data) {
					t.Fatalf("page %d differs", i)
				}
			}
		})
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	if got := readLTX(bad, readOpts{}); got.err == nil {
		t.Fatal("a damaged old-format file read without an error")
	}
}

// A flipped byte anywhere in a file is an error: the header, a page
// header, a size, the LZ4 data, the page index, the trailer. (A flip in
// compressed data could in principle decode to the same page, through
// another match offset over equal bytes; that would be harmless, and is
// reported, not failed.)
func TestLTXReaderDetectsEveryFlippedByte(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, f := range []ltxFile{
		{name: "snapshot incompressible", pageSize: 512, snapshot: true, noSum: true, pgnos: seq(1, 4), kinds: []string{"random"}},
		{name: "snapshot tracked mixed", pageSize: 512, snapshot: true, pgnos: seq(1, 5), kinds: []string{"random", "text", "zero"}},
		{name: "incremental mixed", pageSize: 1024, noSum: true, pgnos: []uint32{3, 4, 9}, kinds: []string{"text", "random", "zero"}},
	} {
		t.Run(f.name, func(t *testing.T) {
			data, pages := f.encode(t, r)
			same := 0
			for i := range data {
				for _, mask := range []byte{0x01, 0x80} {
					bad := bytes.Clone(data)
					bad[i] ^= mask
					got := readLTX(bad, readOpts{batchPages: 2, chunkSize: 4096})
					if got.err != nil {
						continue
					}
					if !samePages(got.pages, pages) || i < ltx.HeaderSize || i >= len(data)-ltx.TrailerSize {
						t.Fatalf("byte %d of %d ^ %#x: no error", i, len(data), mask)
					}
					same++
				}
			}
			if same > 0 {
				t.Logf("%d flips in LZ4 data decoded to the same pages", same)
			}
		})
	}
}

func samePages(a, b []ltxPage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].pgno != b[i].pgno || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

// A truncated file is an error, never a panic.
func TestLTXReaderTruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	f := ltxFile{name: "snapshot", pageSize: 512, snapshot: true, pgnos: seq(1, 6), kinds: []string{"random", "text"}}
	data, _ := f.encode(t, r)
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			o := rd.o
			o.chunkSize = min(max(o.chunkSize, 1), 4096)
			o.batchPages = min(max(o.batchPages, 1), 4)
			for n := 0; n < len(data); n++ {
				if got := readLTX(data[:n], o); got.err == nil {
					t.Fatalf("%d of %d bytes: no error", n, len(data))
				}
			}
		})
	}
	// Bytes after the trailer change what the file checksum covers.
	if got := readLTX(append(bytes.Clone(data), 0), readOpts{}); got.err == nil {
		t.Fatal("a byte after the trailer: no error")
	}
}

// The lock page, a page beyond the header's commit and an invalid page
// header are refused before anything is written.
func TestLTXReaderRefusesBadPages(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	lock := ltx.LockPgno(65536)
	f := ltxFile{name: "near the lock page", pageSize: 65536, noSum: true, pgnos: []uint32{lock - 1, lock + 1}, kinds: []string{"text"}}
	data, _ := f.encode(t, r)
	frame := ltx.HeaderSize // the first page frame
	for _, tc := range []struct {
		name  string
		patch func(b []byte)
		want  string
	}{
		{"lock page", func(b []byte) { binary.BigEndian.PutUint32(b[frame:], lock) }, "lock page"},
		{"beyond commit", func(b []byte) { binary.BigEndian.PutUint32(b[frame:], lock+100) }, "beyond the file's commit"},
		{"no page number", func(b []byte) { binary.BigEndian.PutUint32(b[frame:], 0) }, "page number required"},
		{"unknown flag", func(b []byte) { b[frame+5] |= 0x10 }, "flags"},
		{"huge block", func(b []byte) { binary.BigEndian.PutUint32(b[frame+6:], 1<<30) }, "LZ4 block of"},
		{"short block", func(b []byte) { binary.BigEndian.PutUint32(b[frame+6:], 7) }, ""}, // then a frame out of step
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(data)
			tc.patch(bad)
			got := readLTX(bad, readOpts{})
			if got.err == nil || !strings.Contains(got.err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", got.err, tc.want)
			}
			if len(got.pages) > 0 {
				t.Fatalf("%d pages written", len(got.pages))
			}
		})
	}
}

// A damaged commit in a snapshot's header (proved wrong only by the file
// checksum at the end) fails the read without reserving memory for the
// pages it claims: 2^32-1 pages were 32 GiB of checksums before the reader
// allocated them as pages arrive (pageSums).
func TestLTXReaderDamagedCommitCostsNoMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	f := ltxFile{name: "snapshot", pageSize: 4096, snapshot: true, noSum: true, pgnos: seq(1, 20), kinds: []string{"text"}}
	data, _ := f.encode(t, r)
	for _, commit := range []uint32{1 << 31, math.MaxUint32} {
		bad := bytes.Clone(data)
		binary.BigEndian.PutUint32(bad[12:], commit)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := readLTX(bad, readOpts{})
		runtime.ReadMemStats(&after)
		if got.err == nil {
			t.Fatalf("commit %d: no error", commit)
		}
		// The pages themselves (20), the writer's batches and chunks.
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
			t.Fatalf("commit %d: reading a %d-byte file allocated %d MiB", commit, len(data), n>>20)
		}
	}
}

// On a real replica, a flipped byte in the snapshot fails the restore with
// an error naming the file.
func TestRestoreFileNamesDamagedFile(t *testing.T) {
	replica, txids := replicate(t)
	ctx := context.Background()
	client := lsfile.NewReplicaClient(replica)
	plan, err := litestream.CalcRestorePlan(ctx, client, txids[len(txids)-1], time.Time{}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	f := client.LTXFilePath(plan[0].Level, plan[0].MinTXID, plan[0].MaxTXID)
	orig, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(f, orig, 0o644)
	name := filepath.Base(f)
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"header timestamp", 33},
		{"header commit", 12},
		{"first page header", ltx.HeaderSize + 1},
		{"first size", ltx.HeaderSize + 8},
		{"page data", len(orig) / 3},
		{"page index", len(orig) - ltx.TrailerSize - 10},
		{"post-apply checksum", len(orig) - ltx.TrailerSize + 1},
		{"file checksum", len(orig) - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(orig)
			bad[tc.at] ^= 0x20
			if err := os.WriteFile(f, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "db")
			err := restoreFile(ctx, client, txids[len(txids)-1], out)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v, want one naming %s", err, name)
			}
			t.Log(err)
		})
	}
}
