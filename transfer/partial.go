package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
)

// TODO(safefs): this stand-in mirrors the planned safefs.CreatePartial API
// (CreatePartial, Write, File, Size, Publish, Discard, Keep) so that Get can
// be tested before it lands; switch to safefs and delete this file then.

// partSuffix ends the name of a partial file.
const partSuffix = ".ferry-part"

type publishOptions struct {
	Replace bool
	Mode    fs.FileMode
	ModTime time.Time
}

type partial struct {
	dest *os.Root
	name string
	f    *os.File
	size int64
}

func createPartial(dest *os.Root, name string, resume bool) (*partial, error) {
	if err := safefs.ValidateName(name); err != nil {
		return nil, err
	}
	part := name + partSuffix
	flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if resume {
		if fi, err := dest.Lstat(part); err == nil {
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s is not a regular file: %w", safefs.Printable(part), safefs.ErrNotRegular)
			}
			flags = os.O_RDWR
		}
	} else if err := dest.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := dest.OpenFile(part, flags, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = safefs.ErrNotRegular
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &partial{dest: dest, name: name, f: f, size: fi.Size()}, nil
}

func (p *partial) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.size += int64(n)
	return n, err
}

func (p *partial) File() *os.File { return p.f }
func (p *partial) Size() int64    { return p.size }

func (p *partial) Publish(o publishOptions) error {
	part := p.name + partSuffix
	err := p.f.Chmod(o.Mode)
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !o.ModTime.IsZero() {
		err = p.dest.Chtimes(part, o.ModTime, o.ModTime)
	}
	if err != nil {
		p.dest.Remove(part)
		return err
	}
	if o.Replace {
		return p.dest.Rename(part, p.name)
	}
	if err := p.dest.Link(part, p.name); err != nil {
		p.dest.Remove(part)
		if errors.Is(err, fs.ErrExist) {
			return safefs.ErrExists
		}
		return err
	}
	return p.dest.Remove(part)
}

func (p *partial) Discard() {
	p.f.Close()
	p.dest.Remove(p.name + partSuffix)
}

func (p *partial) Keep() { p.f.Close() }
