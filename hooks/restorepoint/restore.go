package restorepoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/pierrec/lz4/v4"
	"github.com/superfly/ltx"
)

// restoreFile writes the database as of txid, read from client, into the
// new file path. It is the restore check's own restore, built on
// Litestream's restore plan and its own LTX reader (ltxReader, which checks
// what ltx.Decoder checks; ltx.Decoder itself reads old-format files), and
// proves what Litestream's Restore proves:
//
//   - the plan is Litestream's (CalcRestorePlan): the newest snapshot at or
//     before txid, then the files that extend it to txid exactly;
//   - every file's header is valid, its page size matches, its TXIDs follow
//     on from the previous file, and its file checksum (and a snapshot's
//     post-apply checksum) is right; a damaged file fails the restore with
//     an error naming it;
//   - every page 1..commit is present (the lock page excepted, never
//     stored) and the rolling checksum of the restored pages equals the
//     post-apply checksum Litestream recorded for txid, unless the last file
//     says it carries no checksums (Litestream skips it too).
//
// It differs from litestream.Replica.Restore in how, not what: Restore
// merges the files into a new LTX stream (LZ4 compression, CRC64) through a
// pipe and decodes that stream again page by page (4 KiB writes), then
// fsyncs; restoreFile reads each file in 4 MiB chunks, decompresses and
// checksums its pages on one goroutine per core (the CRC64s of batches of
// pages combined in file order, crc64Combine), applies them in plan order,
// newest last, in 1 MiB writes on a writer goroutine, and does not fsync
// (the file is read back by this process and removed). Measured on a 1 GiB
// database (2 cores): 22.8 s for Restore alone; restoreFile 0.65-0.75 s
// when the page cache has memory at hand, 5-6 s in restorepoint-bench,
// where the Litestream daemon writes its own snapshot meanwhile and the
// writes into the page cache alone take about 3 s of CPU (was 6.5 s there
// with ltx.Decoder).
func restoreFile(ctx context.Context, client litestream.ReplicaClient, txid ltx.TXID, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for attempt := 0; ; attempt++ {
		infos, err := litestream.CalcRestorePlan(ctx, client, txid, time.Time{}, quietLogger())
		if err != nil {
			return fmt.Errorf("restore plan: %w", err)
		}
		err = applyPlan(ctx, client, infos, txid, f)
		if err == nil {
			return f.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Litestream compacts and deletes files while it runs: a file of
		// the plan may be gone before it is read. Plan again, as
		// Litestream's restore does.
		if !errors.Is(err, os.ErrNotExist) || attempt >= 3 {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
}

func applyPlan(ctx context.Context, client litestream.ReplicaClient, infos []*ltx.FileInfo, txid ltx.TXID, f *os.File) error {
	if len(infos) == 0 {
		return fmt.Errorf("empty restore plan")
	}
	if last := infos[len(infos)-1].MaxTXID; last != txid {
		return fmt.Errorf("the restore plan ends at TXID %s, not %s", last, txid)
	}
	for _, info := range infos {
		if info.Size < ltx.HeaderSize {
			return fmt.Errorf("invalid ltx file %s: %d bytes", ltxName(info), info.Size)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	files := prefetch(ctx, client, infos)
	defer files.close()

	w := newPageWriter(ctx, f)
	defer w.abort()

	var prev ltx.Header
	var trailer ltx.Trailer
	var pageSize, lockPgno uint32
	for i, info := range infos {
		rd, err := files.get(i)
		if err != nil {
			return fmt.Errorf("open %s: %w", ltxName(info), err)
		}
		lr := newLTXReader(rd, w)
		if err := lr.readHeader(); err != nil {
			rd.Close()
			return fmt.Errorf("%s: header: %w", ltxName(info), err)
		}
		hdr := lr.hdr
		switch {
		case hdr.MinTXID != info.MinTXID || hdr.MaxTXID != info.MaxTXID:
			err = fmt.Errorf("its header says TXIDs %s-%s", hdr.MinTXID, hdr.MaxTXID)
		case i == 0 && !hdr.IsSnapshot():
			err = fmt.Errorf("the restore plan does not start with a snapshot")
		case i > 0 && hdr.PageSize != pageSize:
			err = fmt.Errorf("page size %d, the snapshot's is %d", hdr.PageSize, pageSize)
		case i > 0 && !ltx.IsContiguous(prev.MaxTXID, hdr.MinTXID, hdr.MaxTXID):
			err = fmt.Errorf("does not follow on from TXID %s", prev.MaxTXID)
		}
		if err != nil {
			rd.Close()
			return fmt.Errorf("%s: %w", ltxName(info), err)
		}
		if i == 0 {
			pageSize, lockPgno = hdr.PageSize, hdr.LockPgno()
			w.start(pageSize, !hdr.NoChecksum())
		}
		trailer, err = readFile(lr, w, lockPgno)
		rd.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", ltxName(info), err)
		}
		prev = hdr
	}
	sums, err := w.finish()
	if err != nil {
		return err
	}

	commit := prev.Commit
	if err := f.Truncate(int64(commit) * int64(pageSize)); err != nil {
		return err
	}
	var sum ltx.Checksum
	for pgno := uint32(1); pgno <= commit; pgno++ {
		if pgno == lockPgno {
			continue
		}
		s := sums.get(pgno)
		if s == 0 {
			return fmt.Errorf("page %d of %d is in none of the files of the restore plan", pgno, commit)
		}
		sum ^= s
	}
	sum |= ltx.ChecksumFlag
	if !prev.NoChecksum() && !w.sumPages {
		// The last file records a checksum but the snapshot did not, so
		// the writer kept none: read the restored pages back.
		if sum, err = restoredChecksum(f, pageSize, commit, lockPgno); err != nil {
			return err
		}
	}
	if !prev.NoChecksum() && sum != trailer.PostApplyChecksum {
		return fmt.Errorf("the restored pages' checksum %s differs from the post-apply checksum %s Litestream recorded for TXID %s",
			sum, trailer.PostApplyChecksum, prev.MaxTXID)
	}
	return nil
}

// readFile hands every page of the file whose header lr has read to w and
// checks the file checksum (and a snapshot's post-apply checksum): with lr
// for the block format, with ltx.Decoder for the old one.
func readFile(lr *ltxReader, w *pageWriter, lockPgno uint32) (ltx.Trailer, error) {
	err := lr.readPages(lockPgno)
	if !errors.Is(err, errOldFormat) {
		return lr.trailer, err
	}
	dec, err := lr.oldFormat()
	if err != nil {
		return ltx.Trailer{}, err
	}
	if err := decodePages(dec, w, lockPgno); err != nil {
		return ltx.Trailer{}, err
	}
	if err := dec.Close(); err != nil {
		return ltx.Trailer{}, err
	}
	return dec.Trailer(), nil
}

func ltxName(info *ltx.FileInfo) string {
	return fmt.Sprintf("ltx file L%d %s", info.Level, ltx.FormatFilename(info.MinTXID, info.MaxTXID))
}

// restoredChecksum is the rolling checksum of pages 1..commit of f, the
// lock page excepted.
func restoredChecksum(f *os.File, pageSize, commit, lockPgno uint32) (ltx.Checksum, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, int64(commit)*int64(pageSize)), batchBytes)
	h := ltx.NewHasher()
	data := make([]byte, pageSize)
	var sum ltx.Checksum
	for pgno := uint32(1); pgno <= commit; pgno++ {
		if _, err := io.ReadFull(r, data); err != nil {
			return 0, fmt.Errorf("read back page %d: %w", pgno, err)
		}
		if pgno != lockPgno {
			sum ^= ltx.ChecksumPageWithHasher(h, pgno, data)
		}
	}
	return sum | ltx.ChecksumFlag, nil
}

// decodePages hands every page of dec to w.
func decodePages(dec *ltx.Decoder, w *pageWriter, lockPgno uint32) error {
	for {
		b, err := w.batch()
		if err != nil {
			return err
		}
		for b.n < b.cap {
			var ph ltx.PageHeader
			err := dec.DecodePage(&ph, b.page(b.n))
			if err == io.EOF {
				w.send(b)
				return nil
			} else if err != nil {
				w.send(b)
				return err
			}
			if ph.Pgno == lockPgno {
				w.send(b)
				return fmt.Errorf("holds the lock page %d", ph.Pgno)
			}
			b.pgnos[b.n] = ph.Pgno
			b.n++
		}
		w.send(b)
	}
}

// pageBatch is up to cap pages of one LTX file, in file order. Either its
// pages come decoded (decodePages, done nil) or it holds the frames of a
// chunk for a worker to decode (ltxReader, decodeBatch).
type pageBatch struct {
	size  int
	cap   int
	n     int
	pgnos []uint32
	data  []byte

	// Frames to decode: where each starts in raw.buf.
	raw    *rawChunk
	frames []uint32
	// summed: the worker computes each page's checksum (sums) and their
	// XOR (xor); shift is Z^size (see crc64Combine).
	summed bool
	shift  *gf2Matrix
	sums   []ltx.Checksum
	xor    ltx.Checksum
	// crc is the CRC64 of the frames' hashed bytes (hashed of them), from
	// zero.
	crc    uint64
	hashed int64
	err    error
	done   chan struct{} // closed once decoded

	eof chan fileSums // not pages: the end of a file, for the writer to answer
}

func (b *pageBatch) page(i int) []byte { return b.data[i*b.size : (i+1)*b.size] }

func (b *pageBatch) reset() {
	b.n, b.raw, b.summed, b.shift, b.xor, b.crc, b.hashed, b.err, b.done = 0, nil, false, nil, 0, 0, 0, nil, nil
}

// fileSums is what the writer folded from one file's batches.
type fileSums struct {
	crc    uint64 // CRC64 of the file's page frames, as ltx.Decoder hashes them
	hashed int64
	xor    ltx.Checksum // XOR of the page checksums, when summed
	err    error
}

// pageWriter writes pages on its own goroutine, in file order, while its
// workers (one per core) decode the LTX files' pages (decodeBatch), so that
// reading, decompressing, checksumming and writing use every core.
//
// It checksums each page only when the snapshot tracks checksums
// (sumPages). Litestream v0.5.x writes every LTX file with
// HeaderFlagNoChecksum, so there is no post-apply checksum to compare with,
// and a CRC64 pass over the whole database was the writer's main cost for
// nothing; the writer then only records which pages it wrote (present).
type pageWriter struct {
	ctx context.Context
	// put writes a batch's pages (to f, in runs of consecutive pages).
	put      func(b *pageBatch) error
	f        *os.File
	sumPages bool
	free     chan *pageBatch
	full     chan *pageBatch // to the writer, in file order
	work     chan *pageBatch // to the workers
	chunks   chan *rawChunk
	done     chan struct{}
	failed   chan struct{} // closed when err is set
	// Written by the goroutine, read after done (err: after failed).
	sums pageSums // per page: 0 = not written, else its checksum or present
	err  error
	once sync.Once
	// Sizes, set before start; tests make them small.
	batchPages int // pages per batch (default batchBytes of pages)
	chunkSize  int // bytes per chunk (default chunkBytes; at least a frame)
	// The current file's, folded by the writer from its batches.
	file fileSums
}

func newPageWriter(ctx context.Context, f *os.File) *pageWriter {
	w := &pageWriter{ctx: ctx, f: f, done: make(chan struct{}), failed: make(chan struct{})}
	w.put = w.writeRuns
	return w
}

// batchBytes is how much one write covers.
const batchBytes = 1 << 20

// present marks a page written but not checksummed (sumPages false).
const present ltx.Checksum = 1

func (w *pageWriter) start(pageSize uint32, sumPages bool) {
	n := w.batchPages
	if n <= 0 {
		n = max(1, batchBytes/int(pageSize))
	}
	if w.chunkSize <= 0 {
		w.chunkSize = chunkBytes
	}
	w.chunkSize = max(w.chunkSize, frameHead+lz4.CompressBlockBound(int(pageSize)))
	workers := min(max(1, runtime.GOMAXPROCS(0)), 8)
	w.sumPages = sumPages
	nb, nc := 2*workers+4, workers+2
	w.free = make(chan *pageBatch, nb)
	w.full = make(chan *pageBatch, nb+1)
	w.work = make(chan *pageBatch, nb)
	w.chunks = make(chan *rawChunk, nc)
	for range nb {
		w.free <- &pageBatch{size: int(pageSize), cap: n, pgnos: make([]uint32, n), data: make([]byte, n*int(pageSize)),
			frames: make([]uint32, n), sums: make([]ltx.Checksum, n)}
	}
	for range nc {
		w.chunks <- &rawChunk{buf: make([]byte, w.chunkSize), pool: w.chunks}
	}
	for range workers {
		go func() {
			for b := range w.work {
				decodeBatch(b)
			}
		}()
	}
	go w.run()
}

func (w *pageWriter) run() {
	defer close(w.done)
	h := ltx.NewHasher()
	for b := range w.full {
		if b.eof != nil {
			s := w.file
			s.err = w.err
			b.eof <- s
			w.file = fileSums{}
			continue
		}
		if b.done != nil {
			<-b.done
		}
		if w.err == nil {
			err := b.err
			if err == nil {
				err = w.write(h, b)
			}
			if err != nil {
				w.err = err
				close(w.failed)
			} else {
				w.file.crc = crc64Combine(w.file.crc, b.crc, b.hashed)
				w.file.hashed += b.hashed
				w.file.xor ^= b.xor
			}
		}
		b.reset()
		w.free <- b
	}
}

func (w *pageWriter) write(h hash.Hash64, b *pageBatch) error {
	var pg [4]byte
	for i := 0; i < b.n; i++ {
		pgno := b.pgnos[i]
		switch {
		case b.summed:
			w.sums.set(pgno, b.sums[i])
		case !w.sumPages:
			w.sums.set(pgno, present)
		default:
			h.Reset()
			pg[0], pg[1], pg[2], pg[3] = byte(pgno>>24), byte(pgno>>16), byte(pgno>>8), byte(pgno)
			h.Write(pg[:])
			h.Write(b.page(i))
			w.sums.set(pgno, ltx.ChecksumFlag|ltx.Checksum(h.Sum64()))
		}
	}
	return w.put(b)
}

// writeRuns writes b's pages to w.f, one write per run of consecutive
// pages (a snapshot's batch is one run, unless it spans the lock page).
func (w *pageWriter) writeRuns(b *pageBatch) error {
	for i := 0; i < b.n; {
		j := i + 1
		for j < b.n && b.pgnos[j] == b.pgnos[j-1]+1 {
			j++
		}
		off := int64(b.pgnos[i]-1) * int64(b.size)
		if _, err := w.f.WriteAt(b.data[i*b.size:j*b.size], off); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// batch returns an empty batch to fill.
func (w *pageWriter) batch() (*pageBatch, error) {
	select {
	case b := <-w.free:
		return b, nil
	case <-w.failed:
		return nil, w.err
	case <-w.ctx.Done():
		return nil, w.ctx.Err()
	}
}

// chunk returns a chunk to read into.
func (w *pageWriter) chunk() (*rawChunk, error) {
	select {
	case c := <-w.chunks:
		return c, nil
	case <-w.failed:
		return nil, w.err
	case <-w.ctx.Done():
		return nil, w.ctx.Err()
	}
}

// send hands a filled batch of decoded pages to the writer (an empty one
// goes back).
func (w *pageWriter) send(b *pageBatch) {
	if b.n == 0 {
		w.free <- b
		return
	}
	w.full <- b
}

// dispatch hands a batch of frames to the workers and, in file order, to
// the writer.
func (w *pageWriter) dispatch(b *pageBatch) {
	b.done = make(chan struct{})
	w.work <- b
	w.full <- b
}

// discard puts back a batch that was not sent.
func (w *pageWriter) discard(b *pageBatch) {
	if b.raw != nil {
		b.raw.release()
	}
	b.reset()
	w.free <- b
}

// fileSums waits for the writer to have written every batch sent so far
// and returns what it folded from them since the last call.
func (w *pageWriter) fileSums() (fileSums, error) {
	ch := make(chan fileSums, 1)
	w.full <- &pageBatch{eof: ch}
	s := <-ch
	return s, s.err
}

// finish waits for every write and returns the pages' checksums.
func (w *pageWriter) finish() (*pageSums, error) {
	if w.full == nil {
		return nil, fmt.Errorf("no pages")
	}
	w.stop()
	return &w.sums, w.err
}

func (w *pageWriter) abort() {
	if w.full == nil {
		return
	}
	w.stop()
}

func (w *pageWriter) stop() {
	w.once.Do(func() {
		close(w.work)
		close(w.full)
	})
	<-w.done
}

// prefetcher opens the plan's files ahead of the decoder: the small ones
// (everything but, usually, the snapshot) are read whole into memory a few
// at a time, so that an object store's round trips overlap and no stream
// sits idle while the snapshot is decoded.
type prefetcher struct {
	ctx    context.Context
	client litestream.ReplicaClient
	infos  []*ltx.FileInfo
	slots  []chan fetched
	window chan struct{}
}

type fetched struct {
	rd  io.ReadCloser
	err error
}

const (
	prefetchWindow = 8
	prefetchMax    = 16 << 20 // bigger files are streamed
)

func prefetch(ctx context.Context, client litestream.ReplicaClient, infos []*ltx.FileInfo) *prefetcher {
	p := &prefetcher{ctx: ctx, client: client, infos: infos, window: make(chan struct{}, prefetchWindow)}
	p.slots = make([]chan fetched, len(infos))
	for i := range p.slots {
		p.slots[i] = make(chan fetched, 1)
	}
	go func() {
		for i, info := range infos {
			if info.Size > prefetchMax {
				continue // streamed when its turn comes
			}
			select {
			case p.window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				b, err := io.ReadAll(newLTXStream(ctx, client, info))
				if err != nil {
					p.slots[i] <- fetched{err: err}
					return
				}
				p.slots[i] <- fetched{rd: io.NopCloser(bytes.NewReader(b))}
			}()
		}
	}()
	return p
}

// get returns file i's contents, in plan order.
func (p *prefetcher) get(i int) (io.ReadCloser, error) {
	info := p.infos[i]
	if info.Size > prefetchMax {
		// Unbuffered: ltxReader reads in large chunks itself.
		return newLTXStream(p.ctx, p.client, info), nil
	}
	select {
	case r := <-p.slots[i]:
		<-p.window
		return r.rd, r.err
	case <-p.ctx.Done():
		return nil, p.ctx.Err()
	}
}

// close is for the caller's defer; the context's cancellation stops the
// fetches still running.
func (p *prefetcher) close() {}

// ltxStream reads one LTX file and, when a stream breaks before the file's
// size, opens it again from where it broke (up to 3 times per file, with a
// short pause): a long download from an object store may be cut. A file
// that no longer exists is not retried: the caller plans again.
type ltxStream struct {
	ctx     context.Context
	client  litestream.ReplicaClient
	info    *ltx.FileInfo
	rc      io.ReadCloser
	off     int64
	retries int
}

func newLTXStream(ctx context.Context, client litestream.ReplicaClient, info *ltx.FileInfo) *ltxStream {
	return &ltxStream{ctx: ctx, client: client, info: info}
}

func (s *ltxStream) Read(p []byte) (int, error) {
	for {
		if s.rc == nil {
			rc, err := s.client.OpenLTXFile(s.ctx, s.info.Level, s.info.MinTXID, s.info.MaxTXID, s.off, 0)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) || s.ctx.Err() != nil {
					return 0, err
				}
				if rerr := s.pause(err); rerr != nil {
					return 0, rerr
				}
				continue
			}
			s.rc = rc
		}
		n, err := s.rc.Read(p)
		s.off += int64(n)
		if err == nil || (err == io.EOF && s.off >= s.info.Size) {
			return n, err
		}
		if s.ctx.Err() != nil {
			return n, s.ctx.Err()
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.rc.Close()
		s.rc = nil
		if rerr := s.pause(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (s *ltxStream) pause(err error) error {
	s.retries++
	if s.retries > 3 {
		return fmt.Errorf("%s at byte %d: %w", ltxName(s.info), s.off, err)
	}
	t := time.NewTimer(time.Duration(s.retries) * 250 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *ltxStream) Close() error {
	if s.rc == nil {
		return nil
	}
	err := s.rc.Close()
	s.rc = nil
	return err
}
