package safefs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ferryproject/ferry/internal/safefs"
)

func ExampleValidatePath() {
	for _, p := range []string{"docs/report.pdf", "../etc/passwd", "NUL.tar.gz", "invoice\u202efdp.exe"} {
		err := safefs.ValidatePath(p)
		fmt.Println(errors.Is(err, safefs.ErrInvalidName), err)
	}
	// Output:
	// false <nil>
	// true invalid name "../etc/passwd": component is . or ..
	// true invalid name "NUL.tar.gz": windows reserved device name
	// true invalid name "invoice\u202efdp.exe": contains invisible or bidi character U+202E
}

func ExamplePrintable() {
	fmt.Println(safefs.Printable("report.pdf"))
	fmt.Println(safefs.Printable("evil\x1b]0;owned\x07"))
	// Output:
	// report.pdf
	// "evil\x1b]0;owned\a"
}

// A client receives into NAME.ferry-part and publishes only after checking
// what it got; the deferred Discard removes the part on every early return.
func ExampleCreatePartial() {
	dir, err := os.MkdirTemp("", "ferry-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	dest, err := os.OpenRoot(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dest.Close()

	p, err := safefs.CreatePartial(dest, "hello.txt", false)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Discard()
	if _, err := io.Copy(p, strings.NewReader("hello\n")); err != nil {
		fmt.Println(err)
		return
	}
	// ... verify the announced size and the digest here ...
	if err := p.Publish(safefs.PublishOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := dest.ReadFile("hello.txt")
	fmt.Printf("%q\n", b)

	// A second download of the same name does not overwrite it.
	p2, _ := safefs.CreatePartial(dest, "hello.txt", false)
	defer p2.Discard()
	fmt.Println(errors.Is(p2.Publish(safefs.PublishOptions{}), safefs.ErrExists))
	// Output:
	// "hello\n"
	// true
}
