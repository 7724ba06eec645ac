package state

import (
	"os"

	"github.com/oci-run/oci-run/pkg/proc"
)

func readSelfStart() (uint64, error) {
	st, err := proc.ReadStat(os.Getpid())
	return st.StartTime, err
}
