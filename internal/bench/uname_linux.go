package bench

import (
	"strings"
	"syscall"
)

// kernel returns what uname -srvm prints.
func kernel() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "linux"
	}
	return strings.Join([]string{cstr(u.Sysname[:]), cstr(u.Release[:]), cstr(u.Version[:]), cstr(u.Machine[:])}, " ")
}

// cstr converts a NUL-terminated utsname field.
func cstr[T int8 | uint8](b []T) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
