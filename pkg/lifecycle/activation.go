package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// activationFDs returns how many descriptors systemd's socket activation
// passed to this process (LISTEN_FDS, from 3 on), or 0 when the variables
// are absent or meant for another process (LISTEN_PID is not ours).
func activationFDs() int {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// withListenEnv returns the configuration raw with LISTEN_FDS=n and
// LISTEN_PID=1 added to process.env: the container's process is the one
// the activated sockets are for. It edits the JSON as a tree (numbers
// kept as written) so that nothing else of the configuration changes.
func withListenEnv(raw []byte, n int) ([]byte, error) {
	var cfg map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	p, ok := cfg["process"].(map[string]any)
	if !ok {
		// No process: nothing will run to use the sockets.
		return raw, nil
	}
	env, _ := p["env"].([]any)
	p["env"] = append(env, "LISTEN_FDS="+strconv.Itoa(n), "LISTEN_PID=1")
	return json.Marshal(cfg)
}
