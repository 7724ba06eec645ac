package limits

import (
	"os"
	"strconv"
	"strings"
)

// HugePageSizes lists this machine's huge page sizes as cgroup files name
// them ("2MB", "1GB"), from /sys/kernel/mm/hugepages/hugepages-SIZEkB.
func HugePageSizes() []string {
	ents, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		v, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(v, "kB"))
		if err != nil || !strings.HasSuffix(v, "kB") {
			continue
		}
		switch {
		case kb >= 1<<20:
			out = append(out, strconv.Itoa(kb>>20)+"GB")
		case kb >= 1<<10:
			out = append(out, strconv.Itoa(kb>>10)+"MB")
		default:
			out = append(out, strconv.Itoa(kb)+"KB")
		}
	}
	return out
}
