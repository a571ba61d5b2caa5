package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferryproject/ferry/internal/benchdata"
)

// serve --help quotes the caps of the synthetic bench files; keep it true.
func TestServeHelpBenchCaps(t *testing.T) {
	help := strings.Join(strings.Fields(serveHelp), " ")
	for _, s := range []string{
		"bulk " + benchdata.FormatSize(benchdata.MaxBulkSize),
		fmt.Sprintf("small %dx%s", benchdata.MaxSmallCount, benchdata.FormatSize(benchdata.MaxSmallSize)),
		fmt.Sprintf("parallel %dx%s", benchdata.MaxParallelCount, benchdata.FormatSize(benchdata.MaxParallelSize)),
	} {
		if !strings.Contains(help, s) {
			t.Errorf("serve --help does not say %q", s)
		}
	}
}
