// Package safefs holds ferry's file-system defences: the one name rule that
// server and client share, safe opening and listing of served files beneath
// an [os.Root], terminal-safe display of names, and the client's
// "partial file, verify, then publish" writer.
//
// Every name that crosses the wire is checked by [ValidatePath] before any
// file-system call, and every file-system call then goes through an
// [os.Root] as defence in depth. The rule is deliberately the same on every
// operating system: a name that a Windows peer would mangle or treat as a
// device is refused on Linux too, so a Linux server cannot hand a Windows
// client a dangerous name and vice versa.
//
// os.Root stops "..", absolute paths and escaping symlinks, but not hard
// links, device nodes, FIFOs or other file systems mounted inside the root;
// [OpenRegular] adds those checks on the opened descriptor, where they cannot
// race with a rename.
//
// Errors callers branch on are sentinels ([ErrInvalidName], [ErrNotFound],
// [ErrNotRegular], [ErrNotDir], [ErrAccessDenied], [ErrExists], [ErrLocked],
// [ErrPartChanged]) tested with
// [errors.Is]; the underlying system error stays in the chain.
package safefs

import (
	"errors"
)

// Sentinel errors. The transfer layer maps each to a protocol error code, so
// their meaning is part of the contract: do not merge or split them lightly.
var (
	// ErrInvalidName: the name breaks the ferry name rule. Every such error
	// is a *NameError carrying the reason.
	ErrInvalidName = errors.New("invalid name")
	// ErrNotFound: the name, or a directory on its way, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotRegular: the name exists but is not a regular file (a
	// directory, FIFO, device, socket, ...).
	ErrNotRegular = errors.New("not a regular file")
	// ErrNotDir: a directory was asked for and the name is something else.
	ErrNotDir = errors.New("not a directory")
	// ErrAccessDenied: the name exists but policy or permissions forbid it:
	// it escapes the root (through a symlink), is an absolute or looping
	// symlink, is a hard link or lies on another device when those are
	// refused, or the operating system denied access.
	ErrAccessDenied = errors.New("access denied")
	// ErrExists: publishing would overwrite an existing file.
	ErrExists = errors.New("file exists")
	// ErrLocked: another process (another ferry) is writing the part file.
	ErrLocked = errors.New("the part file is being written by another process")
	// ErrPartChanged: the part file's length is not what was written
	// through the Partial: something else wrote to it.
	ErrPartChanged = errors.New("the part file was changed by another writer")
)

// NameError reports a name that breaks the ferry name rule.
type NameError struct {
	Name   string // the offending name, as given (may hold hostile bytes)
	Reason string // why it was refused, lower-case, e.g. "component is .."
}

// Error quotes the name with [Printable], so printing the error can never
// inject control or bidi sequences into a terminal or a log.
func (e *NameError) Error() string {
	return "invalid name " + quoteAlways(e.Name) + ": " + e.Reason
}

// Unwrap returns [ErrInvalidName].
func (e *NameError) Unwrap() error { return ErrInvalidName }
