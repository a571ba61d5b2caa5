package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Conditions records what a bench ran on, so that a result can be read, and
// repeated, with its circumstances. Fields that could not be read are empty.
type Conditions struct {
	Kernel      string `json:"kernel"`                  // uname -srvm
	GoVersion   string `json:"go"`                      // runtime.Version
	QUICGo      string `json:"quic_go"`                 // module version of github.com/quic-go/quic-go
	Ferry       string `json:"ferry"`                   // main module version ("(devel)" from a checkout)
	CPUs        int    `json:"cpus"`                    // runtime.NumCPU
	GOMAXPROCS  int    `json:"gomaxprocs"`              // of the client process
	CPUModel    string `json:"cpu_model"`               // from /proc/cpuinfo
	RmemMax     string `json:"rmem_max"`                // net.core.rmem_max: caps UDP (QUIC) receive buffers
	WmemMax     string `json:"wmem_max"`                // net.core.wmem_max
	TCPRmem     string `json:"tcp_rmem"`                // net.ipv4.tcp_rmem: min, default, max
	TCPWmem     string `json:"tcp_wmem"`                // net.ipv4.tcp_wmem
	TCPCC       string `json:"tcp_cc"`                  // net.ipv4.tcp_congestion_control (the client's namespace)
	ServerTCPCC string `json:"server_tcp_cc,omitempty"` // the server namespace's, when it differs from the client's
	// The server namespace's TCP buffers (emulated link): its send buffer
	// caps what TCP has in flight on a long path.
	ServerTCPRmem string `json:"server_tcp_rmem,omitempty"`
	ServerTCPWmem string `json:"server_tcp_wmem,omitempty"`
	MTU           int    `json:"mtu"`  // of the interface the traffic crosses
	GSO           string `json:"gso"`  // QUIC's UDP segmentation offload: "on", or "off (QUIC_GO_DISABLE_GSO)"
	ECN           string `json:"ecn"`  // QUIC's ECN: "on", or "off (QUIC_GO_DISABLE_ECN)"
	Link          string `json:"link"` // the emulated link's spec, or "loopback"
}

// CollectConditions reads the conditions of this process and machine. The
// sysctls under /proc/sys/net are those of the calling thread's network
// namespace; MTU and Link are left for the caller, who knows the path.
func CollectConditions() Conditions {
	c := Conditions{
		GoVersion:  runtime.Version(),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel(),
		RmemMax:    sysctl("net/core/rmem_max"),
		WmemMax:    sysctl("net/core/wmem_max"),
		TCPRmem:    sysctl("net/ipv4/tcp_rmem"),
		TCPWmem:    sysctl("net/ipv4/tcp_wmem"),
		TCPCC:      sysctl("net/ipv4/tcp_congestion_control"),
		GSO:        envSwitch("QUIC_GO_DISABLE_GSO"),
		ECN:        envSwitch("QUIC_GO_DISABLE_ECN"),
	}
	c.Kernel = kernel()
	if bi, ok := debug.ReadBuildInfo(); ok {
		c.Ferry = bi.Main.Version
		for _, m := range bi.Deps {
			if m.Path == "github.com/quic-go/quic-go" {
				c.QUICGo = m.Version
				if m.Replace != nil {
					c.QUICGo += " => " + m.Replace.Path + " " + m.Replace.Version
				}
			}
		}
	}
	return c
}

// Sysctl reads a value under /proc/sys, such as "net/core/rmem_max", with
// runs of white space folded to one space; "" if it cannot be read.
func sysctl(name string) string {
	data, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(data)), " ")
}

// Sysctl is sysctl for callers outside the package (the server side of an
// emulated link, read from within its namespace).
func Sysctl(name string) string { return sysctl(name) }

// InterfaceMTU reads the MTU of a network interface from sysfs, 0 if unknown.
func InterfaceMTU(name string) int {
	data, err := os.ReadFile("/sys/class/net/" + name + "/mtu")
	if err != nil {
		return 0
	}
	var n int
	for _, r := range strings.TrimSpace(string(data)) {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// envSwitch reports quic-go's reading of a QUIC_GO_DISABLE_* variable: it
// turns the feature off when it parses as true.
func envSwitch(name string) string {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "t", "true":
		return "off (" + name + ")"
	}
	return "on"
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// RaiseTCPBufferMax raises the maximum of the TCP buffer sysctl name
// ("net/ipv4/tcp_rmem" or "net/ipv4/tcp_wmem": min, default, max) of the
// calling thread's network namespace to at least bytes, keeping the other
// two values. It returns the setting in force afterwards.
func RaiseTCPBufferMax(name string, bytes int64) (string, error) {
	cur := strings.Fields(sysctl(name))
	if len(cur) != 3 {
		return "", fmt.Errorf("read %s: %q is not three numbers", name, cur)
	}
	max, err := strconv.ParseInt(cur[2], 10, 64)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	if max >= bytes {
		return strings.Join(cur, " "), nil
	}
	v := fmt.Sprintf("%s %s %d", cur[0], cur[1], bytes)
	if err := os.WriteFile("/proc/sys/"+name, []byte(v), 0); err != nil {
		return "", fmt.Errorf("raise %s: %w", name, err)
	}
	return sysctl(name), nil
}
